"""Command line: profile a model from a factory, print or save the report, check budgets.

    flopcount torchvision.models:resnet18 --input 1x3x224x224 --depth 2
    flopcount mypkg.models:build --kwargs '{"width": 64}' --input 8x128 --dtype int64 --meta
    flopcount diff before.json after.json
    flopcount explain torch.exp nn.Conv2d

Exit status (one line on stderr for every failure; ``--traceback`` adds the full trace):

    0  ok
    1  over a --max-ops / --max-macs budget
    2  usage: a bad argument, shape or dtype, a target that cannot be imported
    3  the model failed: its factory or its forward raised, or a formula failed on it
    4  the report could not be written (--output into a missing folder...)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

EPILOG = """examples:
  flopcount examples.quickstart:SmallCNN --input 1x3x32x32
  flopcount examples.quickstart:SmallCNN --input 1x3x32x32 --format json --output cnn.json
  flopcount mypkg.models:build --kwargs '{"width": 64}' --input 4x128 --dtype int64
  flopcount mypkg.models:build --input 1x2048 --dtype int64 --meta --max-macs 7e12
  flopcount mypkg.models:llama --input 1x128 --dtype int64 --collapse --names qualified
  flopcount diff before.json after.json
  flopcount explain torch.exp nn.Conv2d Tensor.add

exit status:
  0  ok
  1  over a --max-ops/--max-macs budget
  2  usage: bad argument, shape, dtype, or a target that cannot be imported
  3  the model failed: its factory or forward raised, or a formula failed on it
  4  the report could not be written (e.g. --output into a missing folder)
every failure is one line on stderr; --traceback prints the full trace as well

also:
  flopcount diff BEFORE.json AFTER.json     per-module changes between two saved reports
  flopcount explain NAME [NAME ...]         how a module type or torch function is counted
"""

FORMATS = ("table", "json", "csv", "markdown", "html")


class UsageError(Exception):
    """A bad command line; reported in one line with exit status 2."""


class ModelError(Exception):
    """The model's factory or forward raised, or a formula failed on it: exit status 3."""


class OutputError(Exception):
    """The report could not be written: exit status 4."""


EXIT_CODES: dict[type[Exception], int] = {UsageError: 2, ModelError: 3, OutputError: 4}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flopcount",
        description="Count the operations (ops) and multiply-accumulates (MACs) of a PyTorch "
        "model, per module. TARGET is 'package.module:factory': a callable returning an "
        "nn.Module, or an nn.Module object. 'flopcount diff A.json B.json' compares two "
        "saved JSON reports; 'flopcount explain NAME' shows how NAME is counted and where that "
        "formula is registered.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target", metavar="TARGET", help="package.module:factory, e.g. torchvision.models:resnet18"
    )
    parser.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="SHAPE",
        help="shape of one positional input, e.g. 1x3x224x224 (repeat for several inputs)",
    )
    parser.add_argument(
        "--dtype",
        action="append",
        default=[],
        metavar="DTYPE",
        help="dtype of the inputs (float32, float16, bfloat16, int64, ...): once for "
        "all inputs or once per --input; integer inputs are zeros (valid token ids)",
    )
    parser.add_argument(
        "--kwargs",
        default=None,
        metavar="JSON",
        help="keyword arguments for the factory as a JSON object, e.g. '{\"num_classes\": 10}'",
    )
    parser.add_argument(
        "--depth", type=int, default=None, metavar="N", help="show table rows down to depth N"
    )
    parser.add_argument(
        "--names",
        choices=("tree", "qualified"),
        default="tree",
        help="table names: an indented tree, or qualified names a budget can use",
    )
    parser.add_argument(
        "--sort",
        choices=("ops", "macs"),
        default=None,
        help="list modules by their own (self) ops or MACs, heaviest first",
    )
    parser.add_argument("--top", type=int, default=None, metavar="N", help="keep the first N rows")
    parser.add_argument(
        "--collapse",
        action="store_true",
        help="fold consecutive identical siblings (same type, input shapes, counts and "
        "submodules) into one row, 'layers.0–31 ×32', with per-block and summed counts "
        "(table, markdown and html)",
    )
    parser.add_argument(
        "--by",
        choices=("operator", "type"),
        default=None,
        help="after the table: counts per torch function (operator counting) or module type",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    parser.add_argument(
        "--output", default=None, metavar="FILE", help="write the report to FILE instead of stdout"
    )
    parser.add_argument(
        "--meta",
        action="store_true",
        help="build the model and inputs on the meta device: counts without memory or compute",
    )
    parser.add_argument(
        "--no-operators",
        action="store_true",
        help="count modules by their hooks only (faster; functional calls are not counted)",
    )
    parser.add_argument(
        "--max-ops",
        type=float,
        default=None,
        metavar="N",
        help="exit 1 if total ops exceed N (e.g. 5e9)",
    )
    parser.add_argument(
        "--max-macs", type=float, default=None, metavar="N", help="exit 1 if total MACs exceed N"
    )
    parser.add_argument(
        "--traceback", action="store_true", help="on a failure, print the full Python trace too"
    )
    return parser


def _load_target(target: str) -> Any:
    if ":" not in target:
        raise UsageError(f"bad target {target!r}: expected 'package.module:factory'")
    module_name, _, attr_path = target.partition(":")
    if not module_name or not attr_path:
        raise UsageError(f"bad target {target!r}: expected 'package.module:factory'")
    sys.path.insert(0, str(Path.cwd()))
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as error:  # an import can fail in any way; say which and why
        raise UsageError(
            f"cannot import {module_name!r}: {type(error).__name__}: {error}"
        ) from error
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as error:
            raise UsageError(f"{module_name!r} has no attribute {attr_path!r}") from error
    return obj


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.lower().split("x")) if text.strip() else ()
    except ValueError:
        shape = (-1,)
    if not shape or any(size < 0 for size in shape):
        raise UsageError(f"bad shape {text!r}: expected sizes joined by 'x', e.g. 1x3x224x224")
    return shape


def _dtypes(names: list[str], count: int) -> list[Any]:
    import torch

    if not names:
        names = ["float32"]
    if len(names) not in (1, count):
        raise UsageError(
            f"got {len(names)} --dtype for {count} --input: give one, or one per input"
        )
    resolved = []
    for name in names:
        dtype = getattr(torch, name, None)
        if not isinstance(dtype, torch.dtype):
            raise UsageError(
                f"bad dtype {name!r}: expected a torch dtype name such as float32 or int64"
            )
        resolved.append(dtype)
    return resolved * count if len(resolved) == 1 else resolved


def _build(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    import torch
    from torch import nn

    target = _load_target(args.target)
    try:
        factory_kwargs = json.loads(args.kwargs) if args.kwargs else {}
    except json.JSONDecodeError as error:
        raise UsageError(f"bad --kwargs: not JSON ({error})") from error
    if not isinstance(factory_kwargs, dict):
        raise UsageError("bad --kwargs: expected a JSON object")
    shapes = [_parse_shape(text) for text in args.input]
    dtypes = _dtypes(args.dtype, len(shapes))
    device = torch.device("meta") if args.meta else torch.device("cpu")
    with device:
        if isinstance(target, nn.Module):
            model = target.to(device)
        elif callable(target):
            try:
                model = target(**factory_kwargs)
            except Exception as error:
                raise ModelError(
                    f"factory {args.target!r} raised {type(error).__name__}: {_first_line(error)}"
                ) from error
        else:
            raise UsageError(f"{args.target!r} is neither an nn.Module nor a callable")
        if not isinstance(model, nn.Module):
            raise UsageError(
                f"factory {args.target!r} returned {type(model).__name__}, not an nn.Module"
            )
        inputs = [
            torch.zeros(shape, dtype=dtype)
            if not dtype.is_floating_point
            else torch.randn(shape, dtype=dtype)
            for shape, dtype in zip(shapes, dtypes, strict=True)
        ]
    return model.eval(), inputs


def _render(report: Any, fmt: str, depth: int | None, args: argparse.Namespace) -> str:
    if fmt == "json":
        return str(report.to_json())
    if fmt == "csv":
        return str(report.to_csv())
    if fmt == "html":
        return str(report.to_html(collapse=args.collapse))
    tablefmt = "github" if fmt == "markdown" else "simple"
    options = {"names": args.names, "sort": args.sort, "top": args.top, "collapse": args.collapse}
    text = str(report.table(max_depth=depth, tablefmt=tablefmt, **options)) + "\n"
    if args.by:
        from ._table import render_breakdown

        text += "\n" + render_breakdown(report, args.by) + "\n"
    return text


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise OutputError(f"cannot write the report to {output!r}: {reason}") from error
    else:
        sys.stdout.write(text)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _run_diff(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="flopcount diff",
        description="Compare two JSON reports, module by module. Exit status 1 when the total "
        "ops or MACs changed by more than --tolerance (a relative change, e.g. 0.02), for a "
        "pull-request check; 2 on a usage error.",
    )
    parser.add_argument("before", help="report saved with --format json")
    parser.add_argument("after", help="report saved with --format json")
    parser.add_argument(
        "--format", choices=("table", "markdown", "json"), default="table", dest="fmt"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=None,
        metavar="R",
        help="exit 1 if total ops or MACs changed by more than R (relative: 0.02 = 2%%)",
    )
    args = parser.parse_args(argv)
    if args.tolerance is not None and not args.tolerance >= 0:
        raise UsageError(f"bad --tolerance {args.tolerance}: expected a number >= 0")
    from ._report import Report

    reports = []
    for path in (args.before, args.after):
        try:
            reports.append(Report.from_json(Path(path).read_text()))
        except (OSError, ValueError, KeyError) as error:
            raise UsageError(f"cannot read report {path!r}: {error}") from error
    diff = reports[0].diff(reports[1])
    if args.fmt == "json":
        sys.stdout.write(json.dumps(_diff_data(diff), indent=2) + "\n")
    else:
        sys.stdout.write(diff.table("github" if args.fmt == "markdown" else "simple") + "\n")
    if args.tolerance is None:
        return 0
    over = [
        f"{unit} {before:,} -> {after:,}"
        for unit, before, after in (
            ("ops", diff.total_before, diff.total_after),
            ("MACs", diff.macs_before, diff.macs_after),
        )
        if abs(after - before) > args.tolerance * max(before, 1)
    ]
    if over:
        print(
            f"flopcount: changed by more than {args.tolerance:g}: " + "; ".join(over),
            file=sys.stderr,
        )
        return 1
    return 0


def _diff_data(diff: Any) -> dict[str, Any]:
    return {
        "ops": [diff.total_before, diff.total_after],
        "macs": [diff.macs_before, diff.macs_after],
        "changes": [
            {
                "name": change.name,
                "type": change.type,
                "ops": [change.before, change.after],
                "macs": [change.macs_before, change.macs_after],
            }
            for change in diff.changes
        ],
    }


def _run_explain(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="flopcount explain",
        description="Show how a module type or torch function is counted: its formula, the "
        "math in shape symbols, and the file:line where the formula is registered.",
    )
    parser.add_argument(
        "names", nargs="+", metavar="NAME", help="e.g. torch.exp, nn.Conv2d, Tensor.add, F.softmax"
    )
    args = parser.parse_args(argv)
    import flopcount

    pages = []
    for name in args.names:
        try:
            pages.append(str(flopcount.explain(name)))
        except LookupError as error:
            raise UsageError(str(error).strip("'\"")) from error
    sys.stdout.write("\n\n".join(pages) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["diff"]:
            return _run_diff(argv[1:])
        if argv[:1] == ["explain"]:
            return _run_explain(argv[1:])
        args = _parser().parse_args(argv)
        if args.depth is not None and args.depth < 0:
            raise UsageError(f"bad --depth {args.depth}: expected N >= 0")
        if args.top is not None and args.top < 0:
            raise UsageError(f"bad --top {args.top}: expected N >= 0")
        import torch

        import flopcount

        from ._check import validate_budget

        try:
            validate_budget(args.max_ops, args.max_macs)
        except ValueError as error:
            raise UsageError(str(error)) from error
        model, inputs = _build(args)

        try:
            with torch.no_grad():
                report = flopcount.count(model, *inputs, operators=not args.no_operators)
        except Exception as error:
            hint = "" if args.input else " (no --input was given)"
            raise ModelError(
                f"the forward of {args.target!r} raised {type(error).__name__}: "
                f"{_first_line(error)}{hint}"
            ) from error
        _emit(_render(report, args.format, args.depth, args), args.output)
        try:
            report.check(max_ops=args.max_ops, max_macs=args.max_macs)
        except flopcount.BudgetExceeded as error:
            print(error, file=sys.stderr)
            return 1
        return 0
    except (UsageError, ModelError, OutputError) as error:
        print(f"flopcount: error: {error}", file=sys.stderr)
        if "--traceback" in argv and error.__cause__ is not None:
            import traceback

            traceback.print_exception(error.__cause__, file=sys.stderr)
        return EXIT_CODES[type(error)]


if __name__ == "__main__":
    raise SystemExit(main())
