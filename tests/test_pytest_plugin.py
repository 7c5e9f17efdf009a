"""The pytest plugin, exercised through inner pytest runs (pytester)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

MODEL = """
import pytest, torch
from torch import nn

B, IN, OUT = 2, 8, 4
OPS = B * OUT * 2 * IN + B * OUT  # Linear with bias, then ReLU
MACS = B * OUT * IN

def run(flop_counter):
    model = nn.Sequential(nn.Linear(IN, OUT), nn.ReLU())
    with flop_counter(model):
        model(torch.randn(B, IN))
"""


def test_budget_within_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        MODEL
        + """
@pytest.mark.flop_budget(max_ops=OPS, max_macs=MACS, modules={"0": B * OUT * 2 * IN})
def test_ok(flop_counter):
    run(flop_counter)
"""
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_budget_exceeded_fails_with_offender_table(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        MODEL
        + """
@pytest.mark.flop_budget(max_ops=OPS - 1)
def test_over(flop_counter):
    run(flop_counter)
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*BudgetExceeded*", "*total ops*"])
    failure = result.stdout.str().split("_ test_over _")[1]
    # the plugin's and the library's frames are hidden: the offender table comes first
    assert "pytest_flopcount.py" not in failure and "_check.py" not in failure
    lines = [line for line in failure.splitlines() if line.strip() and not line.startswith("_")]
    assert lines[0].startswith("E   flopcount.BudgetExceeded: flopcount budget exceeded")


def test_unknown_marker_keyword_fails_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        MODEL
        + """
@pytest.mark.flop_budget(max_flops=10)
def test_typo(flop_counter):
    run(flop_counter)
"""
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unknown keyword(s) 'max_flops'*"])


def test_marker_without_a_profile_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
import pytest
@pytest.mark.flop_budget(max_ops=1)
def test_forgot():
    pass
""")
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*took no profile*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["*flop_budget(max_ops=None, max_macs=None, modules=None, phase=None)*"]
    )


def test_baseline_update_compare_and_drift(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_model=MODEL
        + """
def test_counted(flop_counter):
    run(flop_counter)
"""
    )
    baseline = pytester.path / "flops.json"
    pytester.runpytest(f"--flop-baseline={baseline}", "--flop-baseline-update").assert_outcomes(
        passed=1
    )
    recorded = json.loads(baseline.read_text())
    ops = 2 * 4 * 2 * 8 + 2 * 4
    assert recorded == {"test_model.py::test_counted": {"macs": 2 * 4 * 8, "ops": ops}}
    assert baseline.read_text().endswith("}\n")

    pytester.runpytest(f"--flop-baseline={baseline}").assert_outcomes(passed=1)

    recorded["test_model.py::test_counted"]["ops"] = ops - 10
    baseline.write_text(json.dumps(recorded))
    result = pytester.runpytest(f"--flop-baseline={baseline}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*ops: baseline {ops - 10:,} -> now {ops:,}*"])
    # within a 10% tolerance the same drift passes
    pytester.runpytest(f"--flop-baseline={baseline}", "--flop-tolerance=0.1").assert_outcomes(
        passed=1
    )


def test_baseline_missing_entry_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_model=MODEL
        + """
def test_counted(flop_counter):
    run(flop_counter)
"""
    )
    baseline = pytester.path / "flops.json"
    baseline.write_text("{}\n")
    result = pytester.runpytest(f"--flop-baseline={baseline}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*has no entry for test_model.py::test_counted*"])


def test_plugin_import_does_not_import_torch(pytester: pytest.Pytester) -> None:
    result = pytester.run(
        __import__("sys").executable,
        "-c",
        "import sys, pytest_flopcount; print('torch' in sys.modules)",
    )
    assert result.stdout.lines[-1] == "False"


def test_tolerance_and_prune_need_a_baseline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MODEL + "\ndef test_ok(flop_counter):\n    run(flop_counter)\n")
    for option in ("--flop-tolerance=0.1", "--flop-baseline-prune", "--flop-baseline-update"):
        result = pytester.runpytest(option)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*{option.split('=')[0]} needs --flop-baseline=PATH*"])


def test_prune_drops_entries_of_tests_that_no_longer_exist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(MODEL + "\ndef test_ok(flop_counter):\n    run(flop_counter)\n")
    baseline = pytester.path / "flops.json"
    pytester.runpytest(f"--flop-baseline={baseline}", "--flop-baseline-update")
    recorded = json.loads(baseline.read_text())
    recorded["test_gone.py::test_removed"] = {"ops": 1, "macs": 1}
    baseline.write_text(json.dumps(recorded))
    pytester.runpytest(f"--flop-baseline={baseline}").assert_outcomes(passed=1)
    assert "test_gone.py::test_removed" in json.loads(baseline.read_text())  # no prune: kept
    result = pytester.runpytest(f"--flop-baseline={baseline}", "--flop-baseline-prune")
    result.assert_outcomes(passed=1)
    assert set(json.loads(baseline.read_text())) == {
        "test_prune_drops_entries_of_tests_that_no_longer_exist.py::test_ok"
    }
