"""The truncation sweep, its CSV and plot, and the table of figures beside their ceilings."""

import sys

from PIL import Image
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
        assert picture.format == "PNG" and picture.size == (500, 400)


def test_sweep_with_a_ceiling_ends_with_the_real_row(generator, tmp_path):
    real_images, real_labels = real_arrays(60)
    held_images, held_labels = real_arrays(40, seed=9)
    reference = evaluation.RealImages.from_arrays(real_images, real_labels, name="a")
    ceiling = evaluation.RealImages.from_arrays(held_images, held_labels, name="b")
    names = ("fid", "pr", "class_consistency")
    rows = evaluation.truncation_sweep(generator, Features(), (0.3, 1.0), 40, metrics=names,
                                       reference=reference, ceiling=ceiling, batch_size=20,
                                       classes=held_labels)
    assert [row["truncation"] for row in rows] == [0.3, 1.0, "real"]
    direct = evaluation.evaluate(generator, Features(), names, 40, 1.0, reference=reference,
                                 batch_size=20, classes=held_labels, ceiling=ceiling)
    for key in ("fid", "precision", "recall", "class_consistency"):
        assert rows[1][key] == pytest.approx(direct[key], rel=1e-9)
        assert rows[2][key] == pytest.approx(direct[f"{key}_real"], rel=1e-9)
    path = evaluation.write_curve_csv(rows, tmp_path / "curve.csv")
    assert evaluation.read_curve_csv(path) == rows
    png = evaluation.plot_truncation_curve(rows, tmp_path / "curve.png")
    with Image.open(png) as picture:  # Precision and class consistency against recall.
        assert picture.size == (1000, 400)


def test_format_table_puts_each_figure_beside_its_ceiling():
    lines = evaluation.format_table({"fid": 3.0, "fid_real": 1.5, "recall": 0.4,
                                     "recall_real": 0.8, "kid": 0.1, "is_std": 0.2})
    assert lines[1].split() == ["FID", "3.0000", "1.5000", "2.00"]
    assert lines[2].split() == ["KID", "0.1000"]
    assert lines[3].split() == ["recall", "0.4000", "0.8000", "0.50"]
    assert len(lines) == 4  # Standard deviations are not figures of their own.


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
