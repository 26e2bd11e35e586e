"""Truncated latents, class sampling, interpolation, grids, sample sheets and the sample CLI."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from tests import conftest
from tfbiggan import sample as sample_cli
from tfbiggan import sampling, standing_stats
from tfbiggan.models.biggan import BigGANGenerator


# Truncated latents ---------------------------------------------------------------------------

def test_resample_mode_matches_the_truncated_normal_law():
    z = sampling.truncated_z(4000, 25, 0.7, seed=0)
    assert z.shape == (4000, 25) and z.dtype == np.float32
    assert np.abs(z).max() <= 0.7
    # Redrawing outside values gives N(0, 1) truncated to [-t, t]: compare the law.
    law = stats.truncnorm(-0.7, 0.7)
    np.testing.assert_allclose(z.std(), law.std(), rtol=0.01)
    assert stats.kstest(z.ravel()[:20000], law.cdf).pvalue > 1e-3
    assert abs(z.mean()) < 0.01


def test_resample_mode_reproduces_the_redraw_procedure():
    rng = np.random.default_rng(3)
    expected = rng.standard_normal((5, 6))
    outside = np.abs(expected) > 0.5
    while outside.any():
        expected[outside] = rng.standard_normal(outside.sum())
        outside = np.abs(expected) > 0.5
    np.testing.assert_array_equal(sampling.truncated_z(5, 6, 0.5, seed=3),
                                  expected.astype(np.float32))


def test_hub_mode_is_scaled_truncated_normal():
    z = sampling.truncated_z(3, 7, 0.4, seed=(1, 2), mode="hub")
    expected = 0.4 * stats.truncnorm.rvs(-2, 2, size=(3, 7),
                                         random_state=np.random.default_rng((1, 2)))
    np.testing.assert_allclose(z, expected.astype(np.float32))
    big = sampling.truncated_z(5000, 10, 0.5, seed=0, mode="hub")
    assert np.abs(big).max() <= 1.0
    np.testing.assert_allclose(big.std(), 0.5 * stats.truncnorm(-2, 2).std(), rtol=0.02)


def test_seeds_reproduce_and_differ():
    for mode in ("resample", "hub"):
        a = sampling.truncated_z(4, 8, 0.9, seed=5, mode=mode)
        np.testing.assert_array_equal(a, sampling.truncated_z(4, 8, 0.9, seed=5, mode=mode))
        assert not np.array_equal(a, sampling.truncated_z(4, 8, 0.9, seed=6, mode=mode))
    # No truncation: plain N(0, 1).
    z = sampling.truncated_z(2, 3, np.inf, seed=1)
    np.testing.assert_array_equal(z, np.random.default_rng(1).standard_normal((2, 3))
                                  .astype(np.float32))


@pytest.mark.parametrize("truncation,mode,message", [
    (0.0, "resample", "positive"), (-1.0, "resample", "positive"),
    (float("nan"), "resample", "positive"), (1.5, "hub", r"\(0.0, 1.0\].*1.5"),
    (0.0, "hub", r"\(0.0, 1.0\]"), (0.5, "paper", "mode"), ("0.5", "hub", "0.5")])
def test_truncation_is_validated(truncation, mode, message):
    with pytest.raises(ValueError, match=message):
        sampling.truncated_z(2, 4, truncation, seed=0, mode=mode)


# Classes and interpolation --------------------------------------------------------------------

def test_sample_classes_and_one_hot():
    labels = sampling.sample_classes(5000, 7, seed=2)
    assert labels.dtype == np.int32 and labels.min() == 0 and labels.max() == 6
    np.testing.assert_array_equal(labels, np.random.default_rng(2).integers(0, 7, 5000))
    np.testing.assert_array_equal(sampling.one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    with pytest.raises(ValueError, match=r"\[0, 3\), got \[3\]"):
        sampling.one_hot([1, 3], 3)


def test_linear_and_slerp_interpolation():
    z0, z1 = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    linear = sampling.interpolate_z(z0, z1, 3)
    np.testing.assert_allclose(linear, [[1, 0], [0.5, 1.0], [0, 2]])
    slerp = sampling.interpolate_z(z0, z1, 3, method="slerp")
    # Angle 90°: the midpoint weights are sin(45°)/sin(90°) for both ends.
    w = np.sin(np.pi / 4)
    np.testing.assert_allclose(slerp, [[1, 0], [w, 2 * w], [0, 2]], atol=1e-6)
    batch = sampling.interpolate_z(np.ones((4, 5)), np.zeros((4, 5)), 5)
    assert batch.shape == (5, 4, 5)
    np.testing.assert_allclose(batch[:, 0, 0], [1, 0.75, 0.5, 0.25, 0])
    same = sampling.interpolate_z(z0, z0, 4, method="slerp")
    np.testing.assert_allclose(same, np.tile(z0, (4, 1)), atol=1e-6)
    with pytest.raises(ValueError, match="steps"):
        sampling.interpolate_z(z0, z1, 1)


def test_interpolation_sheets():
    z, y = sampling.class_interpolation_sheet(12, 5, [(0, 4), (2, 3)], 4, 0.5, seed=0)
    assert z.shape == (8, 12) and y.shape == (8, 5)
    np.testing.assert_array_equal(z[:4], np.repeat(z[:1], 4, axis=0))  # z fixed per row
    assert not np.array_equal(z[0], z[4])
    np.testing.assert_allclose(y[:4, 0], [1, 2 / 3, 1 / 3, 0], atol=1e-6)
    np.testing.assert_allclose(y[:4, 4], [0, 1 / 3, 2 / 3, 1], atol=1e-6)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, atol=1e-6)
    z, y = sampling.latent_interpolation_sheet(12, 5, [1, 3], 3, 0.5, seed=0)
    assert z.shape == (6, 12)
    np.testing.assert_array_equal(y.argmax(axis=1), [1, 1, 1, 3, 3, 3])
    np.testing.assert_allclose(z[1], (z[0] + z[2]) / 2, atol=1e-6)


# Grids ----------------------------------------------------------------------------------------

def test_image_grid_layout_and_values():
    images = np.stack([np.full((2, 3, 3), v) for v in (-1.0, 0.0, 1.0)]).astype(np.float32)
    grid = sampling.image_grid(images, rows=2)
    assert grid.shape == (4, 6, 3) and grid.dtype == np.uint8
    assert grid[0, 0, 0] == 0 and grid[0, 3, 0] == 128 and grid[2, 0, 0] == 255
    assert grid[2, 3, 0] == 0  # the empty cell stays black
    with pytest.raises(ValueError, match="do not fit"):
        sampling.image_grid(images, rows=1, cols=2)


def test_save_grid_png_is_atomic_and_labelled(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 3)).astype(np.float32)
    path = tmp_path / "grid.png"
    written = sampling.save_grid_png(images, str(path), rows=2)
    np.testing.assert_array_equal(np.asarray(Image.open(path)),
                                  sampling.image_grid(images, 2))
    np.testing.assert_array_equal(written, sampling.image_grid(images, 2))
    labelled = sampling.save_grid_png(images, str(path), rows=2, labels=["cat", "dog"])
    assert labelled.shape[1] > 16 and labelled.shape[0] == 16
    np.testing.assert_array_equal(labelled[:, -16:], sampling.image_grid(images, 2))
    assert (labelled[:, :labelled.shape[1] - 16] < 128).any()  # text was drawn
    assert sorted(os.listdir(tmp_path)) == ["grid.png"]
    with pytest.raises(ValueError, match="one entry per row"):
        sampling.save_grid_png(images, str(path), rows=2, labels=["cat"])


# Sample sheets --------------------------------------------------------------------------------

def _generator():
    import keras  # pylint: disable=import-outside-toplevel
    keras.utils.set_random_seed(0)
    generator = BigGANGenerator(32, ch=4, num_classes=10, num_truncation_stats=3)
    generator(np.zeros((1, generator.dim_z), np.float32), np.array([0]))
    return generator


def test_sample_sheet_rows_are_classes_columns_truncations():
    generator = _generator()
    standing_stats.collect_truncation_bank(generator, 1, 4, seed=0)
    images, rows, labels = sampling.sample_sheet(generator, [3, 7], [0.5, 1.0], 2, seed=1)
    assert images.shape == (8, 32, 32, 3) and rows == 2 and labels == ["class 3", "class 7"]
    # Cell (row r, column c): class classes[r], latent c % 2 of truncation c // 2.
    for index, truncation in enumerate([0.5, 1.0]):
        z = sampling.truncated_z(2, 128, truncation, (1, index), "hub")
        expected = generator(np.tile(z, (2, 1)), np.array([3, 3, 7, 7]),
                             truncation=truncation).numpy()
        for r in range(2):
            got = images[r * 4 + 2 * index:r * 4 + 2 * index + 2]
            np.testing.assert_allclose(got, expected[2 * r:2 * r + 2], atol=1e-5)


def test_write_samples_with_standing_statistics(tmp_path):
    generator = _generator()
    path = tmp_path / "sheet.png"
    images = sample_cli.write_samples(generator, str(path), [1, 2], 2, [0.5], seed=0,
                                      class_names=[f"n{i}" for i in range(10)],
                                      standing_batches=1, standing_batch_size=4)
    z = sampling.truncated_z(2, 128, 0.5, (0, 0), "hub")
    # Standing statistics at t = 0.5 are in place after the call.
    np.testing.assert_allclose(images[:2], generator(z, np.array([1, 1])).numpy(), atol=1e-5)
    picture = np.asarray(Image.open(path))
    assert picture.shape[0] == 64 and picture.shape[1] > 64
    with pytest.raises(ValueError, match=r"\[0, 10\), got \[12\]"):
        sample_cli.write_samples(generator, str(path), [12], 2, [0.5])


def test_sample_sheet_rows_are_labelled_with_class_names():
    generator = _generator()
    names = [f"name{i}" for i in range(10)]
    _, rows, labels = sampling.sample_sheet(generator, [3, 7], [1.0], 1, seed=1,
                                            class_names=names)
    assert rows == 2 and labels == ["3: name3", "7: name7"]
    with pytest.raises(ValueError, match=r"one name per class \(10\), got 2"):
        sampling.sample_sheet(generator, [3], [1.0], 1, seed=1, class_names=["a", "b"])


def test_load_source_reads_the_class_names_of_a_workdir(tmp_path):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tfbiggan.models.biggan import BigGANDiscriminator  # pylint: disable=import-outside-toplevel
    from tfbiggan.training import workdir as workdir_lib  # pylint: disable=import-outside-toplevel
    generator = _generator()
    names = ["bag", "boot", "coat", "dress", "pullover", "sandal", "shirt", "sneaker",
             "top", "trouser"]
    workdir_lib.write_config(str(tmp_path), {"data": {}}, generator,
                             BigGANDiscriminator(32, ch=4, num_classes=10), class_names=names)
    checkpoint = tf.train.Checkpoint(step=tf.Variable(3, dtype=tf.int64),
                                     ema_generator=generator)
    checkpoint.save(os.path.join(workdir_lib.checkpoint_dir(str(tmp_path)), "ckpt"))
    _, loaded_names = sample_cli.load_source(workdir=str(tmp_path))
    assert loaded_names == names


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_save_grid_png_gets_the_permissions_of_a_normal_write(tmp_path, umask, mode):
    images = np.zeros((2, 4, 4, 3), np.float32)
    previous = os.umask(umask)
    try:
        sampling.save_grid_png(images, str(tmp_path / "samples.png"), rows=1)
    finally:
        os.umask(previous)
    assert (tmp_path / "samples.png").stat().st_mode & 0o777 == mode
    assert os.listdir(tmp_path) == ["samples.png"]


@pytest.mark.slow
def test_sample_cli_from_an_exported_module(tmp_path):
    from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
    generator = _generator()
    module_dir = tmp_path / "module"
    export_hub.export_generator(generator, str(module_dir), {"step": 1}, bank_batches=1,
                                bank_batch_size=4)
    output = tmp_path / "out" / "grid.png"
    env = dict(os.environ, PYTHONPATH=str(conftest.REPO_ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "tfbiggan.sample", f"--module={module_dir}", "--num=2",
         "--classes=4,5,6", "--truncation=0.5,1.0", "--seed=3", f"--output={output}"],
        capture_output=True, text=True, env=env, cwd=str(conftest.REPO_ROOT), timeout=300,
        check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    picture = np.asarray(Image.open(output))
    assert picture.shape[0] == 3 * 32 and picture.shape[1] > 4 * 32  # + the label margin
    grid = picture[:, -4 * 32:]
    z = sampling.truncated_z(2, 128, 1.0, (3, 1), "hub")
    expected = generator(z, np.array([5, 5]), truncation=1.0).numpy()
    np.testing.assert_allclose(grid[32:64, 64:128].astype(np.float32),
                               sampling.image_grid(expected, 1).astype(np.float32), atol=1.0)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
