"""Renders docs/reliability.md from the rows the reliability tests declare.

    python -m tests.reliability.render_table            # rewrite docs/reliability.md
    python -m tests.reliability.render_table --check    # exit 1 if it is out of date
"""

import importlib
import pathlib
import sys

from tests.reliability import recorder

ROOT = pathlib.Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "reliability.md"
_AREAS = ("Training", "Checkpoints", "Distributed", "Exported module", "Loading", "Data",
          "Config", "Converter")
_HEADER = """\
# Reliability: faults and bad inputs

Every fault and input below is tried by a test; "Message checked" is the text that test asserts
in the real error or log. This file is generated from the tests' declarations
(`tests/reliability/recorder.py`); regenerate it with

    python -m tests.reliability.render_table

and `tests/reliability/test_table.py` fails when it is out of date.
"""


def collect():
    """Imports every reliability test module (which registers its rows); returns the rows in
    a fixed order (area, then test file, then declaration order), each once."""
    importlib.import_module("tests.reliability.catalog")
    for path in sorted(pathlib.Path(__file__).parent.glob("test_*.py")):
        importlib.import_module(f"tests.reliability.{path.stem}")
    unique = {}
    for position, row in enumerate(recorder.ROWS):
        unique.setdefault((row.area, row.fault, row.test), (position, row))
    area_order = {area: index for index, area in enumerate(_AREAS)}
    ordered = sorted(unique.values(), key=lambda item: (
        area_order.get(item[1].area, len(_AREAS)), item[1].test.split("::")[0], item[0]))
    return [row for _, row in ordered]


def _cell(text):
    text = " ".join(str(text).split())
    return text.replace("|", "\\|")


def render(rows):
    unknown = sorted({row.area for row in rows} - set(_AREAS))
    if unknown:
        raise ValueError(f"rows with unknown areas {unknown}; accepted: {list(_AREAS)}.")
    lines = [_HEADER]
    for area in _AREAS:
        selected = [row for row in rows if row.area == area]
        if not selected:
            continue
        lines += [f"## {area}", "",
                  "| Fault or input | What happens | Message checked | Test |",
                  "|---|---|---|---|"]
        for row in selected:
            message = f"`{_cell(row.message)}`" if row.message else ""
            lines.append(f"| {_cell(row.fault)} | {_cell(row.outcome)} | {message} | "
                         f"`{_cell(row.test)}` |")
        lines.append("")
    return "\n".join(lines)


def main(argv):
    text = render(collect())
    if "--check" in argv:
        current = TABLE.read_text(encoding="utf-8") if TABLE.exists() else ""
        if current != text:
            print(f"{TABLE} is out of date: run `python -m tests.reliability.render_table`.",
                  file=sys.stderr)
            return 1
        return 0
    TABLE.parent.mkdir(exist_ok=True)
    TABLE.write_text(text, encoding="utf-8")
    print(f"wrote {TABLE} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
