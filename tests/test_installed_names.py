"""What an install of tfbiggan puts on the path: only the `tfbiggan` package.

The export code is `tfbiggan.export`; the checkout's `export/` folder holds entry points for
`python -m export.export_hub` and is not installed. The wheel and an editable install are
built from a copy of the files a build reads (offline: `--no-build-isolation`, `--no-index`);
their imports are checked in an interpreter started with `-S`, so that no other install of
tfbiggan (e.g. this checkout's own editable one) can answer them.
"""

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests import conftest

pytestmark = pytest.mark.slow

# What setuptools reads for a build (setup.cfg: metadata, packages; README: the description).
BUILD_INPUTS = ("pyproject.toml", "setup.cfg", "setup.py", "README.md", "tfbiggan", "export",
                "configs")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    missing = [name for name in ("setuptools", "wheel") if importlib.util.find_spec(name) is None]
    if missing:
        message = f"building offline needs {missing} (pip install -e '.[test]')"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    root = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        origin = conftest.REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, root / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(origin, root / name)
    return root


def _pip(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "pip", *args, "--no-deps",
                             "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                             "-q"], cwd=cwd, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


# Run with `python -S -c` after putting the install's directory first on sys.path (argv[1];
# argv[2] = "site" processes its .pth files, as an editable install needs). Prints where the
# modules that the package and its commands import come from.
_WHERE = """
import importlib.util, json, site, sys
if sys.argv[2] == "site":
    site.addsitedir(sys.argv[1])
else:
    sys.path.insert(0, sys.argv[1])
found = {}
for name in ("tfbiggan", "tfbiggan.export.export_hub", "tfbiggan.gan", "tfbiggan.demo",
             "tfbiggan.training.launch", "export", "export.export_hub"):
    try:
        spec = importlib.util.find_spec(name)
    except ImportError:
        spec = None
    found[name] = spec.origin if spec else None
print(json.dumps(found))
"""


def _where(path, mode, cwd):
    result = subprocess.run([sys.executable, "-S", "-c", _WHERE, str(path), mode], cwd=cwd,
                            capture_output=True, text=True, timeout=120, check=False,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


def _assert_installed_tfbiggan_only(found, root):
    assert found["export"] is None and found["export.export_hub"] is None, found
    for name in ("tfbiggan", "tfbiggan.export.export_hub", "tfbiggan.gan", "tfbiggan.demo",
                 "tfbiggan.training.launch"):
        assert found[name] and found[name].startswith(str(root)), (name, found[name], root)


def _imports_top_level_export(text):
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import) and any(
                alias.name.split(".")[0] == "export" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and not node.level and (
                (node.module or "").split(".")[0] == "export"):
            return True
    return False


def test_the_wheel_installs_only_the_tfbiggan_package(source, tmp_path):
    _pip("wheel", ".", "-w", str(tmp_path / "dist"), cwd=source)
    (wheel,) = (tmp_path / "dist").glob("tfbiggan-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/RECORD"))
        record = archive.read(f"{dist_info}/RECORD").decode().splitlines()
        top_level = archive.read(f"{dist_info}/top_level.txt").decode().split()
        modules = {n: archive.read(n).decode("utf-8") for n in names if n.endswith(".py")}
        archive.extractall(tmp_path / "installed")
    recorded = {line.split(",")[0] for line in record if line}
    assert {path.split("/")[0] for path in recorded} == {"tfbiggan", dist_info}
    assert top_level == ["tfbiggan"]
    assert {"tfbiggan/export/export_hub.py", "tfbiggan/export/__init__.py", "tfbiggan/gan.py",
            "tfbiggan/demo.py"} <= recorded
    # No installed module imports the checkout-only `export` package.
    assert not [name for name, text in modules.items() if _imports_top_level_export(text)]
    _assert_installed_tfbiggan_only(_where(tmp_path / "installed", "path", tmp_path),
                                    tmp_path / "installed")


def test_an_editable_install_maps_only_tfbiggan(source, tmp_path):
    prefix = tmp_path / "prefix"
    _pip("install", "-e", str(source), "--prefix", str(prefix), cwd=tmp_path)
    (site_dir,) = prefix.glob("lib/python*/site-packages")
    _assert_installed_tfbiggan_only(_where(site_dir, "site", tmp_path), source / "tfbiggan")


def test_a_checkout_runs_both_export_commands():
    found = _where(conftest.REPO_ROOT, "path", conftest.REPO_ROOT)
    assert found["export.export_hub"] == str(conftest.REPO_ROOT / "export" / "export_hub.py")
    assert found["tfbiggan.export.export_hub"] == str(
        conftest.REPO_ROOT / "tfbiggan" / "export" / "export_hub.py")
    # The checkout's entry point runs the package's code and defines no code of its own.
    text = (conftest.REPO_ROOT / "export" / "export_hub.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    assert not [node for node in tree.body if isinstance(node, (ast.FunctionDef,
                                                                ast.ClassDef))]
    assert "from tfbiggan.export.export_hub import" in text


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
