"""Inception Score from classifier logits.

Salimans et al. 2016, "Improved Techniques for Training GANs" (arXiv 1606.03498):
    IS = exp(E_x KL(p(y|x) ‖ p(y))), p(y) the marginal over the split, reported as the mean and
    standard deviation over splits (10 in the paper).
"""

import numpy as np
import scipy.special

from tfbiggan.metrics import _arrays


def inception_score_from_logits(logits, splits=10):
    """Inception Score (mean, std) over `splits` consecutive splits of the samples.

    The samples are divided with `np.array_split` (split sizes differ by at most one, every
    sample is used); p(y) is the mean prediction within each split. The standard deviation is
    the population one (ddof = 0) over splits. Softmax and logarithms are taken in float64
    from the logits, so confident predictions do not produce log(0).

    Args:
      logits: classifier logits [N, num_classes] (array or tensor).
      splits: number of splits, 1 ≤ splits ≤ N.

    Returns:
      (mean, std) as Python floats.

    Example:
      >>> mean, std = inception_score_from_logits(logits, splits=10)

    Reference: Salimans et al. 2016 (arXiv 1606.03498).
    """
    logits = _arrays.as_float64(logits, "logits", ndim=2)
    splits = _arrays.check_positive_int(splits, "splits")
    if splits > logits.shape[0]:
        raise ValueError(
            f"`splits` must be at most the number of samples ({logits.shape[0]}), "
            f"got {splits}.")
    scores = []
    for part in np.array_split(logits, splits):
        log_p = scipy.special.log_softmax(part, axis=1)
        log_marginal = scipy.special.logsumexp(log_p, axis=0) - np.log(part.shape[0])
        p = np.exp(log_p)
        kl = np.sum(p * (log_p - log_marginal), axis=1)
        scores.append(np.exp(np.mean(kl)))
    return float(np.mean(scores)), float(np.std(scores))


inception_score = inception_score_from_logits
