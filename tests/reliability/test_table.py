"""docs/reliability.md is current, and every row names a test that exists."""

import ast
import sys

import pytest

# The table gathers rows from every test module of the tree, which a Bazel test's runfiles
# do not hold; the pytest step of CI runs it.
pytestmark = pytest.mark.slow

from tests.reliability import recorder, render_table


def _functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_row_names_an_existing_test():
    rows = render_table.collect()
    assert len(rows) >= 50
    for row in rows:
        assert row.test, row
        path = recorder.node_file(row.test)
        assert path.exists(), row.test
        assert row.test.split("::")[1] in _functions(path), row.test
        assert row.fault and row.outcome, row


def test_committed_table_is_current():
    text = render_table.render(render_table.collect())
    assert render_table.TABLE.exists(), "run `python -m tests.reliability.render_table`"
    assert render_table.TABLE.read_text(encoding="utf-8") == text, (
        "docs/reliability.md is out of date: run `python -m tests.reliability.render_table`")


def test_render_escapes_and_rejects_unknown_areas():
    row = recorder.Row("Data", "a | b", "ok", "x|y", "tests/t.py::test_a")
    assert "| a \\| b | ok | `x\\|y` | `tests/t.py::test_a` |" in render_table.render([row])
    with pytest.raises(ValueError, match=r"unknown areas \['Nowhere'\]"):
        render_table.render([recorder.Row("Nowhere", "f", "o")])


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
