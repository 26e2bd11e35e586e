"""What every tfbiggan command shares: quiet start-up, `--help`, shipped configs by name,
one-line errors and the progress flag.

A command module defines its absl flags and a `main(argv)`, and hands both to `run`:

    @cli.one_line_errors("--config.data.pipeline.{field}={value}")
    def main(argv):
        ...

    def run():
        cli.run(main, __doc__, config_flag="config", usual_fields=cli.TRAINING_FIELDS)

`run` then

* prepares the quiet start-up (`tfbiggan.startup`) before anything imports TensorFlow;
* answers `-h` / `--help` / `--helpshort` with the command's usage, its own flags (with their
  help and defaults) and the config fields users usually set, and exits 0 (`--helpfull` adds
  absl's flags);
* resolves `--config=NAME` to a shipped config (`configs/NAME.py` of the checkout, packaged as
  `tfbiggan/configs/` in the wheel) when NAME is not a file;
* reports a flag error, a config-field typo, a missing config file and (with
  `one_line_errors` on `main`) the errors that come from the user's input (ValueError,
  OSError, TensorFlow op errors, `CommandError`) as one line `error: ...` on stderr, with the
  exit status 1.

Example:
  >>> cli.run(main, __doc__)                       # in a command module's `run()`
"""

import difflib
import functools
import importlib.util
import os
import re
import sys
import textwrap

from tfbiggan import startup

EXIT_FAILURE = 1  # Every error, of the command line or of the run, as absl exits.
HELP_ARGS = ("-h", "--help", "-help", "--helpshort", "-?")
HELPFULL_ARGS = ("--helpfull", "-helpfull")

# (flag, what it sets) for `--help` of the training command.
TRAINING_FIELDS = (
    ("--config.data.pipeline.source", '"digits" (bundled), "folder", "tfds" or "tfrecord"'),
    ("--config.data.pipeline.path", "image folder (one sub-folder per class) or TFRecord "
                                    "files, for source folder / tfrecord"),
    ("--config.data.pipeline.name", 'TFDS dataset name for source tfds, e.g. "cifar10"'),
    ("--config.data.pipeline.num_classes", "classes of the data (labels 0 .. K-1)"),
    ("--config.model.overrides.num_classes", "classes of the model (default: the preset's)"),
    ("--config.model.preset", "architecture and resolution: biggan_32, biggan_64, "
                              "biggan_128, biggan_deep_128, ... (tfbiggan.models."
                              "list_presets())"),
    ("--config.model.overrides.ch", "channel width multiplier"),
    ("--config.training.steps", "training iterations (same as --steps)"),
    ("--config.training.batch_size", "global batch per update, over all replicas"),
    ("--config.checkpoint.every", "iterations between checkpoints"),
    ("--config.seed", "seed of the weights, latents and data order"),
)

# Data config fields named in error hints as `field=value` (see `command_line_hints`).
_DATA_FIELDS = ("source", "name", "data_dir", "manual_dir", "download", "path", "split",
                "num_classes", "random_flip", "shuffle_buffer", "skip_corrupt",
                "allow_upscale", "image_key", "label_key", "validate")


class CommandError(Exception):
    """An error a command reports as one line, with exit status `code`.

    Example:
      >>> raise CommandError("--output must name a .png file, got 'grid.jpg'.")
    """

    def __init__(self, message, code=EXIT_FAILURE):
        super().__init__(message)
        self.code = code


def one_line(message):
    """`message` on one line: lines joined with spaces, surplus whitespace removed."""
    return " ".join(part.strip() for part in str(message).strip().splitlines() if part.strip())


def fail(message, code=EXIT_FAILURE):
    """Prints `error: message` (one line) to stderr and exits with `code`."""
    sys.stdout.flush()
    print(f"error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


# Shipped configs ---------------------------------------------------------------------------------

def shipped_config_dir():
    """The folder of the shipped configs: `tfbiggan/configs/` in an installed wheel, else the
    checkout's `configs/` beside the `tfbiggan` package (None when neither exists)."""
    package = os.path.dirname(os.path.realpath(__file__))  # Through Bazel's runfile links.
    for candidate in (os.path.join(package, "configs"),
                      os.path.join(os.path.dirname(package), "configs")):
        if os.path.isfile(os.path.join(candidate, "digits.py")):
            return candidate
    return None


def shipped_configs():
    """Names of the shipped configs (file names without `.py`), sorted."""
    directory = shipped_config_dir()
    if directory is None:
        return []
    return sorted(name[:-3] for name in os.listdir(directory)
                  if name.endswith(".py") and not name.startswith("_"))


def resolve_config(value):
    """The config file for a `--config` value: `value` itself when it is a file (optionally
    `path:argument`), else the shipped config it names (`digits`, `digits.py` or
    `configs/digits.py`).

    Raises:
      CommandError: when it is neither, naming the shipped configs.

    Example:
      >>> resolve_config("digits")
      '/.../tfbiggan/configs/digits.py'
    """
    path, sep, argument = value.partition(":")
    if os.path.isfile(os.path.expanduser(path)):
        return value
    name = os.path.basename(path)
    name = name[:-3] if name.endswith(".py") else name
    if name in shipped_configs() and os.path.dirname(path) in ("", "configs"):
        return os.path.join(shipped_config_dir(), f"{name}.py") + sep + argument
    shipped = ", ".join(shipped_configs()) or "none found"
    raise CommandError(
        f"--config={value}: no such config file; accepted: the path of a config file (a "
        f"Python file with get_config()) or the name of a shipped config ({shipped}).")


def _resolve_config_argument(argv, flag):
    """`argv` with the value of --flag resolved by `resolve_config`."""
    argv = list(argv)
    for index, arg in enumerate(argv[1:], start=1):
        if arg == "--":
            break
        match = re.fullmatch(rf"--?{re.escape(flag)}(=(.*))?", arg)
        if not match:
            continue
        if match.group(1) is not None:
            argv[index] = f"--{flag}={resolve_config(match.group(2))}"
        elif index + 1 < len(argv):
            argv[index + 1] = resolve_config(argv[index + 1])
    return argv


def _override_paths(argv, flag):
    """(argument, field path) of every --flag.a.b=value in `argv`."""
    found = []
    for arg in argv[1:]:
        match = re.match(rf"--?{re.escape(flag)}\.([\w.]+)", arg)
        if match:
            found.append((arg, match.group(1)))
    return found


def config_field_error(config, argv, flag):
    """A message naming the first --flag.x.y override whose field `config` lacks, with the
    closest field names and the fields of its section; None if every field exists."""
    for arg, path in _override_paths(argv, flag):
        node, parts = config, path.split(".")
        for depth, part in enumerate(parts):
            keys = list(node.keys()) if hasattr(node, "keys") else None
            if keys is None:
                section = ".".join(parts[:depth])
                return (f"{arg.split('=')[0]}: config field `{section}` is a value, not a "
                        "section with fields.")
            if part in keys:
                node = node[part]
                continue
            section = ".".join(parts[:depth])
            where = f"`{section}`" if section else "the config"
            prefix = f"--{flag}." + (f"{section}." if section else "")
            close = difflib.get_close_matches(part, keys, n=3)
            hint = (f" Did you mean {' or '.join(prefix + c for c in close)}?" if close else "")
            return (f"{arg.split('=')[0]}: {where} has no field `{part}`.{hint} "
                    f"Accepted fields of {where}: {', '.join(sorted(keys))}.")
    return None


# Flags ---------------------------------------------------------------------------------------

def define_progress_flags(flag_values=None):
    """Defines --[no]progress and the deprecated --no_progress (same meaning as --noprogress).

    Example:
      >>> define_progress_flags()
      >>> progress_enabled()            # after the flags are parsed
      True
    """
    from absl import flags  # pylint: disable=import-outside-toplevel
    fv = {"flag_values": flag_values if flag_values is not None else flags.FLAGS}
    flags.DEFINE_boolean("progress", True,
                         "Show progress: a bar on a terminal, a log line every few updates "
                         "otherwise. --noprogress hides it.", **fv)
    flags.DEFINE_boolean("no_progress", False, "Deprecated spelling of --noprogress.", **fv)


def progress_enabled(flag_values=None):
    """The progress setting of the parsed flags (warns once about --no_progress)."""
    from absl import flags, logging  # pylint: disable=import-outside-toplevel
    values = flag_values if flag_values is not None else flags.FLAGS
    if values.no_progress:
        logging.warning("--no_progress is deprecated; use --noprogress.")
        return False
    return bool(values.progress)


def check_workdir(path, must_exist):
    """Raises CommandError unless `path` can be a workdir: a directory (existing when
    `must_exist`), or for training also a path that does not exist yet.

    Example:
      >>> check_workdir("/runs/digits", must_exist=False)
    """
    if path is None:
        raise CommandError("--workdir is required.")
    expanded = os.path.expanduser(path)
    if os.path.exists(expanded) and not os.path.isdir(expanded):
        raise CommandError(f"--workdir={path} is a file; accepted: a directory (a training "
                           "workdir" + ("" if must_exist else ", new or existing") + ").")
    if must_exist and not os.path.isdir(expanded):
        raise CommandError(f"--workdir={path} does not exist; accepted: the directory of a "
                           "training run (python -m tfbiggan.train --workdir=...).")
    return expanded


def require_modules(modules, purpose, extra):
    """Raises CommandError if a module is not installed (checked without importing it).

    Args:
      modules: importable names, e.g. ["matplotlib"].
      purpose: what needs them, for the message.
      extra: the tfbiggan extra that installs them, e.g. "demo".

    Example:
      >>> require_modules(["matplotlib"], "the truncation-curve plot", "demo")
    """
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise CommandError(
            f"{purpose} needs {', '.join(missing)}, which is not installed; install it with "
            f"`pip install 'tfbiggan[{extra}]'` (or `pip install {' '.join(missing)}`).")


# Help ----------------------------------------------------------------------------------------

def _flag_lines(flag):
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    if flag.short_name:
        name = f"-{flag.short_name},{name}"
    text = flag.help or ""
    if flag.default is not None and flag.default != []:
        text += f" (default: {flag.default_as_str})"
    return _wrap(f"{name}: {text}")


def _wrap(text, indent=2):
    return textwrap.wrap(text, width=96, initial_indent=" " * indent,
                         subsequent_indent=" " * (indent + 4))


def _own_flags(flag_values):
    """The flags not defined by absl itself, sorted by name (deprecated ones left out)."""
    own = []
    for module, module_flags in flag_values.flags_by_module_dict().items():
        if re.search(r"(^|[/\\.])absl([/\\.]|$)", str(module)):
            continue
        own.extend(f for f in module_flags if not f.help.startswith("Deprecated"))
    return sorted({f.name: f for f in own}.values(), key=lambda f: f.name)


def help_text(doc, flag_values=None, usual_fields=()):
    """The `--help` text: the command's docstring, its flags and the usual config fields."""
    from absl import flags  # pylint: disable=import-outside-toplevel
    values = flag_values if flag_values is not None else flags.FLAGS
    lines = [textwrap.dedent(doc or "").strip(), "", "flags:"]
    for flag in _own_flags(values):
        lines.extend(_flag_lines(flag))
    lines.extend(_wrap("-v,--verbosity: log verbosity (0: info, 1: debug, -1: warnings); "
                       "giving it also shows TensorFlow's start-up and C++ log lines, hidden "
                       "by default."))
    if usual_fields:
        lines.extend(["", "config fields users usually set (any field of the config can be "
                      "set the same way):"])
        width = max(len(name) for name, _ in usual_fields)
        for name, text in usual_fields:
            lines.extend(textwrap.wrap(f"{name.ljust(width)}  {text}", width=96,
                                       initial_indent="  ",
                                       subsequent_indent=" " * (width + 4)))
        shipped = ", ".join(shipped_configs())
        if shipped:
            lines.append("")
            lines.extend(_wrap(f"shipped configs (--config=NAME): {shipped}", indent=0))
    lines.extend(["", "--helpfull lists absl's flags as well."])
    return "\n".join(lines) + "\n"


def _help_requested(argv):
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg in HELP_ARGS:
            return "short"
        if arg in HELPFULL_ARGS:
            return "full"
    return None


# Errors --------------------------------------------------------------------------------------

def command_line_hints(message, field_flag):
    """`message` with every `field=value` of a data config field written as the flag a
    command-line user types, `field_flag.format(field=..., value=...)`.

    Example:
      >>> command_line_hints("set allow_upscale=True.", "--config.data.pipeline.{field}={value}")
      'set --config.data.pipeline.allow_upscale=True.'
    """
    if not field_flag:
        return message
    pattern = re.compile(r"(?<![\w.\-])(" + "|".join(_DATA_FIELDS) + r")=([^\s,;)]+?)"
                         r"(?=[.,;)]?(\s|$))")
    return pattern.sub(lambda m: field_flag.format(field=m.group(1), value=m.group(2)),
                       message)


def _expected_errors():
    errors = [ValueError, OSError, CommandError]
    if "tensorflow" in sys.modules:
        errors.append(sys.modules["tensorflow"].errors.OpError)
    return tuple(errors)


def _message(error):
    message = getattr(error, "message", None) if not isinstance(error, OSError) else None
    if message and "tensorflow" in sys.modules and isinstance(
            error, sys.modules["tensorflow"].errors.OpError):
        return message.strip().splitlines()[0]  # The node and graph trace follow.
    return str(error) or type(error).__name__


def one_line_errors(field_flag=None):
    """Decorates a command's `main(argv)`: the errors that come from the user's input
    (CommandError, absl's UsageError, ValueError, OSError, TensorFlow op errors) become one
    line `error: ...` on stderr and `SystemExit` with status 1; anything else (a bug) keeps
    its traceback.

    Args:
      field_flag: how a user of this command sets a data config field, a format string with
        {field} and {value}; hints such as `allow_upscale=True` are rewritten to it.

    Example:
      >>> @cli.one_line_errors("--config.data.pipeline.{field}={value}")
      ... def main(argv):
      ...     ...
    """
    def decorate(main):
        @functools.wraps(main)
        def guarded_main(argv):
            from absl import app  # pylint: disable=import-outside-toplevel
            try:
                return main(argv)
            except app.UsageError as error:
                fail(command_line_hints(str(error), field_flag))
            except CommandError as error:
                fail(command_line_hints(str(error), field_flag), error.code)
            except _expected_errors() as error:
                fail(command_line_hints(_message(error), field_flag), EXIT_FAILURE)
            return None

        return guarded_main

    return decorate


def _flags_parser(config_flag):
    from absl import flags  # pylint: disable=import-outside-toplevel

    def parse(argv):
        try:
            return flags.FLAGS(argv)
        except flags.Error as error:
            fail(str(error))
        except (AttributeError, KeyError) as error:
            # ml_collections reports an unknown config field this way.
            if config_flag is None or not _override_paths(argv, config_flag):
                raise
            config = flags.FLAGS[config_flag].parser.parse(
                _config_value(argv, config_flag))
            fail(config_field_error(config, argv, config_flag) or str(error))
        return None

    return parse


def _config_value(argv, flag):
    for index, arg in enumerate(argv[1:], start=1):
        match = re.fullmatch(rf"--?{re.escape(flag)}(=(.*))?", arg)
        if match:
            return match.group(2) if match.group(1) is not None else argv[index + 1]
    return None


def run(main, doc, *, config_flag=None, usual_fields=(), argv=None):
    """Runs a command: quiet start-up, help, config names, then `absl.app.run(main)` with
    one-line errors (see the module docstring).

    Args:
      main: the command's `main(argv)`, decorated with `one_line_errors` (undecorated, it
        gets the default decoration).
      doc: its usage text (the module docstring).
      config_flag: name of its `config_flags.DEFINE_config_file` flag, if any.
      usual_fields: (flag, description) pairs listed by --help (e.g. `TRAINING_FIELDS`).
      argv: the command line (default `sys.argv`).

    Example:
      >>> def run():
      ...     cli.run(main, __doc__, config_flag="config", usual_fields=cli.TRAINING_FIELDS)
    """
    argv = list(sys.argv if argv is None else argv)
    startup.prepare(argv)
    from absl import app, flags  # pylint: disable=import-outside-toplevel
    wanted = _help_requested(argv)
    if wanted:
        text = help_text(doc, flags.FLAGS, usual_fields)
        if wanted == "full":
            text += "\n" + flags.FLAGS.get_help() + "\n"
        sys.stdout.write(text)
        sys.exit(0)
    try:
        if config_flag is not None:
            argv = _resolve_config_argument(argv, config_flag)
    except CommandError as error:
        fail(str(error), error.code)
    app.run(one_line_errors()(main), argv=argv,
            flags_parser=_flags_parser(config_flag))
