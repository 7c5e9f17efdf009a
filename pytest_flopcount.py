"""pytest plugin of flopcount: budgets as markers, baselines of recorded counts.

Loaded automatically through the ``pytest11`` entry point. It imports nothing heavy at
import time: torch and flopcount are imported only when a test uses ``flop_counter``.

    @pytest.mark.flop_budget(max_ops=2e9, max_macs=1e9, modules={"encoder.*": 1e9})
    def test_encoder_cost(flop_counter):
        with flop_counter(model):
            model(x)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

MARKER = "flop_budget"
_BUDGET_KEYS = ("max_ops", "max_macs", "modules", "phase")
_reports_key = pytest.StashKey[list]()
_baseline_key = pytest.StashKey["Baseline"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flopcount", "flopcount operation budgets")
    group.addoption(
        "--flop-baseline",
        metavar="PATH",
        default=None,
        help="JSON file of recorded counts per test; a test whose ops or MACs "
        "drift from it by more than --flop-tolerance fails",
    )
    group.addoption(
        "--flop-tolerance",
        type=float,
        default=None,
        metavar="FRACTION",
        help="allowed relative drift from the baseline (default 0: exact); needs --flop-baseline",
    )
    group.addoption(
        "--flop-baseline-update",
        action="store_true",
        default=False,
        help="record this run's counts into --flop-baseline instead of comparing",
    )
    group.addoption(
        "--flop-baseline-prune",
        action="store_true",
        default=False,
        help="drop from --flop-baseline the entries of tests this run did not collect "
        "(run it on the whole suite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(max_ops=None, max_macs=None, modules=None, phase=None): hold every profile "
        "taken with the flop_counter fixture in this test to these budgets (modules maps "
        "qualified-name globs to max ops; phase='backward' checks one phase of a training step)",
    )
    path = config.getoption("--flop-baseline")
    for option in ("--flop-baseline-update", "--flop-baseline-prune", "--flop-tolerance"):
        given = config.getoption(option)
        if given not in (None, False) and not path:
            raise pytest.UsageError(f"{option} needs --flop-baseline=PATH")
    tolerance = config.getoption("--flop-tolerance")
    tolerance = 0.0 if tolerance is None else tolerance
    if not tolerance >= 0:
        raise pytest.UsageError(f"--flop-tolerance must be >= 0, got {tolerance}")
    if path:
        config.stash[_baseline_key] = Baseline(
            Path(path),
            tolerance,
            config.getoption("--flop-baseline-update"),
            config.getoption("--flop-baseline-prune"),
        )


class Baseline:
    """Recorded (ops, macs) per test id, compared or rewritten."""

    def __init__(self, path: Path, tolerance: float, update: bool, prune: bool = False) -> None:
        self.path = path
        self.tolerance = tolerance
        self.update = update
        self.prune = prune
        self.collected: set[str] = set()
        self.recorded: dict[str, dict[str, int]] = {}
        if path.exists():
            try:
                self.recorded = json.loads(path.read_text())
            except json.JSONDecodeError as error:
                raise pytest.UsageError(
                    f"--flop-baseline {path} is not valid JSON: {error}"
                ) from error
        self.seen: dict[str, dict[str, int]] = {}

    def compare(self, nodeid: str, counts: dict[str, int]) -> None:
        __tracebackhide__ = True  # the drift message is what a reader needs first
        self.seen[nodeid] = counts
        if self.update:
            return
        expected = self.recorded.get(nodeid)
        if expected is None:
            raise AssertionError(
                f"flopcount baseline {self.path} has no entry for {nodeid} "
                f"(ops={counts['ops']:,}, macs={counts['macs']:,}); record it with "
                "--flop-baseline-update"
            )
        drifted = []
        for unit in ("ops", "macs"):
            old, new = int(expected.get(unit, 0)), counts[unit]
            allowed = self.tolerance * abs(old)
            if abs(new - old) > allowed:
                change = "new" if old == 0 else f"{100.0 * (new - old) / old:+.2f}%"
                drifted.append(f"  {unit}: baseline {old:,} -> now {new:,} ({change})")
        if drifted:
            raise AssertionError(
                f"flopcount counts drifted from baseline {self.path} "
                f"(tolerance {self.tolerance:.2%}):\n" + "\n".join(drifted)
            )

    def write(self) -> None:
        recorded = self.recorded
        if self.prune:
            recorded = {k: v for k, v in recorded.items() if k in self.collected}
        merged = {**recorded, **(self.seen if self.update else {})}
        text = json.dumps(dict(sorted(merged.items())), indent=2, sort_keys=True) + "\n"
        self.path.write_text(text)


def _budget_of(item: pytest.Item) -> dict[str, Any] | None:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return None
    if marker.args:
        raise pytest.fail.Exception(
            f"@pytest.mark.{MARKER} takes keyword arguments only ({', '.join(_BUDGET_KEYS)})",
            pytrace=False,
        )
    unknown = sorted(set(marker.kwargs) - set(_BUDGET_KEYS))
    if unknown:
        raise pytest.fail.Exception(
            f"@pytest.mark.{MARKER} got unknown keyword(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(_BUDGET_KEYS)}",
            pytrace=False,
        )
    return dict(marker.kwargs)


@pytest.fixture
def flop_counter(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``with flop_counter(model): model(x)`` profiles ``model``; the test's
    ``flop_budget`` marker and the ``--flop-baseline`` file are checked after the test."""
    import flopcount

    reports = request.node.stash.setdefault(_reports_key, [])

    @contextmanager
    def counter(model: Any, **options: Any) -> Generator[Any, None, None]:
        with flopcount.profile(model, **options) as report:
            yield report
        reports.append(report)

    yield counter


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    __tracebackhide__ = True  # a failed budget shows the offender table, not plugin frames
    budget = _budget_of(item)
    result = yield
    reports = item.stash.get(_reports_key, [])
    if budget is not None:
        if not reports:
            raise AssertionError(
                f"@pytest.mark.{MARKER} on a test that took no profile: use the flop_counter "
                "fixture (with flop_counter(model): model(x))"
            )
        for report in reports:
            report.check(**budget)
    baseline = item.config.stash.get(_baseline_key, None)
    if baseline is not None and reports:
        counts = {"ops": sum(r.total for r in reports), "macs": sum(r.macs for r in reports)}
        baseline.compare(item.nodeid, counts)
    return result


def pytest_collection_finish(session: pytest.Session) -> None:
    baseline = session.config.stash.get(_baseline_key, None)
    if baseline is not None:
        baseline.collected = {item.nodeid for item in session.items}


def pytest_sessionfinish(session: pytest.Session) -> None:
    baseline = session.config.stash.get(_baseline_key, None)
    if baseline is not None and (baseline.update or baseline.prune):
        baseline.write()
