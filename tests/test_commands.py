"""The real commands end to end on a tiny run from an image folder with named classes: quiet
start-up (no TensorFlow start-up or C++ lines unless -v is given), plain progress lines when
stderr is not a terminal, class names from the folders through config.json, the export and the
sample sheet, and output files with the usual permissions."""

import json
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import conftest
from tests.training import helpers

pytestmark = pytest.mark.slow

CLASS_NAMES = ["bag", "boot", "coat"]
# A C++ log line of TensorFlow / absl: "I0000 00:00:1796298076.082764    4773 cudart_stub.cc:31] "
# (tfbiggan's own absl lines have the same form but name a .py file).
CPP_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^ \]]+\.(cc|h|cpp|c):\d+\] ",
                      re.MULTILINE)
NOISE = ("absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard",
         "functional_saver", "Sharding callback", "signature_serialization", "unknown_",
         "INFO:tensorflow", "fingerprint", "Assets written")


def _env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_CONFIG", "TPU_NAME")}
    env["PYTHONPATH"] = str(conftest.REPO_ROOT)
    return env


def _command(args, umask=0o022, timeout=420):
    """Runs a command with `umask` as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, *args], cwd=conftest.REPO_ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout, check=False,
                          preexec_fn=lambda: os.umask(umask))


def assert_quiet(result):
    """No TensorFlow start-up line, no C++ log line and no error-level line."""
    output = result.stdout + result.stderr
    for noise in NOISE:
        assert noise not in output, (noise, output[-4000:])
    assert not CPP_LINE.search(output), output[-4000:]
    assert not re.search(r"^E\d{4}|\berror\b", output, re.MULTILINE | re.IGNORECASE), (
        output[-4000:])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Trains 2 tiny steps on an image folder with the classes bag, boot and coat."""
    root = tmp_path_factory.mktemp("commands")
    rng = np.random.default_rng(0)
    for name in CLASS_NAMES:
        (root / "images" / name).mkdir(parents=True)
        for index in range(2):
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / "images" / name / f"{index}.png")
    config = root / "fashion_folder.py"
    config.write_text(textwrap.dedent(f"""
        from tfbiggan.training.defaults import digits_config

        def get_config():
            c = digits_config()
            c.model.overrides.num_classes = 3
            c.data.pipeline.source = "folder"
            c.data.pipeline.path = {str(root / 'images')!r}
            c.data.pipeline.num_classes = 3
            return c
    """))
    workdir = root / "run"
    flags = [f for f in helpers.TINY_FLAGS if f != "--noprogress"]  # Progress on.
    result = _command(["-m", "tfbiggan.train", f"--config={config}", f"--workdir={workdir}",
                       "--config.training.steps=2", *flags])
    assert result.returncode == 0, result.stderr[-4000:]
    return root, workdir, result


def test_training_is_quiet_and_logs_plain_progress_lines(run):
    _, _, result = run
    assert_quiet(result)
    assert "\r" not in result.stderr  # No bar redrawn into a pipe.
    assert re.search(r"Training: 1/2 steps \(50%\).*d_loss=", result.stderr), result.stderr
    assert re.search(r"Training: 2/2 steps \(100%\)", result.stderr), result.stderr
    assert "Finished at step 2." in result.stderr


def test_class_names_reach_config_json_and_the_export_which_is_quiet_and_shareable(run):
    root, workdir, _ = run
    with open(workdir / "config.json", encoding="utf-8") as f:
        assert json.load(f)["class_names"] == CLASS_NAMES
    output = root / "module"
    result = _command(["-m", "export.export_hub", f"--workdir={workdir}",
                       f"--output={output}", "--bank_batches=1", "--bank_batch_size=4"])
    assert result.returncode == 0, result.stderr[-4000:]
    assert_quiet(result)
    assert result.stdout.splitlines() == [
        f"exported the EMA generator of step 2 (32x32, 3 classes) to {output}"]
    module = tf.saved_model.load(str(output))
    assert [name.decode() for name in module.class_names.numpy()] == CLASS_NAMES
    assert json.loads(module.config_json.numpy().decode())["config"]["data"]["pipeline"][
        "source"] == "folder"
    for directory, dirs, names in os.walk(output):
        assert os.stat(directory).st_mode & 0o777 == 0o755, directory
        for name in names:
            assert os.stat(os.path.join(directory, name)).st_mode & 0o777 == 0o644, name


def test_verbosity_brings_the_tensorflow_lines_back_and_samples_follow_the_umask(run):
    root, workdir, _ = run
    sheet = root / "samples.png"
    result = _command(["-m", "tfbiggan.sample", f"--workdir={workdir}", "--classes=0,1,2",
                       "--num=2", "--standing_batches=0", f"--output={sheet}", "-v", "0"],
                      umask=0o027)
    assert result.returncode == 0, result.stderr[-4000:]
    assert CPP_LINE.search(result.stderr), result.stderr[-4000:]  # TensorFlow's own lines.
    assert result.stdout.splitlines() == [f"wrote 6 samples to {sheet}"]
    assert os.stat(sheet).st_mode & 0o777 == 0o640
    picture = np.asarray(Image.open(sheet))
    assert picture.shape[0] == 3 * 32 and picture.shape[1] > 2 * 32  # 3 labelled rows.


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
