"""Data exports of a report: a versioned dict/JSON schema, CSV, pandas.

Exports carry exact integers; readable units (K/M/G/T) belong to tables only. Loading a
saved report back (``Report.from_json``) reads the same schema and lives with ``Report``.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    import pandas

    from ._report import ModuleStats, Report

SCHEMA = "flopcount.report/1"
UNITS = {
    "ops": "elementary arithmetic operations (add, multiply, divide, exp, compare... = 1 each)",
    "macs": "multiply-accumulates of the linear-algebra core (linear, matmul, conv, attention)",
}
ROW_FIELDS = ("name", "type", "depth", "calls", "ops", "macs", "self_ops", "self_macs")


def _row_dict(row: ModuleStats) -> dict[str, Any]:
    data = {field: getattr(row, field) for field in ROW_FIELDS}
    data["input_shapes"] = [list(shape) for shape in row.input_shapes]
    data["has_formula"] = row.has_formula
    data["children"] = list(row.children)
    data["phases"] = {name: {"ops": c.ops, "macs": c.macs} for name, c in row.phases.items()}
    return data


def to_dict(report: Report) -> dict[str, Any]:
    import torch

    return {
        "schema": SCHEMA,
        "flopcount_version": __version__,
        "torch_version": torch.__version__,
        "units": dict(UNITS),
        "total": {"ops": report.total, "macs": report.macs},
        "phases": {name: {"ops": c.ops, "macs": c.macs} for name, c in report.phases.items()},
        "modules": [_row_dict(row) for row in report.modules.values()],
        "unsupported": dict(sorted(report.unsupported.items())),
        "uncounted": dict(sorted(report.uncounted.items())),
        "by_operator": {
            name: {"ops": s.ops, "macs": s.macs, "calls": s.calls}
            for name, s in report.by_operator.items()
        },
        "by_type": {name: {"ops": c.ops, "macs": c.macs} for name, c in report.by_type.items()},
        "collectives": {
            module: {
                name: {"calls": c.calls, "elements": c.elements, "bytes": c.bytes}
                for name, c in issued.items()
            }
            for module, issued in report.collectives.items()
        },
        "steps": [
            {
                "ops": step.ops,
                "macs": step.macs,
                "input_shapes": [list(x) for x in step.input_shapes],
            }
            for step in report.steps
        ],
    }


def to_json(report: Report, indent: int | None = 2) -> str:
    return json.dumps(to_dict(report), indent=indent, sort_keys=True) + "\n"


def to_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*ROW_FIELDS, "input_shapes", "uncounted"))
    uncounted = report.uncounted  # calls whose own forward code went unseen; 0 for most rows
    for row in report.modules.values():
        shapes = ";".join("x".join(map(str, shape)) for shape in row.input_shapes)
        fields = (getattr(row, field) for field in ROW_FIELDS)
        writer.writerow((*fields, shapes, uncounted.get(row.name, 0)))
    return buffer.getvalue()


def to_dataframe(report: Report) -> pandas.DataFrame:
    try:
        import pandas
    except ImportError as error:
        raise ImportError(
            "Report.to_dataframe() needs pandas: pip install pandas (or flopcount[pandas])"
        ) from error
    uncounted = report.uncounted
    frame = pandas.DataFrame(
        [
            {**_row_dict(row), "uncounted": uncounted.get(row.name, 0)}
            for row in report.modules.values()
        ]
    )
    return frame.set_index("name")
