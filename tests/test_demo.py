"""The README's main job, at CI size: train the digits demo a few steps, then sample, export
and evaluate, and print the figures."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests import conftest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_missing_matplotlib_is_reported_before_any_training(tmp_path):
    """Without the [demo] extra the demo stops at once with one line naming the extra,
    instead of failing after training."""
    workdir = tmp_path / "digits"
    code = ("import sys; sys.modules['matplotlib'] = None  # as if not installed\n"
            f"sys.argv = ['demo', '--workdir={workdir}', '--steps=1']\n"
            "from tfbiggan import demo\n"
            "try:\n    demo.run()\n"
            "finally:\n    print('tensorflow' in sys.modules, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.splitlines() == [
        "error: python -m tfbiggan.demo (its truncation-curve plot) needs matplotlib, which "
        "is not installed; install it with `pip install 'tfbiggan[demo]'` (or `pip install "
        "matplotlib`).", "False"]
    assert not workdir.exists()


@pytest.mark.slow
def test_digits_demo_writes_sheets_module_and_figures_beside_their_ceilings(tmp_path):
    workdir = tmp_path / "digits"
    command = [sys.executable, "-m", "tfbiggan.demo", "--dataset=digits",
               f"--workdir={workdir}", "--steps=3", "--num_samples=200",
               f"--cache_dir={conftest.shared_cache_dir()}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("samples.png", "interpolation.png", "evaluation.json", "truncation_curve.png",
                 "truncation_curve.csv", "module/saved_model.pb", "config.json"):
        assert (workdir / name).exists(), name
    figures = json.loads((workdir / "evaluation.json").read_text())
    assert figures["step"] == 3 and figures["num_samples"] == 200
    for key in ("class_consistency", "fid", "is", "precision", "recall", "density",
                "coverage", "variety", "variety_min"):
        assert np.isfinite(figures[key]) and np.isfinite(figures[f"{key}_real"]), key
    for label in ("class consistency", "FID", "recall", "coverage", "within-class variety"):
        assert label in result.stdout, label
    # The real digits are the scale: the classifier knows them, and 200 real digits of the
    # held-out half cover the reference half (898 digits) as exchangeable samples do: a
    # reference point is uncovered when its k = 5 nearest reference neighbours all come before
    # the first of the M = 200 others, probability Π_{i<k} (N-1-i) / (N-1+M-i).
    assert figures["class_consistency_real"] >= 0.98
    n, m = 898, 200
    uncovered = np.prod([(n - 1 - i) / (n - 1 + m - i) for i in range(5)])
    assert abs(figures["coverage_real"] - (1 - uncovered)) < 0.08, figures["coverage_real"]
    assert figures["recall_real"] > 0.7
    # Three steps cannot make digits: the figures must say so.
    assert figures["class_consistency"] < 0.5
    assert figures["fid"] > 10 * figures["fid_real"]
    assert figures["coverage"] < 0.5 * figures["coverage_real"]
    rows = [row["truncation"] for row in figures["truncation_curve"]]
    assert rows == [0.3, 0.4, 0.6, 0.8, 1.0, "real"]

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
