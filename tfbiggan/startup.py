"""Quiet start-up of the tfbiggan commands: TensorFlow's C++ and INFO logging stay out of sight.

TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, when it is first imported, and some lines (the
CUDA stub's "Could not find cuda drivers", absl's "All log messages before
absl::InitializeLog()") are written while its libraries load, whatever the level. So a command
prepares before anything imports TensorFlow (`tfbiggan/__init__.py` calls
`prepare_if_command()` first, which covers `python -m tfbiggan.X` and the `tfbiggan-*` console
scripts):

* `TF_CPP_MIN_LOG_LEVEL` defaults to 2 (C++ errors only; a value the user exported is kept);
* the first `import tensorflow` and the platform start-up run with file descriptor 2 captured;
  the start-up lines are dropped (C++ INFO/WARNING lines, absl's pre-initialisation notice and,
  on a machine without a CUDA driver, the "failed call to cuInit" error) and everything else
  is written to stderr as it came;
* INFO records that TensorFlow, Keras, TFDS and TF-Hub log through Python's logging are
  dropped (`logging_filter`); warnings and errors stay, and so do tfbiggan's own INFO lines.

`-v N` / `--verbosity=N` (absl's flag) turns all of this off: every line comes back and the C++
level follows the verbosity (0 or more: everything, -1: warnings, -2: errors, -3: fatal only).

Example:
  >>> from tfbiggan import startup
  >>> startup.prepare(sys.argv)      # before `import tensorflow`
"""

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile

# Modules whose INFO records a quiet command drops (their warnings and errors stay).
QUIET_PACKAGES = ("tensorflow", "tensorflow_datasets", "tensorflow_hub", "keras", "tf_keras")

# absl C++ log lines: "I0000 00:00:1796298076.082764    4773 cudart_stub.cc:31] ...".
# (Python's absl lines look the same but name a .py file.)
_CPP_LINE = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^ \]]+\.(?:cc|h|cpp|c):\d+\] ")
_STARTUP_NOTICES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",
)
_NO_DRIVER = "Could not find cuda drivers"
_CUINIT = "failed call to cuInit"

_state = {"prepared": False, "verbose": None}


def requested_verbosity(argv):
    """The value of absl's -v / --verbosity in `argv` (an int), or None when it is not given.

    Example:
      >>> requested_verbosity(["tfbiggan-train", "-v", "1"])
      1
    """
    args = list(argv[1:])
    for index, arg in enumerate(args):
        if arg == "--":
            break
        match = re.fullmatch(r"--?(v|verbosity)(?:=(.*))?", arg)
        if not match:
            continue
        value = match.group(2)
        if value is None:
            value = args[index + 1] if index + 1 < len(args) else ""
        try:
            return int(value)
        except ValueError:
            return 0  # absl reports the bad value; the output stays verbose.
    return None


def is_command(argv=None, orig_argv=None):
    """True when this process is a tfbiggan command: a `tfbiggan-*` console script, or
    `python -m` of a module under `tfbiggan.` or `export.`."""
    argv = sys.argv if argv is None else argv
    orig_argv = getattr(sys, "orig_argv", []) if orig_argv is None else orig_argv
    if argv and os.path.basename(argv[0]).startswith("tfbiggan-"):
        return True
    index = 1
    while index < len(orig_argv):
        arg = orig_argv[index]
        if arg == "-m":
            module = orig_argv[index + 1] if index + 1 < len(orig_argv) else ""
            return module.startswith(("tfbiggan.", "export."))
        if arg.startswith("-m"):
            return arg[2:].startswith(("tfbiggan.", "export."))
        if arg in ("-W", "-X", "--check-hash-based-pycs"):  # Options with a value.
            index += 1
        elif arg == "-c" or arg == "-" or not arg.startswith("-"):
            return False  # `-c` code, stdin or a script: not a command.
        index += 1
    return False


def prepare_if_command():
    """`prepare()` when this process is a tfbiggan command (see `is_command`), else nothing."""
    if is_command():
        prepare()


def prepare(argv=None):
    """Sets up the quiet start-up described in the module docstring (once per process).

    Args:
      argv: the command line (default `sys.argv`), read for -v / --verbosity.

    Returns:
      True if the output is quiet, False if -v / --verbosity asked for everything.
    """
    if _state["prepared"]:
        return not _state["verbose"]
    _state["prepared"] = True
    verbosity = requested_verbosity(sys.argv if argv is None else argv)
    if verbosity is not None:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(min(3, max(0, -verbosity)))
        _state["verbose"] = True
        return False
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _state["verbose"] = False
    if "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
    install_logging_filter()
    return True


def install_logging_filter():
    """Drops INFO records of `QUIET_PACKAGES` from absl's handler and Python's root handlers."""
    from absl import logging as absl_logging  # pylint: disable=import-outside-toplevel
    handlers = [absl_logging.get_absl_handler()] + list(logging.getLogger().handlers)
    for handler in handlers:
        if not any(isinstance(f, _QuietPackagesFilter) for f in handler.filters):
            handler.addFilter(_QuietPackagesFilter())
    # TensorFlow's own logger prints through a handler of its own as well.
    logging.getLogger("tensorflow").setLevel(logging.WARNING)


class _QuietPackagesFilter(logging.Filter):
    """Lets a record through unless it is below WARNING and comes from a quiet package."""

    def filter(self, record):
        if record.levelno >= logging.WARNING:
            return True
        path = record.pathname.replace("\\", "/")
        return not any(f"/{name}/" in path for name in QUIET_PACKAGES) and not (
            record.name.split(".")[0] in QUIET_PACKAGES)


def is_startup_noise(line, saw_missing_driver):
    """True for a line of TensorFlow's start-up that a quiet command drops."""
    if any(line.startswith(notice) for notice in _STARTUP_NOTICES):
        return True
    match = _CPP_LINE.match(line)
    if not match:
        return False
    if match.group(1) in "IW":
        return True
    # Without a CUDA driver the failed cuInit is expected; with one it is a real problem.
    return match.group(1) == "E" and _CUINIT in line and saw_missing_driver


def filter_startup_output(text):
    """`text` (captured stderr) without TensorFlow's start-up lines."""
    lines = text.splitlines(keepends=True)
    saw_missing_driver = any(_NO_DRIVER in line for line in lines)
    return "".join(line for line in lines
                   if not is_startup_noise(line.rstrip("\n"), saw_missing_driver))


@contextlib.contextmanager
def filtered_stderr():
    """Captures file descriptor 2 (C++ and Python writes alike) and, on exit, writes what was
    captured minus TensorFlow's start-up lines to the real stderr."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # No usable stderr: nothing to filter.
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = filter_startup_output(capture.read().decode("utf-8", "replace"))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's import and its platform start-up inside `filtered_stderr()`."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr():
            try:
                self._loader.exec_module(module)
            finally:
                # Later code sees TensorFlow's own loader.
                module.__loader__ = self._loader
                if getattr(module, "__spec__", None) is not None:
                    module.__spec__.loader = self._loader
            # The device platforms (CUDA's cuInit) start here, still filtered.
            config = getattr(module, "config", None)
            if config is not None:
                config.list_physical_devices()


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first `import tensorflow` in `_QuietLoader`."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec
