"""Within-class variety against NumPy's covariance, with analytic cases."""

import sys

import numpy as np
import pytest

from tfbiggan import metrics


def test_ratio_of_total_variances_per_class():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((300, 5))
    real_labels = np.arange(300) % 3
    fake = rng.standard_normal((240, 5))
    fake_labels = np.arange(240) % 3
    fake[fake_labels == 1] *= 0.5  # Variance a quarter of the data's.
    ratios = metrics.class_variety(real, real_labels, fake, fake_labels)
    for c in range(3):
        expected = (np.trace(np.cov(fake[fake_labels == c], rowvar=False))
                    / np.trace(np.cov(real[real_labels == c], rowvar=False)))
        assert ratios[c] == pytest.approx(expected, rel=1e-12)
    assert ratios[1] == pytest.approx(0.25, abs=0.08)
    assert ratios[0] == pytest.approx(1.0, abs=0.3)


def test_collapsed_class_and_skipped_classes():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((40, 3))
    labels = np.repeat([0, 1, 2, 3], 10)
    fake = np.concatenate([np.ones((5, 3)), rng.standard_normal((5, 3)), rng.normal(size=(1, 3))])
    fake_labels = np.array([0] * 5 + [1] * 5 + [2])
    ratios = metrics.class_variety(real, labels, fake, fake_labels)
    assert ratios[0] == 0.0  # One image repeated.
    assert set(ratios) == {0, 1}  # Class 2 has one sample, class 3 none.
    with pytest.raises(ValueError, match="no class has two or more"):
        metrics.class_variety(real, labels, fake[-1:], fake_labels[-1:])
    with pytest.raises(ValueError, match="one entry per feature row"):
        metrics.class_variety(real, labels[:5], fake, fake_labels)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
