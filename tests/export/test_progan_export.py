"""Generators without batch norm (ProGAN's pixel-norm generators) through export, sampling and
evaluation, like BigGAN ones: no statistics bank, the truncation acting on z."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest
from tests.export.test_export_hub import BAD_INPUTS
from tests.training.test_progressive import tiny_progan_config
from tfbiggan import sampling, standing_stats
from tfbiggan.training import trainer as trainer_lib
from tfbiggan.training import workdir as workdir_lib

pytestmark = pytest.mark.slow
TRUNCATIONS = (0.4, 1.0)


def _command(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT))
    result = subprocess.run([sys.executable, "-m", *args], cwd=conftest.REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def progan_run(tmp_path_factory):
    """A 4-step ProGAN workdir and its module, exported by the command line."""
    root = tmp_path_factory.mktemp("progan")
    workdir, module = str(root / "run"), str(root / "module")
    trainer_lib.Trainer(tiny_progan_config(steps=4), workdir).train(progress=False)
    _command("export.export_hub", f"--workdir={workdir}", f"--output={module}")
    return workdir, module


def test_no_bank_is_collected_and_the_metadata_says_so(progan_run):
    _, module = progan_run
    loaded = tf.saved_model.load(module)
    assert loaded.batch_norm_statistics.numpy() == b"none"
    assert int(loaded.num_truncation_stats.numpy()) == 0 and int(loaded.step.numpy()) == 4
    generator, _, _ = workdir_lib.load_ema_generator(progan_run[0])
    assert standing_stats.collect_standing_statistics(generator, 1, 4) == []


def test_module_in_a_process_without_tfbiggan_equals_the_ema_generator(progan_run, tmp_path):
    workdir, module = progan_run
    generator, _, _ = workdir_lib.load_ema_generator(workdir)
    y = np.eye(10, dtype=np.float32)[[1, 4, 7]]
    zs = {t: sampling.truncated_z(3, generator.dim_z, t, seed=5, mode="hub")
          for t in TRUNCATIONS}
    np.savez(tmp_path / "inputs.npz", y=y, **{f"z_{t}": z for t, z in zs.items()})
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_hub as hub
        module = hub.load(sys.argv[1])
        data = np.load(sys.argv[2] + "/inputs.npz")
        out = {}
        for t in (0.4, 1.0):
            z, y = tf.constant(data[f"z_{t}"]), tf.constant(data["y"])
            out[f"call_{t}"] = module(z, y, t).numpy()
            out[f"sig_{t}"] = module.signatures["default"](
                z=z, y=y, truncation=tf.constant(t))["default"].numpy()
        out["modules"] = np.array([m for m in sys.modules if m.split(".")[0] == "tfbiggan"])
        np.savez(sys.argv[2] + "/outputs.npz", **out)
    """)
    (tmp_path / "client.py").write_text(script)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(tmp_path / "client.py"), module,
                             str(tmp_path)], cwd=str(tmp_path), env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = np.load(tmp_path / "outputs.npz")
    assert outputs["modules"].size == 0  # The client never imported tfbiggan.
    for t in TRUNCATIONS:
        expected = generator(zs[t], y, training=False).numpy()
        for kind in ("call", "sig"):
            np.testing.assert_allclose(outputs[f"{kind}_{t}"], expected, atol=1e-5)
    # The truncation acts on z: the two truncations give different images.
    assert np.abs(outputs["call_0.4"] - outputs["call_1.0"]).max() > 1e-3


@pytest.mark.parametrize("name,make,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_hostile_inputs_are_rejected(progan_run, name, make, message):
    del name
    loaded = tf.saved_model.load(progan_run[1])
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3, int(loaded.dim_z.numpy()))).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[[0, 3, 9]]
    z, y, t = make(z, y)
    message = message.replace("128", str(loaded.dim_z.numpy()))  # The BigGAN test's dim_z.
    for call in (lambda: loaded(z, y, np.float32(t)),
                 lambda: loaded.signatures["default"](z=tf.constant(z), y=tf.constant(y),
                                                      truncation=tf.constant(t, tf.float32))):
        with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError),
                           match=message):
            call()


def test_sample_and_evaluate_a_progan_workdir_and_its_module(progan_run, tmp_path):
    workdir, module = progan_run
    for source in (f"--workdir={workdir}", f"--module={module}"):
        grid = tmp_path / f"grid_{source[2:8]}.png"
        _command("tfbiggan.sample", source, "--classes=1,2", "--truncation=0.5,1.0", "--num=2",
                 f"--output={grid}")
        assert grid.stat().st_size > 0
        output = tmp_path / f"results_{source[2:8]}.json"
        _command("tfbiggan.evaluate", source, "--num_samples=60", "--batch_size=30",
                 f"--cache_dir={conftest.shared_cache_dir()}", f"--output={output}",
                 timeout=900)
        record = json.loads(output.read_text())
        assert record["feature_network"] == "digits" and record["step"] == 4
        for key in ("fid", "precision", "recall", "coverage", "variety"):
            assert np.isfinite(record["metrics"][key]) and np.isfinite(record["real"][key])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
