"""Streaming mean and covariance of feature activations, and their `.npz` cache.

FID compares Gaussians fitted to feature activations; the statistics of a reference data set are
computed once (possibly over more samples than fit in memory) and cached as `.npz` (mu, sigma).
"""

import os

import numpy as np

from tfbiggan.metrics import _arrays


class RunningStatistics:
    """Mean and covariance accumulated over batches in float64.

    Batches are merged with the pairwise update of Chan, Golub & LeVeque (1979): each batch is
    centred on its own mean before its scatter matrix is formed, so no large sums of squares
    are subtracted from each other. The result equals `np.mean(x, 0)` and
    `np.cov(x, rowvar=False)` of all rows seen, up to float64 rounding.

    Args:
      dim: feature dimension, or None to take it from the first batch.

    Example:
      >>> stats = RunningStatistics()
      >>> for batch in np.split(np.random.randn(100, 4), 4):
      ...     stats.update(batch)
      >>> mu, sigma = stats.mean, stats.covariance
    """

    def __init__(self, dim=None):
        if dim is not None:
            dim = _arrays.check_positive_int(dim, "dim")
        self.dim = dim
        self.count = 0
        self._mean = None
        self._scatter = None  # Sum of outer products of deviations from the running mean.

    def update(self, batch):
        """Adds a batch of activations [N, dim] (any float dtype or a tensor)."""
        if hasattr(batch, "numpy"):
            batch = batch.numpy()
        batch = np.asarray(batch)
        if batch.ndim != 2:
            raise ValueError(f"`batch` must have shape [N, dim], got shape {batch.shape}.")
        if self.dim is None:
            self.dim = batch.shape[1]
        if batch.shape[1] != self.dim:
            raise ValueError(
                f"`batch` has {batch.shape[1]} features, expected {self.dim}.")
        n = batch.shape[0]
        if n == 0:
            return self
        batch = batch.astype(np.float64, copy=False)
        if not np.all(np.isfinite(batch)):
            raise ValueError("`batch` contains non-finite values (NaN or inf).")
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        batch_scatter = centred.T @ centred
        if self.count == 0:
            self._mean, self._scatter = batch_mean, batch_scatter
        else:
            total = self.count + n
            delta = batch_mean - self._mean
            self._mean = self._mean + delta * (n / total)
            self._scatter += batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self.count += n
        return self

    def merge(self, other):
        """Adds the statistics accumulated by another `RunningStatistics` (e.g. another host)."""
        if other.count == 0:
            return self
        if self.count == 0:
            self.dim, self.count = other.dim, other.count
            self._mean, self._scatter = other._mean.copy(), other._scatter.copy()
            return self
        if other.dim != self.dim:
            raise ValueError(f"cannot merge statistics of dim {other.dim} into dim {self.dim}.")
        total = self.count + other.count
        delta = other._mean - self._mean
        self._mean = self._mean + delta * (other.count / total)
        self._scatter = (self._scatter + other._scatter
                         + np.outer(delta, delta) * (self.count * other.count / total))
        self.count = total
        return self

    @property
    def mean(self):
        """Mean [dim], float64."""
        if self.count == 0:
            raise ValueError("no activations were accumulated.")
        return self._mean.copy()

    @property
    def covariance(self):
        """Unbiased covariance [dim, dim] (divides by N - 1, as `np.cov`), float64."""
        if self.count < 2:
            raise ValueError(
                f"the covariance needs at least 2 samples, got {self.count}.")
        return self._scatter / (self.count - 1)


def compute_statistics(activations, batch_size=8192):
    """(mu, sigma) of activations [N, dim] in float64, converting `batch_size` rows at a time."""
    batch_size = _arrays.check_positive_int(batch_size, "batch_size")
    if hasattr(activations, "numpy"):
        activations = activations.numpy()
    activations = np.asarray(activations)
    if activations.ndim != 2:
        raise ValueError(
            f"`activations` must have shape [N, dim], got shape {activations.shape}.")
    stats = RunningStatistics(activations.shape[1])
    for start in range(0, activations.shape[0], batch_size):
        stats.update(activations[start:start + batch_size])
    return stats.mean, stats.covariance


def save_statistics(path, mu, sigma):
    """Saves reference statistics as an `.npz` file with arrays `mu` and `sigma`."""
    mu = _arrays.as_float64(mu, "mu", ndim=1)
    sigma = _arrays.as_float64(sigma, "sigma", ndim=2)
    if sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(
            f"`sigma` must have shape {(mu.shape[0],) * 2} to match `mu`, got {sigma.shape}.")
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:  # A file object keeps NumPy from appending a second `.npz`.
        np.savez(f, mu=mu, sigma=sigma)


def load_statistics(path):
    """Loads (mu, sigma) saved by `save_statistics` (no pickled objects are accepted)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no statistics file at {path!r}.")
    with np.load(path, allow_pickle=False) as data:
        missing = {"mu", "sigma"} - set(data.files)
        if missing:
            raise ValueError(
                f"{path!r} lacks array(s) {sorted(missing)}; found {sorted(data.files)}.")
        return data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
