"""The reliability table's rows, declared by the tests that check them.

Each test registers the fault or input it tries, what happens, and the message text it
asserts (`Row.message`: the test checks this exact text in the real output, so the table
shows what the tests verify). `render_table.py` collects the rows into docs/reliability.md.

    ROW = recorder.case("Training", "kill -9 during a step", "resumes ...", message="Resumed")

    @ROW
    def test_...():
        assert ROW.message in output
"""

import dataclasses
import pathlib

ROWS = []
"""Every registered Row, in registration order."""

_ROOT = pathlib.Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Row:
    """One line of the table: `area` groups rows; `test` is the checking test's node id."""
    area: str
    fault: str
    outcome: str
    message: str = ""
    test: str = ""

    def __call__(self, function):
        """Used as a decorator: names the decorated test as the one that checks this row."""
        path = pathlib.Path(function.__code__.co_filename).resolve().relative_to(_ROOT)
        self.test = f"{path.as_posix()}::{function.__name__}"
        function.reliability_rows = getattr(function, "reliability_rows", []) + [self]
        return function


def case(area, fault, outcome, message="", test=""):
    """Registers and returns a Row (decorate the test with it, or pass `test`)."""
    row = Row(area, fault, outcome, message, test)
    ROWS.append(row)
    return row


def existing(test, area, fault, outcome, message=""):
    """A row checked by a test outside tests/reliability (node id "path::function")."""
    return case(area, fault, outcome, message, test)


def node_file(node_id):
    """The file of a node id, relative to the repository root."""
    return _ROOT / node_id.split("::", 1)[0]
