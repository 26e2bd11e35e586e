"""Evaluation output: figures beside their real ceilings, the truncation curve as CSV and PNG."""

import csv
import math
import os

from tfbiggan import files
from tfbiggan.evaluation.sweep import REAL

# Output key → (label, the better direction: "low", "high" or "one" for ≈ 1 / the real value).
FIGURES = {
    "class_consistency": ("class consistency", "high"),
    "fid": ("FID", "low"),
    "is": ("IS", "high"),
    "kid": ("KID", "low"),
    "precision": ("precision", "high"),
    "recall": ("recall", "high"),
    "density": ("density", "one"),
    "coverage": ("coverage", "high"),
    "variety": ("within-class variety (mean)", "one"),
    "variety_min": ("within-class variety (min)", "one"),
    "variety_max": ("within-class variety (max)", "one"),
    "intra_fid": ("intra-FID", "low"),
    "swd": ("SWD", "low"),
    "ms_ssim": ("MS-SSIM", "low"),
}


# Numbers an evaluation records that are settings or context, not figures.
NOT_FIGURES = ("truncation", "num_samples", "classifier_accuracy", "step", "seed",
               "train_seconds_this_run")


def format_table(results, title="figure"):
    """Lines of a table: each figure of `results`, its real-vs-real value (`KEY_real`) and
    their ratio, in the order of `FIGURES` (then any others).

    Example:
      >>> print("\\n".join(format_table({"fid": 3.0, "fid_real": 1.0})))
    """
    keys = [k for k in FIGURES if k in results]
    keys += sorted(k for k in results if k not in FIGURES and k not in NOT_FIGURES
                   and not k.endswith("_real") and not k.endswith("_std")
                   and isinstance(results[k], (int, float)) and not isinstance(results[k], bool))
    lines = [f"  {title:30s} {'generated':>10s} {'real data':>10s} {'ratio':>7s}"]
    for key in keys:
        value, real = results[key], results.get(f"{key}_real")
        label = FIGURES.get(key, (key,))[0]
        real_text = f"{real:10.4f}" if real is not None else f"{'':10s}"
        ratio = (f"{value / real:7.2f}" if real not in (None, 0) and math.isfinite(real)
                 else "")
        lines.append(f"  {label:30s} {value:10.4f} {real_text} {ratio}")
    return lines


def write_curve_csv(rows, path):
    """Writes sweep rows as CSV (header: the first row's keys); returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    columns = list(rows[0])
    for row in rows[1:]:
        columns += [key for key in row if key not in columns]
    with files.atomic_write(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: (row[key] if row.get(key) == REAL else
                                   "" if key not in row else repr(float(row[key])))
                             for key in columns})
    return path


def read_curve_csv(path):
    """Reads rows written by `write_curve_csv` (floats; the real row keeps "real")."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{key: value if value == REAL else float(value)
                 for key, value in row.items() if value != ""} for row in csv.DictReader(f)]


def _panel(axis, rows, x_key, y_key, x_label, y_label):
    generated = [r for r in rows if r["truncation"] != REAL and x_key in r and y_key in r]
    axis.plot([r[x_key] for r in generated], [r[y_key] for r in generated], "o-",
              label="generated")
    for r in generated:
        axis.annotate(f"{r['truncation']:g}", (r[x_key], r[y_key]), textcoords="offset points",
                      xytext=(4, 4))
    for r in rows:
        if r["truncation"] == REAL and x_key in r and y_key in r:
            axis.plot([r[x_key]], [r[y_key]], "*", markersize=14, color="tab:red",
                      label="real data")
    axis.set_xlabel(x_label)
    axis.set_ylabel(y_label)
    axis.legend(loc="best", fontsize="small")


def plot_truncation_curve(rows, path, title="Truncation sweep"):
    """PNG of the trade-off curves, each point labelled by its truncation, the real data's
    point as a red star: fidelity (precision, or class consistency) against recall where
    the rows have them, and FID against IS. Uses matplotlib's Agg backend; returns the path.
    """
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # pylint: disable=import-outside-toplevel

    keys = set().union(*rows)
    panels = []
    if {"precision", "recall"} <= keys:
        panels.append(("recall", "precision", "recall (variety)", "precision (fidelity)"))
    if {"class_consistency", "recall"} <= keys:
        panels.append(("recall", "class_consistency", "recall (variety)", "class consistency"))
    if {"is", "fid"} <= keys:
        panels.append(("is", "fid", "IS (higher: better)", "FID (lower: better)"))
    figure, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4), squeeze=False)
    for axis, panel in zip(axes[0], panels):
        _panel(axis, rows, *panel)
    figure.suptitle(title)
    figure.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with files.atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return path
