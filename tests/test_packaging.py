"""The wheel: it ships the configs (as tfbiggan/configs/) and the console scripts, and a shipped
config loads by name outside the checkout."""

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import pytest

from tests import conftest

pytestmark = pytest.mark.slow

SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "tfbiggan", "export",
           "configs")
SCRIPTS = {"tfbiggan-train": "tfbiggan.train:run", "tfbiggan-sample": "tfbiggan.sample:run",
           "tfbiggan-evaluate": "tfbiggan.evaluate:run",
           "tfbiggan-export": "tfbiggan.export.export_hub:run",
           "tfbiggan-convert": "tfbiggan.export.convert_pretrained:run"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (the checkout gets no build/ folder)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    for name in SOURCES:
        origin = conftest.REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy(origin, source / name)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(root / "dist"), str(source)],
        capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (path,) = (root / "dist").glob("tfbiggan-*.whl")
    return path


def test_wheel_ships_every_config_and_the_console_scripts(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        scripts = archive.read(entry_points).decode()
        shipped = {os.path.basename(n) for n in names if n.startswith("tfbiggan/configs/")}
        for config in (conftest.REPO_ROOT / "configs").glob("*.py"):
            assert archive.read(f"tfbiggan/configs/{config.name}") == config.read_bytes()
    assert shipped == {p.name for p in (conftest.REPO_ROOT / "configs").glob("*.py")}
    assert {"digits.py", "cifar10.py", "imagenet128.py"} <= shipped
    for script, target in SCRIPTS.items():
        assert f"{script} = {target}" in scripts
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    # No `configs` or `export` package (the converter and exporter install as
    # tfbiggan.export), no tests.
    assert top_level == {"tfbiggan"}


def test_a_shipped_config_loads_by_name_outside_the_checkout(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)  # What `pip install` puts in site-packages.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = textwrap.dedent("""
        import runpy, sys
        import tfbiggan
        from tfbiggan import cli
        assert tfbiggan.__file__.startswith(sys.argv[1]), tfbiggan.__file__
        path = cli.resolve_config("digits")
        assert path.startswith(sys.argv[1]), path
        assert cli.resolve_config("configs/digits.py") == path
        config = runpy.run_path(path)["get_config"]()
        print(path, config.training.steps, config.data.pipeline.source)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    result = subprocess.run([sys.executable, "-c", code, str(site)], cwd=elsewhere, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    path, steps, source = result.stdout.split()
    assert path == str(site / "tfbiggan" / "configs" / "digits.py")
    assert (steps, source) == ("2000", "digits")


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
