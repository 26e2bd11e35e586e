"""The exported TF-Hub-style module: values, interface, validation, atomicity and the CLI."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfbiggan.export import export_hub
from tests import conftest
from tfbiggan import standing_stats
from tfbiggan.layers import normalization
from tfbiggan.models.biggan import BigGANDiscriminator, BigGANGenerator
from tfbiggan.training import workdir as workdir_lib

NUM_CLASSES = 10
CLASS_NAMES = [f"class_{i}" for i in range(NUM_CLASSES)]


def _generator(seed=3):
    keras.utils.set_random_seed(seed)
    generator = BigGANGenerator(32, ch=4, num_classes=NUM_CLASSES, num_truncation_stats=3)
    generator(np.zeros((1, generator.dim_z), np.float32), np.array([0]))
    return generator


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    generator = _generator()
    path = str(tmp_path_factory.mktemp("export") / "biggan32")
    metadata = {"step": 1234, "config": {"class_names": CLASS_NAMES, "lr": 2e-4}}
    export_hub.export_generator(generator, path, metadata, bank_batches=2, bank_batch_size=4)
    return generator, path


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported[1])


def _inputs(batch=3, seed=0):
    rng = np.random.default_rng(seed)
    z = (0.5 * rng.standard_normal((batch, 128))).astype(np.float32)
    y = np.eye(NUM_CLASSES, dtype=np.float32)[rng.integers(0, NUM_CLASSES, batch)]
    y[0] = 0.0
    y[0, [2, 5]] = 0.5  # a mixture of two classes
    return z, y


def _reference(generator, z, y, truncation):
    return generator(z, y, training=False, truncation=truncation).numpy()


def test_export_filled_the_bank(exported):
    generator, _ = exported
    layers = normalization.batch_norm_layers(generator)
    for layer in layers:
        variance = layer.bank_variance.numpy()
        assert not np.allclose(variance, 1.0)  # the rows hold collected statistics
        assert np.abs(variance[2] - variance[1]).max() > 1e-4


@pytest.mark.slow
def test_fresh_process_hub_load_matches_generator(exported, tmp_path):
    generator, path = exported
    z, y = _inputs()
    truncations = [0.25, 0.5, 1.0]
    np.savez(tmp_path / "inputs.npz", z=z, y=y, truncations=truncations)
    script = textwrap.dedent("""
        import json, sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_hub as hub
        path, folder = sys.argv[1], sys.argv[2]
        module = hub.load(path)
        data = np.load(folder + "/inputs.npz")
        z, y = tf.constant(data["z"]), tf.constant(data["y"])
        signature = module.signatures["default"]
        out = {}
        for t in data["truncations"]:
            t = tf.constant(t, tf.float32)
            out[f"call_{float(t):.2f}"] = module(z, y, t).numpy()
            out[f"sig_{float(t):.2f}"] = signature(z=z, y=y, truncation=t)["default"].numpy()
        out["sample_a"] = module.sample(4, [7], 0.5, 11).numpy()
        out["sample_b"] = module.sample(4, [7], 0.5, 11).numpy()
        out["sample_c"] = module.sample(4, [7], 0.5, 12).numpy()
        np.savez(folder + "/outputs.npz", **out)
        args, kwargs = signature.structured_input_signature
        info = {
            "modules": sorted(m for m in sys.modules if m.split(".")[0] == "tfbiggan"),
            "inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in kwargs.items()},
            "outputs": {k: [v.dtype.name, v.shape.as_list()]
                        for k, v in signature.structured_outputs.items()},
            "signatures": sorted(module.signatures.keys()),
            "dim_z": int(module.dim_z.numpy()), "num_classes": int(module.num_classes.numpy()),
            "resolution": int(module.resolution.numpy()), "step": int(module.step.numpy()),
            "class_names": [n.decode() for n in module.class_names.numpy()],
            "config": json.loads(module.config_json.numpy().decode()),
        }
        with open(folder + "/info.json", "w") as f:
            json.dump(info, f)
    """)
    (tmp_path / "client.py").write_text(script)
    env = dict(os.environ, PYTHONPATH="", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([sys.executable, str(tmp_path / "client.py"), path, str(tmp_path)],
                            capture_output=True, text=True, env=env, cwd=str(tmp_path),
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((tmp_path / "info.json").read_text())
    outputs = np.load(tmp_path / "outputs.npz")

    assert info["modules"] == []  # the client never imported tfbiggan
    assert info["signatures"] == ["default"]
    assert info["inputs"] == {"z": ["float32", [None, 128]], "y": ["float32", [None, 10]],
                              "truncation": ["float32", []]}
    assert info["outputs"] == {"default": ["float32", [None, 32, 32, 3]]}
    assert (info["dim_z"], info["num_classes"], info["resolution"], info["step"]) == (
        128, 10, 32, 1234)
    assert info["class_names"] == CLASS_NAMES
    assert info["config"]["config"]["lr"] == 2e-4
    assert info["config"]["generator"]["config"]["ch"] == 4

    results = {}
    for t in truncations:
        expected = _reference(generator, z, y, t)
        for kind in ("call", "sig"):
            got = outputs[f"{kind}_{t:.2f}"]
            assert got.shape == (3, 32, 32, 3)
            np.testing.assert_allclose(got, expected, atol=1e-5)
        results[t] = expected
    assert np.abs(results[0.5] - results[1.0]).max() > 1e-3
    assert np.abs(results[0.25] - results[0.5]).max() > 1e-3

    np.testing.assert_array_equal(outputs["sample_a"], outputs["sample_b"])
    assert np.abs(outputs["sample_a"] - outputs["sample_c"]).max() > 1e-3
    z_sample = 0.5 * tf.random.stateless_truncated_normal([4, 128], seed=[11, 0])
    expected = _reference(generator, z_sample, np.eye(NUM_CLASSES, dtype=np.float32)[[7] * 4],
                          0.5)
    np.testing.assert_allclose(outputs["sample_a"], expected, atol=1e-5)


def test_in_process_module_matches_and_handles_any_batch(exported, loaded):
    generator, _ = exported
    for batch in (1, 5):
        z, y = _inputs(batch, seed=batch)
        np.testing.assert_allclose(loaded(z, y, 0.5).numpy(),
                                   _reference(generator, z, y, 0.5), atol=1e-5)
    # Bank interpolation: t = 0.75 lies between rows t = 0.5 and t = 1.
    z, y = _inputs()
    np.testing.assert_allclose(loaded(z, y, 0.75).numpy(),
                               _reference(generator, z, y, 0.75), atol=1e-5)


def test_sample_accepts_ids_and_vectors(exported, loaded):
    generator, _ = exported
    by_id = loaded.sample(3, [1, 4, 9], 0.8, 5).numpy()
    by_vector = loaded.sample(3, np.eye(NUM_CLASSES, dtype=np.float32)[[1, 4, 9]], 0.8,
                              5).numpy()
    np.testing.assert_array_equal(by_id, by_vector)
    z = 0.8 * tf.random.stateless_truncated_normal([3, 128], seed=[5, 0])
    np.testing.assert_allclose(
        by_id, _reference(generator, z, np.eye(NUM_CLASSES, dtype=np.float32)[[1, 4, 9]],
                          0.8), atol=1e-5)
    assert np.all(np.abs(by_id) <= 1.0)


def test_tfsm_layer(exported):
    generator, path = exported
    layer = keras.layers.TFSMLayer(path, call_endpoint="default")
    z, y = _inputs()
    out = layer({"z": z, "y": y, "truncation": np.float32(0.5)})
    assert set(out) == {"default"}
    np.testing.assert_allclose(out["default"].numpy(), _reference(generator, z, y, 0.5),
                               atol=1e-5)


# The input signature rejects wrong shapes when binding the call; the signature function
# (which does not bind) is caught by the shape checks of the traced function.
Z_SHAPE = r"\(None, 128\)|Shape of tensor z \[.*\] is not compatible with expected shape \[\?,128\]"
Y_SHAPE = r"\(None, 10\)|Shape of tensor y \[.*\] is not compatible with expected shape \[\?,10\]"
BAD_INPUTS = [
    ("z_width", lambda z, y: (z[:, :7], y, 0.5), Z_SHAPE),
    ("z_rank", lambda z, y: (z[0], y, 0.5), Z_SHAPE),
    ("y_width", lambda z, y: (z, y[:, :4], 0.5), Y_SHAPE),
    ("y_batch", lambda z, y: (z, y[:2], 0.5), "same batch size"),
    ("t_rank", lambda z, y: (z, y, [0.5, 0.5]), r"\(\)|expected shape \[\]"),
    ("t_zero", lambda z, y: (z, y, 0.0), r"truncation must be in \(0, 1\]"),
    ("t_large", lambda z, y: (z, y, 1.5), r"truncation must be in \(0, 1\]"),
    ("t_nan", lambda z, y: (z, y, np.nan), r"truncation must be in \(0, 1\]"),
    ("z_nan", lambda z, y: (np.where(z > 0, np.nan, z).astype(np.float32), y, 0.5),
     "z must be finite"),
    ("y_inf", lambda z, y: (z, np.where(y > 0, np.inf, y).astype(np.float32), 0.5),
     "y must be finite"),
]


@pytest.mark.parametrize("name,make,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_fail_clearly(loaded, name, make, message):
    del name
    z, y = _inputs()
    z, y, t = make(z, y)
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match=message):
        loaded(z, y, np.float32(t))
    with pytest.raises((ValueError, TypeError, tf.errors.InvalidArgumentError), match=message):
        loaded.signatures["default"](z=tf.constant(z), y=tf.constant(y),
                                     truncation=tf.constant(t, tf.float32))


def test_sample_rejects_bad_classes(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"class ids must be in \[0, 10\)"):
        loaded.sample(2, [3, 10], 0.5, 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"one class \(broadcast to num\) or num classes"):
        loaded.sample(4, [1, 2], 0.5, 0)


def test_module_is_not_a_silent_identity_of_truncation(loaded):
    z, y = _inputs()
    assert np.abs(loaded(z, y, 0.3).numpy() - loaded(z, y, 0.9).numpy()).max() > 1e-3


def _leftovers(parent, base):
    return [name for name in os.listdir(parent) if name.startswith(f".{base}.")]


@pytest.mark.slow
def test_atomic_write(tmp_path, monkeypatch):
    generator = _generator(seed=5)
    target = tmp_path / "module"
    export_hub.export_generator(generator, str(target), {"step": 1})
    z, y = _inputs()
    before = tf.saved_model.load(str(target))(z, y, 0.5).numpy()

    def failing_save(obj, export_dir, signatures=None, **kwargs):
        del obj, signatures, kwargs
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
            f.write(b"partial")
        raise RuntimeError("disk full")

    monkeypatch.setattr(export_hub.tf.saved_model, "save", failing_save)
    with pytest.raises(RuntimeError, match="disk full"):
        export_hub.export_generator(generator, str(target), {"step": 2})
    with pytest.raises(RuntimeError, match="disk full"):
        export_hub.export_generator(generator, str(tmp_path / "new"), {"step": 2})
    monkeypatch.undo()
    assert not (tmp_path / "new").exists()
    assert _leftovers(tmp_path, "module") == [] and _leftovers(tmp_path, "new") == []
    survivor = tf.saved_model.load(str(target))
    assert int(survivor.step.numpy()) == 1
    np.testing.assert_array_equal(survivor(z, y, 0.5).numpy(), before)
    # A successful export replaces the previous one and leaves nothing behind.
    export_hub.export_generator(generator, str(target), {"step": 3})
    assert int(tf.saved_model.load(str(target)).step.numpy()) == 3
    assert _leftovers(tmp_path, "module") == []


@pytest.mark.slow
def test_exported_module_has_the_usual_permissions(tmp_path):
    """Under umask 022 every directory of the module is 0755 and every file 0644 (not the
    0700 of a temporary directory), so the module can be shared as it is."""
    previous = os.umask(0o022)
    try:
        path = export_hub.export_generator(_generator(seed=6), str(tmp_path / "module"),
                                           {"step": 1})
    finally:
        os.umask(previous)
    modes = {}
    for root, dirs, names in os.walk(path):
        for name in dirs + names + ([] if root != path else ["."]):
            full = os.path.normpath(os.path.join(root, name))
            modes[os.path.relpath(full, path)] = os.stat(full).st_mode
    assert {"saved_model.pb", "variables", "fingerprint.pb"} <= set(modes)
    for name, mode in modes.items():
        expected = 0o755 if os.path.isdir(os.path.join(path, name)) else 0o644
        assert mode & 0o777 == expected, (name, oct(mode & 0o777))


def test_export_rejects_bad_metadata(tmp_path):
    generator = _generator()
    with pytest.raises(ValueError, match=r"one name per class \(10\), got 2"):
        export_hub.export_generator(generator, str(tmp_path / "m"),
                                    {"class_names": ["a", "b"]})
    with pytest.raises(ValueError, match="bank_batches"):
        export_hub.export_generator(generator, str(tmp_path / "m"), bank_batches=-1)
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    generator = _generator(seed=8)
    standing_stats.collect_truncation_bank(generator, num_batches=1, batch_size=4, seed=1)
    workdir = tmp_path / "run"
    workdir_lib.write_config(str(workdir), {"class_names": CLASS_NAMES}, generator,
                             BigGANDiscriminator(32, ch=4, num_classes=NUM_CLASSES))
    checkpoint = tf.train.Checkpoint(step=tf.Variable(7, dtype=tf.int64),
                                     ema_generator=generator)
    manager = tf.train.CheckpointManager(checkpoint, workdir_lib.checkpoint_dir(str(workdir)),
                                         max_to_keep=2)
    manager.save(checkpoint_number=7)
    output = tmp_path / "exported"
    env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "export.export_hub", f"--workdir={workdir}",
         f"--output={output}", "--bank_batches=0"],
        capture_output=True, text=True, env=env, cwd=str(conftest.REPO_ROOT), timeout=300,
        check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    module = tf.saved_model.load(str(output))
    assert int(module.step.numpy()) == 7
    assert [n.decode() for n in module.class_names.numpy()] == CLASS_NAMES
    z, y = _inputs()
    for t in (0.4, 1.0):
        np.testing.assert_allclose(module(z, y, t).numpy(), _reference(generator, z, y, t),
                                   atol=1e-5)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
