"""The benchmark scripts still work: each runs in its quick mode and prints its figures and the
command that reproduces them (timings are printed, never asserted)."""

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(module, *args):
    result = subprocess.run([sys.executable, "-m", module, "--quick", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _numbers(line):
    return [float(x) for x in re.findall(r"\d+\.\d+", line)]


def test_train_step_quick():
    out = _run("benchmarks.train_step")
    assert "command: python -m benchmarks.train_step --quick" in out
    rows = [line for line in out.splitlines() if line.startswith("quick")]
    assert len(rows) == 2  # jit off and on
    for row in rows:
        seconds, images_per_second = _numbers(row)[:2]
        assert seconds > 0 and images_per_second > 0


def test_scaling_quick():
    out = _run("benchmarks.scaling")
    rows = [line for line in out.splitlines() if line.startswith(("batch", "replicas"))]
    assert len(rows) == 2
    assert "command: python -m benchmarks.scaling --quick" in out


def test_sample_quick():
    out = _run("benchmarks.sample")
    assert "python -m benchmarks.sample" in out


def test_metrics_quick(tmp_path):
    out = _run("benchmarks.metrics", f"--cache_dir={tmp_path}")
    assert "python -m benchmarks.metrics" in out


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
