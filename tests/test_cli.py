"""What the commands share (`tfbiggan.cli`): --help with the command's flags, shipped configs by
name, one-line errors with command-line hints, and the progress flag."""

import os
import subprocess
import sys
import textwrap

import ml_collections
import pytest
from absl import flags

from tests import conftest
from tests.training import helpers
from tfbiggan import cli

COMMANDS = {"tfbiggan-train": "tfbiggan.train", "tfbiggan-sample": "tfbiggan.sample",
            "tfbiggan-evaluate": "tfbiggan.evaluate", "tfbiggan-export": "export.export_hub",
            "tfbiggan-convert": "export.convert_pretrained"}
OWN_FLAGS = {
    "tfbiggan.train": ["--config:", "--workdir:", "--steps:", "--strategy:", "--tpu:",
                       "--[no]progress:"],
    "tfbiggan.sample": ["--workdir:", "--module:", "--classes:", "--truncation:", "--num:",
                        "--output:", "--standing_batches:"],
    "tfbiggan.evaluate": ["--workdir:", "--module:", "--metrics:", "--num_samples:",
                          "--inception:", "--data:", "--sweep:", "--[no]progress:"],
    "export.export_hub": ["--workdir:", "--output:", "--step:", "--bank_batches:"],
    "export.convert_pretrained": ["--source:", "--output:", "--[no]verify:", "--config:"],
}
# The config fields a user usually sets: data source, path, classes, resolution, steps, batch.
USUAL_FIELDS = ["--config.data.pipeline.source", "--config.data.pipeline.path",
                "--config.data.pipeline.num_classes", "--config.model.preset",
                "--config.training.steps", "--config.training.batch_size"]


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.update(PYTHONPATH=str(conftest.REPO_ROOT), CUDA_VISIBLE_DEVICES="", **extra)
    return env


def _run(args, cwd=conftest.REPO_ROOT, timeout=300):
    return subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def _console_script(name, *args):
    """What the installed `name` script runs: import the entry point, call it."""
    module = COMMANDS[name]
    code = textwrap.dedent(f"""
        import sys
        sys.argv = [{name!r}, *{list(args)!r}]
        from {module} import run
        try:
            run()
        except SystemExit as exit:
            print("exit", exit.code, "tensorflow" in sys.modules, file=sys.stderr)
            raise
    """)
    return [sys.executable, "-c", code]


# --help ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tfbiggan-train", "tfbiggan-sample", "tfbiggan-evaluate"])
def test_help_lists_the_commands_own_flags_and_exits_0(name):
    module = COMMANDS[name]
    for args in ([sys.executable, "-m", module, "--help"], _console_script(name, "--help")):
        result = _run(args)
        assert result.returncode == 0, result.stderr[-2000:]
        for flag in OWN_FLAGS[module]:
            assert flag in result.stdout, (flag, result.stdout)
        assert "-v,--verbosity" in result.stdout and "--helpfull" in result.stdout
        assert "Try --helpfull" not in result.stdout
    # The console-script form answers before TensorFlow is imported (a fast --help).
    assert result.stderr.strip().splitlines()[-1] == "exit 0 False"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tfbiggan-export", "tfbiggan-convert"])
def test_export_help_and_console_script(name):
    result = _run(_console_script(name, "-h"))
    assert result.returncode == 0, result.stderr[-2000:]
    for flag in OWN_FLAGS[COMMANDS[name]]:
        assert flag in result.stdout
    assert "exported" not in result.stdout.lower() or "--output" in result.stdout
    assert result.stderr.strip().splitlines() == ["exit 0 True"]  # Quiet, even with TF.


def test_train_help_lists_the_usual_config_fields_and_the_shipped_configs():
    result = _run([sys.executable, "-m", "tfbiggan.train", "--help"])
    assert result.returncode == 0
    for field in USUAL_FIELDS:
        assert field in result.stdout, field
    assert "digits" in result.stdout.split("shipped configs (--config=NAME):")[1]
    helpfull = _run([sys.executable, "-m", "tfbiggan.train", "--helpfull"])
    assert helpfull.returncode == 0 and "--[no]logtostderr" in helpfull.stdout


def test_help_text_lists_flags_with_help_and_defaults():
    values = flags.FlagValues()
    flags.DEFINE_integer("num", 8, "Samples per class.", flag_values=values)
    cli.define_progress_flags(values)
    text = cli.help_text("Usage: tfbiggan-x --num=N", values, cli.TRAINING_FIELDS)
    assert text.startswith("Usage: tfbiggan-x --num=N\n")
    assert "  --num: Samples per class. (default: '8')" in text
    assert "--[no]progress:" in text and "--no_progress" not in text  # Deprecated: hidden.
    assert "--config.training.batch_size" in text


# Shipped configs ------------------------------------------------------------------------------

def test_config_names_resolve_to_the_shipped_files(tmp_path, monkeypatch):
    shipped = cli.shipped_config_dir()
    assert os.path.samefile(shipped, conftest.REPO_ROOT / "configs")  # In a checkout.
    assert {"digits", "cifar10", "imagenet128"} <= set(cli.shipped_configs())
    digits = os.path.join(shipped, "digits.py")
    monkeypatch.chdir(tmp_path)  # Outside the checkout: configs/digits.py is no file here.
    for value in ("digits", "digits.py", "configs/digits.py"):
        assert cli.resolve_config(value) == digits
    assert cli.resolve_config("digits:small") == digits + ":small"
    own = tmp_path / "mine.py"
    own.write_text("def get_config(): return None\n")
    assert cli.resolve_config(str(own)) == str(own)
    with pytest.raises(cli.CommandError, match=r"--config=configs/nope.py: no such config "
                                               r"file; accepted: .*shipped config \(.*digits"):
        cli.resolve_config("configs/nope.py")
    with pytest.raises(cli.CommandError, match="no such config file"):
        cli.resolve_config("elsewhere/digits.py")  # Only a bare or configs/ name is shipped.


# Error messages -------------------------------------------------------------------------------

def _config():
    return ml_collections.ConfigDict({"seed": 0, "training": {"batch_size": 4, "steps": 2},
                                      "data": {"pipeline": {"source": "digits"}}})


def test_config_field_errors_name_the_flag_and_what_is_accepted():
    argv = ["train", "--config=digits", "--config.training.batch_sise=16"]
    message = cli.config_field_error(_config(), argv, "config")
    assert message == ("--config.training.batch_sise: `training` has no field `batch_sise`. "
                       "Did you mean --config.training.batch_size? Accepted fields of "
                       "`training`: batch_size, steps.")
    message = cli.config_field_error(_config(), ["t", "--config.trainng.steps=3"], "config")
    assert "the config has no field `trainng`. Did you mean --config.training?" in message
    message = cli.config_field_error(_config(), ["t", "--config.seed.x=1"], "config")
    assert "config field `seed` is a value, not a section" in message
    assert cli.config_field_error(_config(), ["t", "--config.seed=1"], "config") is None


def test_hints_name_the_flag_of_the_command():
    message = ("Image 'a.png' is 4x4, smaller than the target resolution 32. Remove it or set "
               "allow_upscale=True to upsample small images. Set skip_corrupt=True to skip.")
    train = cli.command_line_hints(message, "--config.data.pipeline.{field}={value}")
    assert "set --config.data.pipeline.allow_upscale=True to upsample" in train
    assert "Set --config.data.pipeline.skip_corrupt=True to skip." in train
    evaluate = cli.command_line_hints(message, "--data={field}={value}")
    assert "set --data=allow_upscale=True to" in evaluate
    # Names that are not data fields, and already written flags, stay as they are.
    assert cli.command_line_hints("got batch_size=3 and --x.path=1", "--c.{field}={value}") == (
        "got batch_size=3 and --x.path=1")


def test_one_line_errors(capsys):
    @cli.one_line_errors("--config.data.pipeline.{field}={value}")
    def main(argv):
        kind = argv[1]
        if kind == "value":
            raise ValueError("Folder 'x' is bad;\n  set skip_corrupt=True to skip.")
        if kind == "usage":
            raise cli.CommandError("--steps must be positive.", code=3)
        if kind == "bug":
            raise TypeError("a bug keeps its traceback")
        return 0

    for kind, code, line in [
            ("value", 1, "error: Folder 'x' is bad; set "
                         "--config.data.pipeline.skip_corrupt=True to skip."),
            ("usage", 3, "error: --steps must be positive.")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["cmd", kind])
        assert exit_info.value.code == code
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [line] and captured.out == ""
    with pytest.raises(TypeError):
        main(["cmd", "bug"])
    assert main(["cmd", "fine"]) == 0


def test_check_workdir_and_required_modules(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(cli.CommandError, match=r"--workdir=.*file is a file; accepted: a "
                                               r"directory \(a training workdir, new or "
                                               r"existing\)"):
        cli.check_workdir(str(tmp_path / "file"), must_exist=False)
    assert cli.check_workdir(str(tmp_path / "new"), must_exist=False) == str(tmp_path / "new")
    with pytest.raises(cli.CommandError, match="--workdir=.*new does not exist"):
        cli.check_workdir(str(tmp_path / "new"), must_exist=True)
    cli.require_modules(["json"], "the test", "demo")
    with pytest.raises(cli.CommandError, match=r"the plot needs no_such_module_xyz, which is "
                                               r"not installed; install it with `pip install "
                                               r"'tfbiggan\[demo\]'`"):
        cli.require_modules(["json", "no_such_module_xyz"], "the plot", "demo")


@pytest.mark.parametrize("args, expected", [
    ([], True), (["--noprogress"], False), (["--progress=false"], False),
    (["--no_progress"], False)])
def test_progress_flag_and_its_deprecated_spelling(args, expected, caplog):
    values = flags.FlagValues()
    cli.define_progress_flags(values)
    values(["cmd", *args])
    assert cli.progress_enabled(values) is expected
    deprecated = any("--no_progress is deprecated" in r.getMessage() for r in caplog.records)
    assert deprecated == (args == ["--no_progress"])


def _one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


def test_missing_config_file_is_one_line(tmp_path):
    result = _run([sys.executable, "-m", "tfbiggan.train", "--config=configs/nope.py",
                   f"--workdir={tmp_path / 'run'}"])
    assert result.returncode == 1
    line = _one_error_line(result)
    assert line.startswith("error: --config=configs/nope.py: no such config file; accepted:")
    assert "digits" in line


@pytest.mark.slow
@pytest.mark.parametrize("case", ["typo", "workdir_is_a_file", "data_hint"])
def test_train_mistakes_are_one_line(tmp_path, case):
    args = [sys.executable, "-m", "tfbiggan.train", f"--workdir={tmp_path / 'run'}"]
    if case == "typo":
        args += ["--config=digits", "--config.training.batch_sise=16"]
        expected, code = ("error: --config.training.batch_sise: `training` has no field "
                          "`batch_sise`. Did you mean --config.training.batch_size?"), 1
    elif case == "workdir_is_a_file":
        (tmp_path / "run").write_text("not a directory")
        args += ["--config=digits"]
        expected, code = f"error: --workdir={tmp_path / 'run'} is a file; accepted:", 1
    else:  # A 4×4 image for a 32×32 model: the hint is the flag that allows it.
        from PIL import Image  # pylint: disable=import-outside-toplevel
        (tmp_path / "images" / "cat").mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(tmp_path / "images" / "cat" / "small.png")
        config = tmp_path / "folder_config.py"
        config.write_text(textwrap.dedent(f"""
            from tfbiggan.training.defaults import digits_config
            def get_config():
                c = digits_config()
                c.data.pipeline.source = "folder"
                c.data.pipeline.path = {str(tmp_path / 'images')!r}
                return c
        """))
        args += [f"--config={config}"]
        expected, code = "error: Image ", 1
    result = _run(args + list(helpers.TINY_FLAGS))  # --config comes before its overrides.
    assert result.returncode == code, result.stderr[-3000:]
    line = _one_error_line(result)
    assert line.startswith(expected), line
    if case == "data_hint":
        assert "set --config.data.pipeline.allow_upscale=True to upsample" in line
    assert not (tmp_path / "run" / "checkpoints").exists()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
