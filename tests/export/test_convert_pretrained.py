"""python -m export.convert_pretrained: the workdir, .keras, TF-Hub outputs and --verify."""

import json
import os
import subprocess
import sys
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbiggan.export import convert_pretrained
from tests import conftest
from tests.convert import tf1_modules, torch_writer
from tfbiggan.training import workdir as workdir_lib

pytestmark = pytest.mark.fixtures


def _nhwc(array):
    return array.transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def deep_archive(tmp_path_factory):
    """The hf_deep_res128_ch8 fixture as a BigGAN-deep TF1 Hub module, in a .tar.gz."""
    data = np.load(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.npz"))
    data = {key: data[key] for key in data.files}
    with open(conftest.fixture_path("biggan_deep_hub", "hf_deep_res128_ch8.json"),
              encoding="utf-8") as f:
        config = json.load(f)
    root = tmp_path_factory.mktemp("source")
    variables, bank = tf1_modules.deep_from_fixture(data)
    module = tf1_modules.write_deep_module(root / "module", variables, bank,
                                           [layer[0] for layer in config["layers"]])
    archive = root / "biggan-deep-128_1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in os.listdir(module):
            tar.add(os.path.join(module, name), arcname=name)
    return str(archive), data


@pytest.mark.slow
def test_deep_module_conversion_writes_every_output(deep_archive, tmp_path, capsys):
    archive, data = deep_archive
    output = tmp_path / "deep128"
    report = convert_pretrained.convert_pretrained(archive, str(output), verify=True)
    printed = capsys.readouterr().out
    # --verify: the source module (through hub.load) and the export, both within 1e-4.
    rows = report["verification"]
    assert [(row["compared"], row["truncation"]) for row in rows] == [
        ("source module", 0.4), ("source module", 1.0), ("exported module", 0.4),
        ("exported module", 1.0)]
    assert all(row["checked"] and row["max_abs_error"] < 1e-4 for row in rows), rows
    assert "verify: source module vs converted generator, truncation 0.4" in printed
    assert sorted(os.listdir(output)) == ["checkpoints", "config.json", "conversion.json",
                                          "generator.keras", "hub"]
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".deep128")]
    with open(output / "conversion.json", encoding="utf-8") as f:
        assert json.load(f)["source"] == archive
    # The workdir restores like a training run's.
    generator, step, payload = workdir_lib.load_ema_generator(str(output))
    assert step == 0 and payload["config"]["converted_from"]["source_format"] == "tf_hub_module"
    # The .keras generator.
    loaded = keras.saving.load_model(str(output / "generator.keras"))
    # The exported module serves the fixture's numbers through hub.load.
    import tensorflow_hub as hub  # pylint: disable=import-outside-toplevel
    module = hub.load(str(output / "hub"))
    assert int(module.num_truncation_stats.numpy()) == 51 and int(module.step.numpy()) == 0
    for truncation in (0.4, 1.0):
        z, expected = data[f"z_t{truncation}"], _nhwc(data[f"out_nchw_t{truncation}"])
        served = module.signatures["default"](
            z=tf.constant(z), y=tf.constant(data["y"]),
            truncation=tf.constant(truncation))["default"].numpy()
        np.testing.assert_allclose(served, expected, atol=1e-4, rtol=0)
        for model in (generator, loaded):
            out = model(z, data["y"], truncation=truncation).numpy()
            np.testing.assert_allclose(out, expected, atol=1e-4, rtol=0)
    # An existing output is not overwritten unless asked.
    with pytest.raises(ValueError, match="exists; choose a new --output or pass --overwrite"):
        convert_pretrained.convert_pretrained(archive, str(output))


def _pytorch_weights(tmp_path):
    data = np.load(conftest.fixture_path("biggan_pytorch", "bgp_res32_ch8.npz"))
    data = {key: data[key] for key in data.files}
    directory = tmp_path / "bgp32"
    directory.mkdir()
    for name, prefix in (("G_ema.pth", "G_after/"), ("D.pth", "D_after/")):
        torch_writer.write_zip(str(directory / name), {
            k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)})
    return str(directory), data


def test_failed_verification_writes_nothing(tmp_path):
    source, _ = _pytorch_weights(tmp_path)
    output = tmp_path / "out"
    with pytest.raises(convert_pretrained.VerificationError,
                       match=r"differs by more than -1: exported module at truncation 0.4"):
        convert_pretrained.convert_pretrained(source, str(output), verify=True, tolerance=-1.0,
                                              bank_batches=0)
    assert sorted(os.listdir(tmp_path)) == ["bgp32"]  # No output, no staging directory.


@pytest.mark.slow
def test_command_line_converts_biggan_pytorch_weights_with_its_discriminator(tmp_path):
    source, data = _pytorch_weights(tmp_path)
    output = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2",
               CUDA_VISIBLE_DEVICES="")
    command = [sys.executable, "-m", "export.convert_pretrained", f"--source={source}",
               f"--output={output}", "--verify", "--bank_batches=1", "--bank_batch_size=4"]
    result = subprocess.run(command, cwd=conftest.REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verify: exported module vs converted generator, truncation 1" in result.stdout
    assert "cannot run here (PyTorch without torch)" in result.stdout
    assert "discriminator.keras" in os.listdir(output)
    discriminator = keras.saving.load_model(str(output / "discriminator.keras"))
    logits = discriminator(_nhwc(data["x_nchw"]), data["y"]).numpy()
    np.testing.assert_allclose(logits, data["D_eval_out"][:, 0], rtol=1e-4, atol=1e-4)
    generator, _, _ = workdir_lib.load_ema_generator(str(output))
    np.testing.assert_allclose(generator(data["z"], data["y"]).numpy(),
                               _nhwc(data["G_eval_out_nchw"]), atol=1e-4, rtol=0)
    # A bad source: exit status 1 and the reason, no traceback.
    result = subprocess.run([sys.executable, "-m", "export.convert_pretrained",
                             f"--source={tmp_path / 'missing'}", f"--output={tmp_path / 'x'}"],
                            cwd=conftest.REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 1 and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
