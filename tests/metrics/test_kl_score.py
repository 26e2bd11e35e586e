"""Inception Score against an independent NumPy implementation and analytic cases."""

import sys

import numpy as np
import pytest

from tfbiggan import metrics


def _numpy_inception_score(logits, splits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    # Split sizes as documented: np.array_split (the first splits take the remainder).
    sizes = [len(part) for part in np.array_split(np.arange(len(probs)), splits)]
    scores, start = [], 0
    for size in sizes:
        part = probs[start:start + size]
        start += size
        marginal = part.mean(axis=0)
        kl = [sum(p_i * np.log(p_i / m_i) for p_i, m_i in zip(row, marginal) if p_i > 0)
              for row in part]
        scores.append(np.exp(np.mean(kl)))
    return np.mean(scores), np.std(scores)


@pytest.mark.parametrize("splits", [1, 3, 10])
def test_matches_numpy_formula(splits):
    logits = np.random.default_rng(splits).standard_normal((53, 7)) * 3.0
    mean, std = metrics.inception_score_from_logits(logits, splits=splits)
    expected_mean, expected_std = _numpy_inception_score(logits, splits)
    assert mean == pytest.approx(expected_mean, rel=1e-10)
    assert std == pytest.approx(expected_std, rel=1e-8, abs=1e-12)


def test_confident_uniform_predictions_score_the_number_of_classes():
    classes = 10
    logits = 1000.0 * np.eye(classes)[np.arange(200) % classes]  # One-hot, each class equally.
    mean, std = metrics.inception_score_from_logits(logits, splits=10)
    assert mean == pytest.approx(classes, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_identical_predictions_score_one():
    logits = np.tile(np.random.default_rng(0).standard_normal(5), (40, 1))
    assert metrics.inception_score_from_logits(logits, splits=4)[0] == pytest.approx(1.0)


def test_alias_and_errors():
    assert metrics.inception_score is metrics.inception_score_from_logits
    with pytest.raises(ValueError, match="splits"):
        metrics.inception_score_from_logits(np.zeros((5, 3)), splits=6)
    with pytest.raises(ValueError, match="splits"):
        metrics.inception_score_from_logits(np.zeros((5, 3)), splits=0)
    with pytest.raises(ValueError, match="logits"):
        metrics.inception_score_from_logits(np.zeros(5), splits=1)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
