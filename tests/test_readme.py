"""Every ```python block of README.md runs as written, on its own.

How it works, for whoever adds a README section:

* Each ```python block is run by itself (a fresh namespace, the working directory a temporary
  folder): a block must define everything it uses (no `z`, `labels` or `path` from elsewhere).
* Large settings a block shows are swapped for small ones before it runs, by plain text
  replacement with `SUBSTITUTIONS` below (e.g. the 70 M-parameter "biggan_128" becomes a
  channel-width-4 "biggan_32"; the demo's module path becomes a module exported here). Add a pair when
  a new block needs one; a pair that matches no block fails the test, so the table stays true.
* A block whose first line is a comment starting with `# Illustrative` (visible in the
  README, e.g. `# Illustrative: needs the weights, ...`) is only compiled, not run: for code that
  needs files a reader brings (pretrained weights, a dataset). Say in that comment what it
  needs.
"""

import os
import pathlib
import re
import sys

import numpy as np
import pytest

from tests import conftest

README = conftest.REPO_ROOT / "README.md"
ILLUSTRATIVE = "# Illustrative"
MODULE_PATH = "workdirs/fashion_mnist/module"  # What the demo writes; exported here at test size.

# README text -> what runs in the test.
SUBSTITUTIONS = {
    'from_preset("biggan_128")': 'from_preset("biggan_32", ch=4, num_truncation_stats=3)',
    "num_batches=100, batch_size=64": "num_batches=2, batch_size=8",
    "num_batches=16, batch_size=64": "num_batches=1, batch_size=8",
    f'"{MODULE_PATH}"': "MODULE_PATH",  # Filled in by `_namespace`.
}


def python_blocks(text):
    """[(line number of the opening fence, code)] of every ```python block."""
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        blocks.append((text.count("\n", 0, match.start()) + 1, match.group(1)))
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def _substituted(code):
    for old, new in SUBSTITUTIONS.items():
        code = code.replace(old, new)
    return code


@pytest.fixture(scope="module")
def module_path(tmp_path_factory):
    """A tiny exported module in place of the demo's."""
    from tfbiggan.export import export_hub  # pylint: disable=import-outside-toplevel
    from tfbiggan.models.biggan import BigGANGenerator  # pylint: disable=import-outside-toplevel
    generator = BigGANGenerator(32, ch=4, num_classes=10, num_truncation_stats=3)
    generator(np.zeros((1, generator.dim_z), np.float32), np.array([0]))
    path = str(tmp_path_factory.mktemp("readme") / "module")
    export_hub.export_generator(generator, path, {"step": 1,
                                                  "class_names": [str(d) for d in range(10)]},
                                bank_batches=1, bank_batch_size=4)
    return path


def test_the_readme_has_python_blocks_and_every_substitution_is_used():
    assert len(BLOCKS) >= 5
    text = "".join(code for _, code in BLOCKS)
    unused = [old for old in SUBSTITUTIONS if old not in text]
    assert not unused, f"SUBSTITUTIONS entries that match no README block: {unused}"


@pytest.mark.slow
@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs(line, code, tmp_path, monkeypatch, request):
    compiled = compile(code, f"README.md:{line}", "exec")  # Every block is valid Python.
    if code.lstrip().startswith(ILLUSTRATIVE):
        return
    namespace = {"__name__": "__readme__"}
    if MODULE_PATH in code:
        namespace["MODULE_PATH"] = request.getfixturevalue("module_path")
    monkeypatch.chdir(tmp_path)
    compiled = compile(_substituted(code), f"README.md:{line}", "exec")
    exec(compiled, namespace)  # pylint: disable=exec-used


def test_illustrative_blocks_say_what_they_need():
    for line, code in BLOCKS:
        first = code.lstrip().splitlines()[0]
        if first.startswith(ILLUSTRATIVE):
            assert len(first) > len(ILLUSTRATIVE) + 10, f"README.md:{line}: {first!r}"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
