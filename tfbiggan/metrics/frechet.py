"""Fréchet distance between Gaussians fitted to features (FID).

Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium" (arXiv 1706.08500):
    FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½).
"""

import numpy as np
import scipy.linalg

from tfbiggan.metrics import _arrays
from tfbiggan.metrics import feature_statistics


def trace_sqrt_product(sigma1, sigma2):
    """Tr((Σ₁Σ₂)^½) for symmetric positive semi-definite Σ₁, Σ₂, real and stable.

    Σ₁Σ₂ = S·(SΣ₂) with S = Σ₁^½ has the eigenvalues of the symmetric matrix SΣ₂S, which are
    real and non-negative; their square roots sum to the trace. With Σ₁ = V·diag(w)·Vᵀ,
    SΣ₂S is similar to D·(VᵀΣ₂V)·D, D = diag(√w), so one eigendecomposition of Σ₁, two
    matrix products and the eigenvalues of a symmetric matrix replace the general (and, for
    near-singular covariances, complex and slow) `scipy.linalg.sqrtm`. Eigenvalues that
    rounding pushes below zero are clipped.
    """
    eigenvalues, eigenvectors = scipy.linalg.eigh(sigma1, driver="evd")
    roots = np.sqrt(np.clip(eigenvalues, 0.0, None))
    middle = eigenvectors.T @ sigma2 @ eigenvectors
    middle *= roots[:, None]
    middle *= roots[None, :]
    middle = (middle + middle.T) * 0.5
    eigenvalues = scipy.linalg.eigh(middle, eigvals_only=True, driver="evd")
    return float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64.

    Args:
      mu1, mu2: means [dim].
      sigma1, sigma2: covariance matrices [dim, dim] (symmetrised before use).

    Returns:
      The distance as a Python float (≥ 0).

    Example:
      >>> frechet_distance(np.zeros(2), np.eye(2), np.ones(2), np.eye(2))
      2.0

    Reference: Heusel et al. 2017 (arXiv 1706.08500).
    """
    mu1 = _arrays.as_float64(mu1, "mu1", ndim=1)
    mu2 = _arrays.as_float64(mu2, "mu2", ndim=1)
    sigma1 = _arrays.as_float64(sigma1, "sigma1", ndim=2)
    sigma2 = _arrays.as_float64(sigma2, "sigma2", ndim=2)
    dim = mu1.shape[0]
    if mu2.shape != (dim,):
        raise ValueError(f"`mu2` must have shape {(dim,)} like `mu1`, got {mu2.shape}.")
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (dim, dim):
            raise ValueError(
                f"`{name}` must have shape {(dim, dim)} to match the means, got {sigma.shape}.")
    sigma1 = (sigma1 + sigma1.T) * 0.5
    sigma2 = (sigma2 + sigma2.T) * 0.5
    diff = mu1 - mu2
    distance = (diff @ diff + np.trace(sigma1) + np.trace(sigma2)
                - 2.0 * trace_sqrt_product(sigma1, sigma2))
    return max(float(distance), 0.0)


def fid_from_activations(act1, act2, batch_size=8192):
    """FID between two sets of feature activations [N, dim] (e.g. Inception pool3).

    Args:
      act1, act2: activations [N1, dim] and [N2, dim], N ≥ 2 each; arrays or tensors.
      batch_size: rows converted to float64 at a time when forming the statistics.

    Returns:
      FID as a Python float.

    Example:
      >>> fid = fid_from_activations(real_features, fake_features)

    Reference: Heusel et al. 2017 (arXiv 1706.08500).
    """
    mu1, sigma1 = feature_statistics.compute_statistics(act1, batch_size)
    mu2, sigma2 = feature_statistics.compute_statistics(act2, batch_size)
    return frechet_distance(mu1, sigma1, mu2, sigma2)


def fid_from_statistics_and_activations(reference_path, activations, batch_size=8192):
    """FID of `activations` against reference statistics cached in an `.npz` file."""
    mu_ref, sigma_ref = feature_statistics.load_statistics(reference_path)
    mu, sigma = feature_statistics.compute_statistics(activations, batch_size)
    return frechet_distance(mu_ref, sigma_ref, mu, sigma)
