"""The Bazel BUILD file matches the source tree, and its generator reads imports correctly."""

import difflib
import importlib.util
import pathlib
import subprocess
import sys
import textwrap

import pytest

# Resolved, so that under Bazel the check looks at the checkout, not at the runfiles tree.
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
GENERATOR = REPO_ROOT / ".ci" / "update_build.py"


@pytest.fixture(scope="module")
def update_build():
    if not GENERATOR.is_file():
        pytest.fail(f"BUILD generator not found at {GENERATOR}")
    spec = importlib.util.spec_from_file_location("update_build", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(root, files):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")


def _by_name(targets):
    return {target.name: target for target in targets}


FIXTURE_TREE = {
    "setup.cfg": "[tool:pytest]\ntestpaths = tests\n",
    "tfbiggan/__init__.py": '__version__ = "0"\n',
    "tfbiggan/validation.py": "",
    "tfbiggan/layers/__init__.py": "from tfbiggan.layers.spectral_norm import SpectralNormConv\n",
    "tfbiggan/layers/spectral_norm.py": """\
        import tensorflow as tf
        from tfbiggan import validation
        class SpectralNormConv: pass
        """,
    "tfbiggan/models/__init__.py": "",
    "tfbiggan/models/presets.json": "{}\n",
    "tests/__init__.py": "",
    "tests/conftest.py": "import tensorflow\n",
    "tests/layer_harness.py": "from tests import conftest\n",
    "tests/layers/__init__.py": "",
}


def test_build_file_is_current(update_build):
    build = REPO_ROOT / "BUILD"
    assert build.is_file(), "BUILD is missing: run `python .ci/update_build.py`"
    current = build.read_text(encoding="utf-8")
    expected = update_build.generate(REPO_ROOT)
    if current != expected:
        diff = "".join(difflib.unified_diff(
            current.splitlines(keepends=True), expected.splitlines(keepends=True),
            "BUILD (current)", "BUILD (generated)"))
        pytest.fail("BUILD is stale (a module or test was added, removed or changed its "
                    "imports): run `python .ci/update_build.py`\n" + diff, pytrace=False)


def test_new_module_and_test_are_listed_with_their_deps(update_build, tmp_path):
    _write(tmp_path, FIXTURE_TREE)
    _write(tmp_path, {
        "tfbiggan/layers/new_layer.py": """\
            import numpy as np
            from . import spectral_norm
            from tfbiggan.validation import check_positive
            """,
        "tests/layers/test_new_layer.py": """\
            import pytest
            from tests import layer_harness
            from tfbiggan.layers.new_layer import NewLayer

            def test_it():
                pass
            """,
    })
    targets = _by_name(update_build.collect_targets(tmp_path))

    library = targets["tfbiggan_layers_new_layer"]
    assert library.kind == "py_library"
    assert library.srcs == ["tfbiggan/layers/new_layer.py"]
    # Siblings resolve to their modules; the enclosing packages are not deps (no cycles).
    assert library.deps == {"tfbiggan_layers_spectral_norm", "tfbiggan_validation"}
    assert targets["tfbiggan_layers"].deps == {"tfbiggan_layers_spectral_norm"}
    assert targets["tfbiggan_models"].data == ["tfbiggan/models/presets.json"]

    test = targets["tests_layers_test_new_layer"]
    assert test.kind == "py_test"
    assert test.srcs == ["tests/layers/test_new_layer.py"]
    # The module, plus the packages Python imports on the way to it, plus the test support.
    assert test.deps == {"tfbiggan", "tfbiggan_layers", "tfbiggan_layers_new_layer",
                         "tests_support"}
    assert test.tags == []

    support = targets["tests_support"]
    assert support.srcs == ["tests/__init__.py", "tests/conftest.py", "tests/layer_harness.py",
                            "tests/layers/__init__.py"]
    assert support.data == ["setup.cfg"]

    text = update_build.generate(tmp_path)
    assert 'name = "tests_layers_test_new_layer"' in text
    assert 'main = "tests/layers/test_new_layer.py"' in text
    assert text == update_build.generate(tmp_path)  # Deterministic.


def test_from_package_import_resolves_module_or_package(update_build, tmp_path):
    _write(tmp_path, FIXTURE_TREE)
    _write(tmp_path, {"tests/test_imports.py": """\
        from tfbiggan.layers import SpectralNormConv
        from tfbiggan import models
        import tfbiggan.missing_module

        def test_it():
            pass
        """})
    test = _by_name(update_build.collect_targets(tmp_path))["tests_test_imports"]
    # A name that is not a module resolves to the package; a missing module to its package.
    assert test.deps == {"tfbiggan", "tfbiggan_layers", "tfbiggan_models", "tests_support"}


def test_modules_named_in_strings_and_readme_are_deps(update_build, tmp_path):
    """Code a test runs in a subprocess, and README names a test resolves, need their modules
    in the test's runfiles although the test file never imports them."""
    _write(tmp_path, FIXTURE_TREE)
    _write(tmp_path, {
        "README.md": "Run `python -m tfbiggan.models` or\n\n    from tfbiggan import validation\n",
        "tests/test_subprocess.py": """\
            import subprocess, sys

            def test_it():
                subprocess.run([sys.executable, "-m", "tfbiggan.layers.spectral_norm"])
                subprocess.run([sys.executable, "-c", "from tfbiggan import validation"])
            """,
        "tests/test_reads_readme.py": """\
            import pathlib
            README = pathlib.Path(__file__).parents[1] / "README.md"

            def test_it():
                README.read_text()
            """,
        "tests/test_plain.py": "def test_it():\n    assert 'tfbiggan is a library'\n",
    })
    targets = _by_name(update_build.collect_targets(tmp_path))
    assert targets["tests_test_subprocess"].deps == {
        "tfbiggan", "tfbiggan_layers", "tfbiggan_layers_spectral_norm", "tfbiggan_validation",
        "tests_support"}
    assert targets["tests_test_reads_readme"].deps == {
        "tfbiggan", "tfbiggan_models", "tfbiggan_validation", "tests_support"}
    assert targets["tests_test_plain"].deps == {"tests_support"}
    # Libraries are not scanned for strings (their imports alone decide, keeping them acyclic).
    assert targets["tfbiggan_validation"].deps == set()


def test_a_test_importing_other_test_files_gets_them_and_their_deps(update_build, tmp_path):
    _write(tmp_path, FIXTURE_TREE)
    _write(tmp_path, {
        "tests/layers/test_base.py": "import tfbiggan.validation\n\ndef test_it():\n    pass\n",
        "tests/layers/test_middle.py": "from tests.layers import test_base\n",
        "tests/layers/test_derived.py": "from tests.layers.test_middle import test_base\n",
    })
    test = _by_name(update_build.collect_targets(tmp_path))["tests_layers_test_derived"]
    assert test.srcs == ["tests/layers/test_derived.py", "tests/layers/test_base.py",
                         "tests/layers/test_middle.py"]
    # The imported files' own imports come along (transitively).
    assert test.deps == {"tfbiggan", "tfbiggan_validation", "tests_support"}
    assert 'main = "tests/layers/test_derived.py"' in update_build.render([test])


def test_slow_files_are_tagged(update_build, tmp_path):
    _write(tmp_path, FIXTURE_TREE)
    _write(tmp_path, {
        "tests/test_module_slow.py": """\
            import pytest
            pytestmark = [pytest.mark.slow, pytest.mark.fixtures]

            def test_it():
                pass
            """,
        "tests/test_all_slow.py": """\
            import pytest

            @pytest.mark.slow
            def test_one():
                pass

            @pytest.mark.slow
            class TestMore:
                def test_two(self):
                    pass
            """,
        "tests/test_mixed.py": """\
            import pytest

            @pytest.mark.slow
            def test_one():
                pass

            def test_two():
                pass
            """,
    })
    targets = _by_name(update_build.collect_targets(tmp_path))
    assert targets["tests_test_module_slow"].tags == ["slow"]
    assert targets["tests_test_all_slow"].tags == ["slow"]
    assert targets["tests_test_mixed"].tags == []
    assert targets["tests_test_module_slow"].size != targets["tests_test_mixed"].size


def test_import_cycles_are_broken_and_tests_keep_every_module(update_build, tmp_path):
    _write(tmp_path, FIXTURE_TREE)
    _write(tmp_path, {
        "tfbiggan/a.py": "from tfbiggan import b\n",
        "tfbiggan/b.py": "from tfbiggan import a\n",
        "tests/test_b.py": "import tfbiggan.b\n",
    })
    targets = _by_name(update_build.collect_targets(tmp_path))
    assert targets["tfbiggan_a"].deps == {"tfbiggan_b"}
    assert targets["tfbiggan_b"].deps == set()
    assert {"tfbiggan_a", "tfbiggan_b"} <= targets["tests_test_b"].deps


def test_check_reports_a_stale_build(tmp_path):
    _write(tmp_path, FIXTURE_TREE)
    command = [sys.executable, str(GENERATOR), "--root", str(tmp_path)]
    assert subprocess.run(command, check=False).returncode == 0
    assert subprocess.run(command + ["--check"], check=False).returncode == 0
    _write(tmp_path, {"tfbiggan/new_module.py": ""})
    stale = subprocess.run(command + ["--check"], capture_output=True, text=True, check=False)
    assert stale.returncode == 1
    assert '+    name = "tfbiggan_new_module",' in stale.stdout
    assert "BUILD is stale" in stale.stderr


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
