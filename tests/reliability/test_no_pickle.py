"""Loading weights, modules or workdirs never runs pickled or serialized code: no pickle-like
module is imported by the package, every `np.load` passes `allow_pickle=False`, nothing turns
Keras' safe mode off, and a pickled payload or a serialized lambda is refused, not run."""

import ast
import json
import os
import pathlib
import sys

import keras
import numpy as np
import pytest

from tests import conftest
from tests.reliability import recorder
from tfbiggan import convert
from tfbiggan.training import workdir as workdir_lib

SOURCE = recorder.case(
    "Loading", "Package source (tfbiggan/, export/) scanned for unsafe loading",
    "no pickle / dill / cloudpickle / joblib / shelve / marshal / torch.load; every np.load "
    "passes allow_pickle=False; no safe_mode=False or enable_unsafe_deserialization",
    message="allow_pickle=False")
NPZ = recorder.case(
    "Loading", "A weights .npz holding a pickled object whose unpickling would write a file",
    "ValueError from the converter; the object is never unpickled (no file appears)",
    message="allow_pickle")
LAMBDA = recorder.case(
    "Loading", "A workdir config.json whose model holds a serialized Python lambda",
    "ValueError from Keras' safe mode; the lambda's code is not run", message="unsafe")
recorder.existing(
    "tests/models/test_biggan_models.py::test_converter_rejects_bad_state_dicts", "Loading",
    "Converter .npz with an object array", "ValueError naming allow_pickle",
    message="allow_pickle")

_PACKAGES = ("tfbiggan", "export")
_FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib",
                      "shelve", "marshal"}


def _sources():
    for package in _PACKAGES:
        yield from sorted((conftest.REPO_ROOT / package).rglob("*.py"))


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _problems(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = lambda node: f"{path.relative_to(conftest.REPO_ROOT)}:{node.lineno}"  # noqa: E731
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{where(node)} imports {a.name}" for a in node.names
                      if a.name.split(".")[0] in _FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in \
                _FORBIDDEN_MODULES:
            found.append(f"{where(node)} imports from {node.module}")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func) or ""
            keywords = {k.arg: k.value for k in node.keywords}
            if name.endswith(".load") and name.split(".")[0] in ("np", "numpy"):
                value = keywords.get("allow_pickle")
                if not (isinstance(value, ast.Constant) and value.value is False):
                    found.append(f"{where(node)} calls {name} without allow_pickle=False")
            for key in ("allow_pickle", "safe_mode"):
                value = keywords.get(key)
                if isinstance(value, ast.Constant) and value.value is True and \
                        key == "allow_pickle":
                    found.append(f"{where(node)} passes allow_pickle=True")
                if key == "safe_mode" and value is not None and not (
                        isinstance(value, ast.Constant) and value.value is True):
                    found.append(f"{where(node)} passes safe_mode={ast.unparse(value)}")
            if name.endswith("enable_unsafe_deserialization") or name in ("torch.load",
                                                                           "pickle.loads"):
                found.append(f"{where(node)} calls {name}")
    return found


@SOURCE
def test_package_source_has_no_unsafe_loading():
    files = list(_sources())
    assert len(files) > 30  # The scan covers the package.
    problems = [p for path in files for p in _problems(path)]
    assert not problems, problems
    # The scan does see np.load calls, all with allow_pickle=False.
    calls = [path for path in files if SOURCE.message in path.read_text(encoding="utf-8")]
    assert any(path.parent.name == "convert" for path in calls)


def test_the_scan_finds_unsafe_calls(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\nimport numpy as np\nnp.load('x')\n"
                   "np.load('x', allow_pickle=True)\nkeras.saving.load_model('m', "
                   "safe_mode=False)\nkeras.config.enable_unsafe_deserialization()\n",
                   encoding="utf-8")
    original = conftest.REPO_ROOT
    try:
        conftest.REPO_ROOT = tmp_path
        problems = _problems(bad)
    finally:
        conftest.REPO_ROOT = original
    assert len(problems) == 6, problems


class _WritesAFile:
    """Unpickling this creates `path` (a harmless stand-in for running any code)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@NPZ
def test_pickled_npz_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "weights.npz"
    np.savez(path, **{"linear.weight": np.array([_WritesAFile(str(marker))], dtype=object)})
    with pytest.raises(ValueError, match=NPZ.message):
        convert.generator_from_biggan_pytorch(str(path), {"resolution": 32})
    assert not marker.exists()


@LAMBDA
def test_serialized_lambda_in_a_workdir_is_refused(tmp_path):
    marker = str(tmp_path / "ran")
    layer = keras.layers.Lambda(lambda x: (open(marker, "w"), x)[1])  # noqa: SIM115
    model = keras.Sequential([keras.Input((2,)), layer])
    payload = {"config": {}, "generator": keras.saving.serialize_keras_object(model),
               "discriminator": {}}
    with open(tmp_path / workdir_lib.CONFIG_FILE, "w", encoding="utf-8") as f:
        json.dump(payload, f, default=str)
    os.remove(marker)  # Building the model above ran the lambda once, here.
    with pytest.raises(ValueError, match=LAMBDA.message):
        workdir_lib.load_ema_generator(str(tmp_path))
    assert not os.path.exists(marker)
    assert not os.path.exists(pathlib.Path(tmp_path, "checkpoints"))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
