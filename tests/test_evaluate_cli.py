"""The evaluation command line: workdirs and exported modules in, results JSON out."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from tests import conftest
from tfbiggan import evaluate, evaluation, metrics
from tfbiggan.models import BigGANDiscriminator, BigGANGenerator
from tfbiggan.training import workdir as workdir_lib

STEP = 7


class _FakeInception(tf.Module):
    """A SavedModel with the TF-GAN Inception interface: images → {pool_3, logits}."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.projection = tf.constant(rng.normal(size=(48, 12)) * 3.0, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def __call__(self, images):
        features = tf.reshape(tf.image.resize(images, (4, 4), method="area"), [-1, 48])
        return {"pool_3": features, "logits": features @ self.projection}


@pytest.fixture(scope="module")
def inception_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("fake_inception"))
    tf.saved_model.save(_FakeInception(), path)
    return path


def tiny_models(seed=0):
    tf.keras.utils.set_random_seed(seed)
    generator = BigGANGenerator(32, ch=4, num_classes=10, num_truncation_stats=11,
                                attention=())
    generator(np.zeros((2, generator.dim_z), np.float32), np.zeros((2,), np.int32))
    return generator, BigGANDiscriminator(32, ch=4, num_classes=10, attention=())


def write_workdir(path, source="digits", step=STEP):
    generator, discriminator = tiny_models()
    config = {"model": {"preset": "biggan_tiny_32"},
              "data": {"pipeline": {"source": source, "path": "/nonexistent/images"}}}
    workdir_lib.write_config(str(path), config, generator, discriminator)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(step, dtype=tf.int64),
                                     ema_generator=generator)
    tf.train.CheckpointManager(checkpoint, workdir_lib.checkpoint_dir(str(path)),
                               max_to_keep=2).save(checkpoint_number=step)
    return generator


def run_cli(monkeypatch, *args):
    """Runs `evaluate.main` with its own flag registry (no clash with other test modules)."""
    flag_values = flags.FlagValues()
    evaluate._define_flags(flag_values)  # pylint: disable=protected-access
    flag_values(["evaluate", *args])
    monkeypatch.setattr(evaluate, "FLAGS", flag_values)
    return evaluate.main(["evaluate"])


@pytest.mark.slow
def test_workdir_results_json(tmp_path, monkeypatch, inception_path):
    generator = write_workdir(tmp_path / "run")
    # Without --output the figures go into the workdir, named by the step evaluated.
    output = tmp_path / "run" / f"results_step{STEP}.json"
    assert run_cli(monkeypatch, f"--workdir={tmp_path / 'run'}", "--metrics=kid",
                   "--num_samples=40", "--batch_size=20", "--truncation=0.8",
                   "--num_reference=100", "--feature_network=inception",
                   f"--inception={inception_path}", f"--cache_dir={tmp_path / 'cache'}") == 0
    record = json.loads(output.read_text())
    assert record["step"] == STEP
    assert record["source"].endswith(f"ckpt-{STEP}")
    assert record["feature_network"] == "inception" and record["num_samples"] == 40
    standard = {"fid", "is", "is_std", "precision", "recall", "density", "coverage",
                "variety", "variety_min", "variety_max"}
    assert set(record["metrics"]) == standard | {"kid", "kid_std"}
    assert set(record["real"]) == set(record["metrics"])
    # The same figures as the library call on the saved generator: the reference is the
    # first 100 digits of the run's data pipeline, the ceiling the next 40.
    data = {"source": "digits", "path": "/nonexistent/images"}
    reference = evaluation.RealImages.from_data_config(data, 32, 100)
    ceiling = evaluation.RealImages.from_data_config(data, 32, 40, skip=100)
    expected = evaluation.evaluate(
        generator, metrics.load_inception(inception_path), ["fid", "is", "pr", "dc", "variety",
                                                            "kid"], 40, 0.8,
        reference=reference, ceiling=ceiling, batch_size=20,
        classes=evaluation.ceiling_classes(ceiling, 40))
    for key, value in expected.items():
        where = record["real"] if key.endswith("_real") else record["metrics"]
        assert where[key.replace("_real", "")] == pytest.approx(value, rel=1e-6), key
    # Cached: the reference's statistics (FID) and features, and the ceiling's features.
    cached = sorted(os.listdir(tmp_path / "cache"))
    assert len(cached) == 3 and all(name.startswith("digits-images-train-") for name in cached)
    assert sum(name.endswith("_inception_v3_32px_features.npz") for name in cached) == 2


def test_missing_inception_names_how_to_provide_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TFBIGGAN_INCEPTION", raising=False)
    write_workdir(tmp_path / "run", source="folder")
    with pytest.raises(SystemExit) as exit_info:
        run_cli(monkeypatch, f"--workdir={tmp_path / 'run'}", "--metrics=is",
                "--num_samples=4", f"--output={tmp_path / 'r.json'}")
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "no Inception network was given" in error and "--inception" in error
    assert not (tmp_path / "r.json").exists()


def test_bad_arguments_fail_clearly(tmp_path, monkeypatch, capsys, inception_path):
    write_workdir(tmp_path / "run")
    with pytest.raises(SystemExit):
        run_cli(monkeypatch, f"--workdir={tmp_path / 'run'}", "--metrics=fid,bogus",
                f"--inception={inception_path}")
    assert "unknown metric(s) ['bogus']; accepted: fid, is, kid, pr, dc" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(monkeypatch, f"--workdir={tmp_path / 'run'}", "--step=3",
                f"--inception={inception_path}")
    assert "no checkpoint for step 3" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_cli(monkeypatch, "--metrics=is")
    assert "exactly one of --workdir and --module" in capsys.readouterr().err
    assert evaluate.parse_data_overrides(["split=test", "num_classes=10"]) == {
        "split": "test", "num_classes": 10}
    with pytest.raises(ValueError, match="key=value"):
        evaluate.parse_data_overrides(["split"])


@pytest.mark.slow
def test_module_with_sweep_from_the_command_line(tmp_path, inception_path):
    from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
    generator, _ = tiny_models(seed=2)
    module = export_hub.export_generator(
        generator, str(tmp_path / "module"),
        {"step": 123, "config": {"data": {"pipeline": {"source": "digits"}}}},
        bank_batches=1, bank_batch_size=8)
    output = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT))
    completed = subprocess.run(
        [sys.executable, "-m", "tfbiggan.evaluate", f"--module={module}", "--metrics=fid,is",
         "--num_samples=30", "--batch_size=15", f"--inception={inception_path}",
         "--num_reference=60",
         "--sweep=0.5,1.0", f"--cache_dir={tmp_path / 'cache'}", f"--output={output}"],
        cwd=conftest.REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
        check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    record = json.loads(output.read_text())
    assert record["step"] == 123 and record["source"] == module
    rows = record["truncation_curve"]
    assert [row["truncation"] for row in rows] == [0.5, 1.0, "real"]
    assert rows[1]["fid"] == pytest.approx(record["metrics"]["fid"], rel=1e-9)
    assert rows[2]["recall"] == pytest.approx(record["real"]["recall"], rel=1e-9)
    assert evaluation.read_curve_csv(tmp_path / "results_truncation_curve.csv") == rows
    assert (tmp_path / "results_truncation_curve.png").stat().st_size > 0
    assert "step 123, 30 samples at truncation 1" in completed.stdout
    assert "recall" in completed.stdout and "real data" in completed.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
