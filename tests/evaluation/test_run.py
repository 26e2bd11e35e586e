"""`evaluate`: every registered metric against its function, and the real ceiling."""

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
    assert (results["density"], results["coverage"]) == pytest.approx(
        metrics.density_coverage(real_f, fake_f, k=5))
    ratios = metrics.class_variety(real_f, real_labels, fake_f, fake_labels)
    assert len(ratios) == NUM_CLASSES
    assert (results["variety"], results["variety_min"], results["variety_max"]) == \
        pytest.approx((np.mean(list(ratios.values())), min(ratios.values()),
                       max(ratios.values())))
    assert results["fid"] > 0.0 and 0.0 <= results["class_consistency"] <= 1.0
    assert not any(key.endswith("_real") for key in results)  # No ceiling was given.


def test_ceiling_gives_each_figure_on_a_second_real_split(generator):
    features = Features()
    real_images, real_labels = real_arrays(80, seed=3)
    held_images, held_labels = real_arrays(50, seed=11)
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="a")
    ceiling = evaluation.RealImages.from_arrays(held_images, held_labels, name="b")
    classes = evaluation.ceiling_classes(ceiling, 40)
    np.testing.assert_array_equal(classes, held_labels[:40])
    names = ("fid", "pr", "dc", "variety", "class_consistency")
    results = evaluation.evaluate(generator, features, names, 40, 1.0, reference=reference,
                                  batch_size=16, classes=classes, ceiling=ceiling)
    real_f, _ = features(real_images)
    held_f, held_l = features(held_images[:40])
    # The `_real` values are the metrics of the first 40 held-out images against the reference.
    assert results["fid_real"] == pytest.approx(metrics.fid_from_activations(real_f, held_f),
                                                rel=1e-6)
    assert (results["precision_real"], results["recall_real"]) == pytest.approx(
        metrics.precision_recall(real_f, held_f))
    assert (results["density_real"], results["coverage_real"]) == pytest.approx(
        metrics.density_coverage(real_f, held_f))
    ratios = metrics.class_variety(real_f, real_labels, held_f, held_labels[:40])
    assert results["variety_min_real"] == pytest.approx(min(ratios.values()))
    assert results["class_consistency_real"] == pytest.approx(
        np.mean(np.argmax(held_l, 1) == held_labels[:40]))
    # The generated figures are those of an evaluation without a ceiling.
    alone = evaluation.evaluate(generator, features, names, 40, 1.0, reference=reference,
                                batch_size=16, classes=classes)
    assert {k: results[k] for k in alone} == pytest.approx(alone)
    with pytest.raises(ValueError, match="holds 50 images, fewer than the 60 samples"):
        evaluation.evaluate(generator, features, ["fid"], 60, reference=reference,
                            ceiling=ceiling)


def test_unknown_metric_and_missing_reference(generator):
    with pytest.raises(ValueError, match=r"unknown metric\(s\) \['fidd'\]; accepted: fid, is, "
                                         r"kid, pr, dc, variety, intra_fid, swd, ms_ssim"):
        evaluation.evaluate(generator, Features(), "fid,fidd", num_samples=4)
    with pytest.raises(ValueError, match="FID needs real images: pass `reference=`"):
        evaluation.evaluate(generator, Features(), ["fid"], num_samples=4, batch_size=4)
    with pytest.raises(ValueError, match=r"`options` names metric\(s\) \['kid'\]"):
        evaluation.evaluate(generator, Features(), ["is"], num_samples=4,
                            options={"kid": {}})


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
