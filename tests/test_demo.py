"""The README's main job, at CI size: train the digits demo a few steps, then sample, export
and evaluate, and print the figures."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_digits_demo_writes_sheets_module_and_figures_beside_their_ceilings(tmp_path):
    workdir = tmp_path / "digits"
    command = [sys.executable, "-m", "tfbiggan.demo", "--dataset=digits",
               f"--workdir={workdir}", "--steps=3", "--num_samples=200",
               f"--cache_dir={tmp_path / 'cache'}"]
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
    # The real digits are the scale: the classifier knows them, and two halves of the real
    # digits cover each other.
    assert figures["class_consistency_real"] >= 0.98
    assert figures["recall_real"] > 0.7 and figures["coverage_real"] > 0.7
    # Three steps cannot make digits: the figures must say so.
    assert figures["class_consistency"] < 0.5
    assert figures["fid"] > 10 * figures["fid_real"]
    assert figures["coverage"] < 0.5 * figures["coverage_real"]
    rows = [row["truncation"] for row in figures["truncation_curve"]]
    assert rows == [0.3, 0.4, 0.6, 0.8, 1.0, "real"]

if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
