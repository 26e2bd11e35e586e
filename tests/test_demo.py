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


def test_demo_writes_samples_module_and_figures(tmp_path):
    workdir = tmp_path / "digits"
    command = [sys.executable, "-m", "tfbiggan.demo", f"--workdir={workdir}", "--steps=3",
               "--num_samples=200", f"--cache_dir={tmp_path / 'cache'}"]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("samples.png", "evaluation.json", "truncation_curve.png",
                 "truncation_curve.csv", "module/saved_model.pb", "config.json"):
        assert (workdir / name).exists(), name
    figures = json.loads((workdir / "evaluation.json").read_text())
    assert figures["step"] == 3
    for key in ("class_consistency", "fid_digits", "is_digits"):
        assert np.isfinite(figures[key]), key
        assert f"{key}" in result.stdout
    # The real digits are the scale: the classifier knows them, and IS-real is high.
    assert figures["class_consistency_real"] >= 0.98
    assert figures["is_digits_real"] > 7.0
    # Three steps cannot make digits: the figures must say so.
    assert figures["class_consistency"] < 0.5
    assert figures["fid_digits"] > 10 * figures["fid_digits_real"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
