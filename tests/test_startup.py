"""The quiet start-up of the commands (`tfbiggan.startup`): which processes are commands, how
-v is read, which captured lines are dropped, and that a library import changes nothing.
The real commands are run in tests/test_commands.py."""

import os
import subprocess
import sys

import pytest

from tests import conftest
from tfbiggan import startup

# The first six lines as `import tensorflow` and the device start-up print them on a CPU-only
# machine (TF 2.21; the W line is of the same kind), then lines that must stay: a Python
# warning, a real C++ error and tfbiggan's own absl line.
CPU_STARTUP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796298076.082764    4773 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796298076.138900    4773 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
W0000 00:00:1796298076.200000    4773 loader.cc:12] Could not load dynamic library 'libnvinfer.so.8'
E0000 00:00:1796298082.591895    4773 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
/site-packages/tensorflow/x.py:3: UserWarning: a Python warning during the import
E0000 00:00:1796298082.700000    4773 other.cc:9] a real C++ error
I1203 11:41:33.910580 140218405440384 trainer.py:152] tfbiggan's own absl line
"""


def test_startup_lines_are_dropped_and_the_rest_kept():
    kept = startup.filter_startup_output(CPU_STARTUP).splitlines()
    assert kept == ["/site-packages/tensorflow/x.py:3: UserWarning: a Python warning during "
                    "the import",
                    "E0000 00:00:1796298082.700000    4773 other.cc:9] a real C++ error",
                    "I1203 11:41:33.910580 140218405440384 trainer.py:152] tfbiggan's own "
                    "absl line"]


def test_a_failed_cuinit_is_kept_when_a_cuda_driver_is_installed():
    # Without the "Could not find cuda drivers" line the driver exists, so cuInit's failure
    # is a real problem and stays.
    text = "".join(line + "\n" for line in CPU_STARTUP.splitlines() if "cudart_stub" not in line)
    assert any("failed call to cuInit" in line
               for line in startup.filter_startup_output(text).splitlines())


def test_filtered_stderr_captures_file_descriptor_2(capfd):
    with startup.filtered_stderr():
        os.write(2, CPU_STARTUP.encode())  # As C++ code writes it.
        print("a python line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "cudart_stub" not in err and "absl::InitializeLog" not in err
    assert "a real C++ error" in err and "a python line" in err and "UserWarning" in err


@pytest.mark.parametrize("argv, expected", [
    (["tfbiggan-train", "--config=digits"], None),
    (["tfbiggan-train", "-v", "1"], 1),
    (["tfbiggan-train", "--verbosity=-1"], -1),
    (["tfbiggan-train", "--v=0"], 0),
    (["tfbiggan-train", "-v=2", "--workdir=x"], 2),
    (["tfbiggan-train", "--verbosity", "0"], 0),
    (["tfbiggan-train", "--", "-v", "1"], None),
    (["tfbiggan-train", "--vv=1"], None),
])
def test_requested_verbosity(argv, expected):
    assert startup.requested_verbosity(argv) == expected


@pytest.mark.parametrize("argv, orig_argv, expected", [
    (["/venv/bin/tfbiggan-train"], ["/venv/bin/python", "/venv/bin/tfbiggan-train"], True),
    (["-m"], ["python", "-m", "tfbiggan.train", "--help"], True),
    (["-m"], ["python", "-W", "ignore", "-u", "-m", "export.export_hub"], True),
    (["-m"], ["python", "-mtfbiggan.demo"], True),
    (["-m"], ["python", "-m", "pytest", "tests"], False),
    (["-c"], ["python", "-c", "import tfbiggan"], False),
    (["script.py"], ["python", "script.py", "-m", "tfbiggan.train"], False),
])
def test_is_command(argv, orig_argv, expected):
    assert startup.is_command(argv, orig_argv) is expected


def test_importing_the_library_changes_nothing():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    code = ("import os, sys, tfbiggan; "
            "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'), "
            "any('Quiet' in type(f).__name__ for f in sys.meta_path))")
    result = subprocess.run([sys.executable, "-c", code], cwd=conftest.REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "False"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
