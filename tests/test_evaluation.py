"""Evaluation runs: sampling from generators and exports, metric registry, reference cache,
truncation sweep and the digits evaluation."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tests import conftest  # noqa: F401  (two logical CPUs)
from tfbiggan import evaluation, metrics, sampling, standing_stats
from tfbiggan.metrics import feature_statistics
from tfbiggan.models import BigGANGenerator

NUM_CLASSES = 10


def tiny_generator(seed=0, bank=11):
    tf.keras.utils.set_random_seed(seed)
    generator = BigGANGenerator(32, ch=4, num_classes=NUM_CLASSES, num_truncation_stats=bank,
                                attention=())
    generator(np.zeros((2, generator.dim_z), np.float32), np.zeros((2,), np.int32))
    return generator


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


class Features:
    """Deterministic stand-in feature network: 4×4 average pooling → 48 features; logits are
    a fixed linear map of them. Counts its calls and the images it saw."""

    __name__ = "pool4"

    def __init__(self):
        self.calls, self.images = 0, 0
        self.projection = np.random.default_rng(7).normal(size=(48, NUM_CLASSES)) * 4.0

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        self.calls += 1
        self.images += len(images)
        n, r = images.shape[0], images.shape[1]
        pooled = images.reshape(n, 4, r // 4, 4, r // 4, 3).mean(axis=(2, 4)).reshape(n, 48)
        return pooled, pooled @ self.projection


class TFFeatures(Features):
    """`Features` in TensorFlow ops, so that it also runs in a replica of a strategy."""

    __name__ = "pool4_tf"

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        r = images.shape[1]
        pooled = tf.reshape(tf.reduce_mean(tf.reshape(images, [-1, 4, r // 4, 4, r // 4, 3]),
                                           axis=[2, 4]), [-1, 48])
        return pooled, tf.matmul(pooled, tf.constant(self.projection, tf.float32))


def real_arrays(count=80, seed=3):
    rng = np.random.default_rng(seed)
    images = np.tanh(rng.normal(size=(count, 32, 32, 3))).astype(np.float32)
    return images, (np.arange(count) % NUM_CLASSES).astype(np.int32)


def expected_latents(num, batch, dim_z, truncation, seed):
    return np.concatenate([
        sampling.truncated_z(min(batch, num - start), dim_z, truncation, (seed, 0, index),
                             mode="hub")
        for index, start in enumerate(range(0, num, batch))])


def test_sample_images_generator_without_filled_bank(generator):
    classes = np.array([0, 3, 9, 1, 1, 2, 5], np.int32)
    images, labels = evaluation.sample_images(generator, 7, batch_size=3, truncation=0.5,
                                              seed=4, classes=classes)
    assert images.shape == (7, 32, 32, 3) and images.dtype == np.float32
    np.testing.assert_array_equal(labels, classes)
    assert not evaluation.bank_is_filled(generator)
    z = expected_latents(7, 3, generator.dim_z, 0.5, 4)
    assert np.all(np.abs(z) <= 1.0)  # t · truncated_normal(±2)
    expected = generator(z, classes, training=False).numpy()  # current statistics
    np.testing.assert_allclose(images, expected, atol=1e-5)
    # Random classes are seeded: same seed, same labels; a single id broadcasts.
    again = evaluation.sample_images(generator, 7, 3, 0.5, 4)[1]
    np.testing.assert_array_equal(again, evaluation.sample_images(generator, 7, 3, 0.5, 4)[1])
    assert set(again) <= set(range(NUM_CLASSES))
    np.testing.assert_array_equal(evaluation.sample_images(generator, 3, 2, 1.0, 0, 6)[1],
                                  [6, 6, 6])


@pytest.mark.slow
def test_sample_images_bank_and_export_agree(tmp_path):
    from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
    generator = tiny_generator(seed=1)
    standing_stats.collect_truncation_bank(generator, num_batches=1, batch_size=8)
    assert evaluation.bank_is_filled(generator)
    classes = np.array([2, 7, 7, 0, 9], np.int32)
    images, labels = evaluation.sample_images(generator, 5, 2, 0.3, seed=1, classes=classes)
    z = expected_latents(5, 2, generator.dim_z, 0.3, 1)
    np.testing.assert_allclose(
        images, generator(z, classes, training=False, truncation=0.3).numpy(), atol=1e-5)
    # The bank changes the images: they differ from those with the moving statistics.
    assert np.max(np.abs(images - generator(z, classes, training=False).numpy())) > 1e-3

    path = export_hub.export_generator(generator, str(tmp_path / "module"), {"step": 7})
    module = tf.saved_model.load(path)
    assert evaluation.is_exported_module(module)
    assert evaluation.source_info(module) == (generator.dim_z, NUM_CLASSES, 32)
    module_images, module_labels = evaluation.sample_images(module, 5, 2, 0.3, 1, classes)
    assert module_images.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(module_labels, classes)
    np.testing.assert_allclose(module_images, images, atol=1e-4)


def test_split_over_replicas_splits_pads_and_restores_the_order():
    strategy = conftest.two_replica_strategy()

    def fn(x, y):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return 2.0 * x + y[:, None], tf.fill([tf.shape(x)[0]], replica)

    split = evaluation.SplitOverReplicas(fn, strategy)
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    y = np.arange(7, dtype=np.float32)
    out, replica = split(x, y)
    np.testing.assert_array_equal(out, 2.0 * x + y[:, None])
    # 7 examples: 4 on replica 0, 3 (plus one repeated, dropped) on replica 1.
    np.testing.assert_array_equal(replica, [0, 0, 0, 0, 1, 1, 1])
    assert evaluation.split_over_replicas(split, strategy) is split
    assert evaluation.split_over_replicas(fn, None) is fn
    with pytest.raises(ValueError, match="share one non-zero batch size"):
        split(x, y[:3])


@pytest.mark.slow
def test_evaluate_under_two_replicas_equals_one_device(generator):
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        mirrored = tiny_generator(seed=5)
    mirrored.set_weights(generator.get_weights())
    real_images, real_labels = real_arrays()
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="random")
    classes = evaluation.balanced_classes(50, NUM_CLASSES)
    names = ("fid", "is", "kid", "class_consistency", "ms_ssim")
    options = {"is": {"splits": 2}, "kid": {"num_subsets": 3, "subset_size": 20}}
    one = evaluation.evaluate(generator, TFFeatures(), names, 50, 0.6, reference=reference,
                              batch_size=15, seed=3, classes=classes, options=options)
    two = evaluation.evaluate(mirrored, TFFeatures(), names, 50, 0.6, reference=reference,
                              batch_size=15, seed=3, classes=classes, options=options,
                              strategy=strategy, progress=True)
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-6), name
    # Images under the strategy equal those of one device, batch by batch (15 = 8 + 7).
    images_one = evaluation.sample_images(generator, 20, 15, 0.6, 3, classes[:20])[0]
    images_two = np.concatenate([batch for batch, _ in evaluation.iter_samples(
        mirrored, 20, 15, 0.6, 3, classes[:20], strategy=strategy)])
    np.testing.assert_allclose(images_two, images_one, atol=1e-5)


@pytest.mark.slow
def test_sampling_with_a_filled_bank_under_two_replicas():
    one = tiny_generator(seed=1)
    standing_stats.collect_truncation_bank(one, num_batches=1, batch_size=8)
    strategy = conftest.two_replica_strategy()
    with strategy.scope():
        two = tiny_generator(seed=1)
    two.set_weights(one.get_weights())
    assert evaluation.bank_is_filled(two)
    classes = np.array([2, 7, 7, 0, 9], np.int32)
    expected = evaluation.sample_images(one, 5, 5, 0.3, seed=1, classes=classes)[0]
    images = np.concatenate([batch for batch, _ in evaluation.iter_samples(
        two, 5, 5, 0.3, 1, classes, strategy=strategy)])
    np.testing.assert_allclose(images, expected, atol=1e-5)


def test_sample_images_rejects_bad_arguments(generator):
    with pytest.raises(ValueError, match="truncation"):
        evaluation.sample_images(generator, 4, 2, truncation=1.5)
    with pytest.raises(ValueError, match=r"`classes` must be .* 4 class ids in \[0, 10\)"):
        evaluation.sample_images(generator, 4, 2, classes=[0, 1, 2, 10])
    with pytest.raises(ValueError, match="num_samples"):
        evaluation.sample_images(generator, 0, 2)


def test_evaluate_matches_the_metric_functions(generator):
    features = Features()
    real_images, real_labels = real_arrays()
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="random")
    classes = evaluation.balanced_classes(60, NUM_CLASSES)
    options = {"is": {"splits": 3}, "kid": {"num_subsets": 5, "subset_size": 20},
               "swd": {"patches_per_image": 8, "dirs_per_repeat": 16}}
    results = evaluation.evaluate(
        generator, features, list(evaluation.METRICS), num_samples=60, truncation=0.7,
        reference=reference, batch_size=16, seed=2, classes=classes, options=options)

    fake_images, fake_labels = evaluation.sample_images(generator, 60, 16, 0.7, 2, classes)
    fake_f, fake_l = features(fake_images)
    real_f, _ = features(real_images)
    assert results["fid"] == pytest.approx(metrics.fid_from_activations(real_f, fake_f),
                                           rel=1e-6)
    is_mean, is_std = metrics.inception_score_from_logits(fake_l, splits=3)
    assert (results["is"], results["is_std"]) == pytest.approx((is_mean, is_std), rel=1e-5)
    kid = metrics.kid_from_activations(real_f, fake_f, num_subsets=5, subset_size=20)
    assert (results["kid"], results["kid_std"]) == pytest.approx(kid, rel=1e-5)
    assert (results["precision"], results["recall"]) == pytest.approx(
        metrics.precision_recall(real_f, fake_f))
    assert results["intra_fid"] == pytest.approx(
        metrics.intra_fid(real_f, real_labels, fake_f, fake_labels)[0], rel=1e-6)
    _, swd = metrics.sliced_wasserstein(real_images[:60], fake_images,
                                        patches_per_image=8, dirs_per_repeat=16)
    assert results["swd"] == pytest.approx(swd, rel=1e-5)
    assert results["ms_ssim"] == pytest.approx(
        metrics.ms_ssim(fake_images[0::2], fake_images[1::2]), rel=1e-5)
    assert results["class_consistency"] == pytest.approx(
        metrics.class_consistency(features, fake_images, fake_labels))
    assert results["fid"] > 0.0 and 0.0 <= results["class_consistency"] <= 1.0


def test_unknown_metric_and_missing_reference(generator):
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['fidd'\]; accepted: fid, is, "
                                         r"kid, pr, intra_fid, swd, ms_ssim"):
        evaluation.evaluate(generator, Features(), "fid,fidd", num_samples=4)
    with pytest.raises(ValueError, match="FID needs real images: pass `reference=`"):
        evaluation.evaluate(generator, Features(), ["fid"], num_samples=4, batch_size=4)
    with pytest.raises(ValueError, match=r"`options` names metric\(s\) \['kid'\]"):
        evaluation.evaluate(generator, Features(), ["is"], num_samples=4,
                            options={"kid": {}})


def test_reference_statistics_cache_round_trip_and_reuse(generator, tmp_path):
    real_images, real_labels = real_arrays(50)
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="random set")
    features = Features()
    mu, sigma = evaluation.reference_statistics(reference, features, tmp_path, batch_size=16)
    path = tmp_path / "random-set_pool4_32px.npz"
    assert path.is_file() and features.images == 50 and features.calls == 4
    real_f, _ = Features()(real_images)
    # float32 features: batched and whole-array pooling differ in the last bits.
    np.testing.assert_allclose(mu, real_f.mean(axis=0, dtype=np.float64), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(sigma, np.cov(real_f, rowvar=False), rtol=1e-4, atol=1e-8)
    loaded = feature_statistics.load_statistics(path)
    np.testing.assert_array_equal(loaded[0], mu)
    np.testing.assert_array_equal(loaded[1], sigma)

    # evaluate() reuses the cache: only the 20 samples go through the feature network.
    counting = Features()
    first = evaluation.evaluate(generator, counting, ["fid"], num_samples=20, truncation=1.0,
                                reference=reference, batch_size=10, cache_dir=tmp_path)
    assert counting.images == 20 and counting.calls == 2
    fake_f, _ = Features()(evaluation.sample_images(generator, 20, 10, 1.0, 0)[0])
    fake_mu, fake_sigma = feature_statistics.compute_statistics(fake_f)
    assert first["fid"] == pytest.approx(
        metrics.frechet_distance(mu, sigma, fake_mu, fake_sigma), rel=1e-9)
    # Without a cache the reference is streamed again.
    uncached = Features()
    evaluation.evaluate(generator, uncached, ["fid"], num_samples=20, reference=reference,
                        batch_size=10)
    assert uncached.images == 70
    with pytest.raises(ValueError, match="pass `feature_name="):
        evaluation.reference_statistics(reference, lambda x: Features()(x), tmp_path)


def test_real_images_from_data_config():
    reference = evaluation.RealImages.from_data_config({"source": "digits"}, 16, 10, seed=0)
    assert reference.name == "digits--train-seed0-n10" and reference.resolution == 16
    batches = list(reference.batches(4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    images = np.concatenate([b[0] for b in batches])
    assert images.shape == (10, 16, 16, 3) and images.min() >= -1.0 and images.max() <= 1.0
    again = np.concatenate([b[0] for b in reference.batches(4)])
    np.testing.assert_array_equal(images, again)  # Seeded: the same examples every pass.


def test_truncation_sweep_writes_csv_and_png(generator, tmp_path):
    real_f, _ = Features()(real_arrays(60)[0])
    stats = feature_statistics.compute_statistics(real_f)
    rows = evaluation.truncation_sweep(generator, Features(), (0.25, 1.0), num_samples=30,
                                       reference_stats=stats, batch_size=15, seed=5, splits=3)
    assert [row["truncation"] for row in rows] == [0.25, 1.0]
    for row in rows:
        images, _ = evaluation.sample_images(generator, 30, 15, row["truncation"], 5)
        fake_f, fake_l = Features()(images)
        assert row["is"] == pytest.approx(
            metrics.inception_score_from_logits(fake_l, splits=3)[0], rel=1e-6)
        mu, sigma = feature_statistics.compute_statistics(fake_f)
        assert row["fid"] == pytest.approx(metrics.frechet_distance(*stats, mu, sigma),
                                           rel=1e-9)
    assert rows[0]["fid"] != rows[1]["fid"]
    csv_path = evaluation.write_curve_csv(rows, tmp_path / "curve.csv")
    with open(csv_path, encoding="utf-8") as f:
        assert f.readline().strip() == "truncation,is,is_std,fid"
    assert evaluation.read_curve_csv(csv_path) == rows
    png = evaluation.plot_truncation_curve(rows, tmp_path / "out" / "curve.png")
    with Image.open(png) as picture:
        assert picture.format == "PNG" and picture.size == (1000, 400)


@pytest.fixture(scope="session")
def digits_cache(tmp_path_factory):
    """A cache dir holding the trained 32×32 digits classifier (trained once per session)."""
    cache_dir = tmp_path_factory.mktemp("digits_classifier_cache")
    metrics.load_digits_classifier(32, cache_dir=str(cache_dir))
    return cache_dir


@pytest.mark.slow
def test_evaluate_digits_on_an_untrained_generator(generator, digits_cache, tmp_path):
    results = evaluation.evaluate_digits(generator, num_samples=200, truncations=(0.5, 1.0),
                                         cache_dir=str(digits_cache), output_dir=tmp_path)
    for key in ("class_consistency", "fid_digits", "is_digits", "is_digits_real",
                "class_consistency_real", "fid_digits_real"):
        assert np.isfinite(results[key]), key
    assert results["is_digits_real"] > 8.0
    assert results["class_consistency_real"] >= 0.98
    # An untrained generator is far from the real digits.
    assert results["fid_digits"] > 10 * results["fid_digits_real"]
    assert 0.0 <= results["class_consistency"] <= 0.5
    rows = evaluation.read_curve_csv(tmp_path / "truncation_curve.csv")
    assert rows == results["truncation_curve"] and len(rows) == 2
    assert (tmp_path / "truncation_curve.png").stat().st_size > 0
    # The reference statistics were cached beside the classifier and are reused.
    cached = [name for name in os.listdir(digits_cache) if name.startswith("digits-train_")]
    assert len(cached) == 1 and cached[0].endswith("_32px.npz")
    again = evaluation.evaluate_digits(generator, num_samples=200, cache_dir=str(digits_cache))
    assert again["fid_digits"] == pytest.approx(results["fid_digits"], rel=1e-9)
    assert "truncation_curve" not in again


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
