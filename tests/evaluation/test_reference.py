"""Real images: fingerprints, disjoint splits of a data config, cached statistics."""

import os
import sys

import numpy as np
import pytest
import tensorflow as tf

from tests import conftest  # noqa: F401  (two logical CPUs)
from tests.evaluation.helpers import (NUM_CLASSES, Features, TFFeatures, expected_latents,
                                      real_arrays, tiny_generator)
from tfbiggan import evaluation, metrics, standing_stats
from tfbiggan.metrics import feature_statistics


@pytest.fixture(scope="module")
def generator():
    return tiny_generator()


def test_reference_statistics_cache_round_trip_and_reuse(generator, tmp_path):
    real_images, real_labels = real_arrays(50)
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="random set")
    features = Features()
    mu, sigma = evaluation.reference_statistics(reference, features, tmp_path, batch_size=16)
    assert reference.key == f"random-set-{reference.fingerprint[:16]}"
    path = tmp_path / f"{reference.key}_pool4_32px.npz"
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
    assert reference.name == "digits--train" and reference.resolution == 16
    batches = list(reference.batches(4))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    images = np.concatenate([b[0] for b in batches])
    assert images.shape == (10, 16, 16, 3) and images.min() >= -1.0 and images.max() <= 1.0
    again = np.concatenate([b[0] for b in reference.batches(4)])
    np.testing.assert_array_equal(images, again)  # Seeded: the same examples every pass.
    # `skip` gives the next examples of the same pass: a disjoint split.
    following = evaluation.RealImages.from_data_config({"source": "digits"}, 16, 6, seed=0,
                                                       skip=7)
    both = evaluation.RealImages.from_data_config({"source": "digits"}, 16, 13, seed=0)
    whole = np.concatenate([b[0] for b in both.batches(5)])
    np.testing.assert_array_equal(np.concatenate([b[0] for b in following.batches(4)]),
                                  whole[7:13])
    assert len({reference.fingerprint, following.fingerprint, both.fingerprint}) == 3
    # Asking for more examples than the data holds is an error naming the counts.
    beyond = evaluation.RealImages.from_data_config({"source": "digits"}, 16, 10, seed=0,
                                                    skip=1790)
    with pytest.raises(ValueError, match="holds 1797 examples, fewer than the 1800 needed"):
        list(beyond.batches(500))


def test_fingerprints_follow_the_images():
    images, labels = real_arrays(20)
    a = evaluation.RealImages.from_arrays(images, labels, name="set")
    assert evaluation.RealImages.from_arrays(images.copy(), labels, name="set").fingerprint \
        == a.fingerprint
    changed = images.copy()
    changed[3, 4, 5, 0] += 0.25
    assert evaluation.RealImages.from_arrays(changed, labels, name="set").fingerprint \
        != a.fingerprint
    assert evaluation.RealImages.from_arrays(images, (labels + 1) % 10, name="set") \
        .fingerprint != a.fingerprint


def _write_folder(root, images):
    from PIL import Image  # pylint: disable=import-outside-toplevel
    for index, image in enumerate(images):
        folder = root / f"class{index % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index}.png")


def test_same_folder_name_other_images_do_not_share_a_cache_entry(generator, tmp_path):
    rng = np.random.default_rng(0)
    pictures = (rng.uniform(size=(12, 32, 32, 3)) * 255).astype(np.uint8)
    _write_folder(tmp_path / "a" / "fashion32", pictures)
    _write_folder(tmp_path / "b" / "other" / "fashion32", 255 - pictures)  # Inverted.
    cache = tmp_path / "cache"

    def fid(path):
        data = {"source": "folder", "path": str(path), "random_flip": False,
                "shuffle_buffer": 0}
        reference = evaluation.RealImages.from_data_config(data, 32, 12)
        return evaluation.evaluate(generator, Features(), ["fid"], 12, reference=reference,
                                   batch_size=6, cache_dir=cache)["fid"]

    first, second = fid(tmp_path / "a" / "fashion32"), fid(tmp_path / "b" / "other" / "fashion32")
    assert second != pytest.approx(first, rel=1e-3)
    assert len(list(cache.glob("*.npz"))) == 2
    uncached = evaluation.evaluate(
        generator, Features(), ["fid"], 12, batch_size=6,
        reference=evaluation.RealImages.from_data_config(
            {"source": "folder", "path": str(tmp_path / "b" / "other" / "fashion32"),
             "random_flip": False, "shuffle_buffer": 0}, 32, 12))["fid"]
    assert second == pytest.approx(uncached, rel=1e-9)
    # An edited folder (one image replaced) is a new entry, not the stale one.
    from PIL import Image  # pylint: disable=import-outside-toplevel
    edited = tmp_path / "a" / "fashion32" / "class0" / "0.png"
    Image.fromarray(255 - pictures[0]).save(edited)
    os.utime(edited, ns=(1, 1))  # A distinct modification time, however fast the test runs.
    third = fid(tmp_path / "a" / "fashion32")
    assert third != pytest.approx(first, rel=1e-6)
    assert len(list(cache.glob("*.npz"))) == 3


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
