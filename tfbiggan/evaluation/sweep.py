"""The truncation sweep: fidelity against variety as the truncation changes (Brock et al. 2019,
Fig. 4), with the real data's point beside the curve."""

from tfbiggan.evaluation.replicas import split_over_replicas
from tfbiggan.evaluation.run import evaluate

DEFAULT_TRUNCATIONS = (0.2, 0.4, 0.6, 0.8, 1.0)
REAL = "real"  # The `truncation` of the real-vs-real row.


def truncation_sweep(generator, feature_fn, truncations, num_samples, reference_stats=None,
                     batch_size=100, seed=0, classes=None, splits=10, strategy=None,
                     metrics=("is", "fid"), reference=None, ceiling=None, cache_dir=None,
                     feature_name=None):
    """The named metrics across truncations (the same latents seed at every value).

    Args:
      generator: a tfbiggan generator or a loaded export.
      feature_fn: images → (features, logits).
      truncations: truncation values in (0, 1].
      num_samples: samples per truncation.
      reference_stats: (mu, sigma) of the real features (for FID; else from `reference`).
      batch_size, seed, classes: as for `evaluate`.
      splits: Inception Score splits.
      strategy: splits every batch over the replicas of a tf.distribute strategy.
      metrics: metric names (see `tfbiggan.evaluation.METRICS`).
      reference: the real `RealImages` the metrics compare with.
      ceiling: a second real split: adds a last row with `truncation` = "real" holding
        the real-vs-real values.
      cache_dir, feature_name: as for `evaluate`.

    Returns:
      One dict per truncation: {"truncation": t, metric outputs...} (Python floats), then
      the real row with `ceiling`.

    Example:
      >>> rows = truncation_sweep(generator, classifier, (0.2, 0.6, 1.0), 1000, (mu, sigma))
      >>> write_curve_csv(rows, "curve.csv"); plot_truncation_curve(rows, "curve.png")
    """
    truncations = [float(t) for t in truncations]
    if not truncations:
        raise ValueError("`truncations` must hold at least one value in (0, 1], got none.")
    feature_fn = split_over_replicas(feature_fn, strategy)  # Compiled once for all values.
    options = {"is": {"splits": splits}} if "is" in metrics else {}
    rows, real = [], None
    for index, truncation in enumerate(truncations):
        result = evaluate(generator, feature_fn, metrics, num_samples, truncation,
                          reference=reference, reference_stats=reference_stats,
                          batch_size=batch_size, seed=seed, classes=classes,
                          cache_dir=cache_dir, feature_name=feature_name, options=options,
                          strategy=strategy, ceiling=ceiling if index == 0 else None)
        rows.append({"truncation": truncation,
                     **{k: v for k, v in result.items() if not k.endswith("_real")}})
        if index == 0 and ceiling is not None:
            real = {"truncation": REAL, **{k[:-len("_real")]: v for k, v in result.items()
                                           if k.endswith("_real")}}
    return rows + ([real] if real else [])
