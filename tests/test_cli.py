"""The command line: every exit status, every format, one-line usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flopcount.cli import main
from tests.fixtures.cli_models import HIDDEN, IN, OUT

B = 2
MLP_OPS = B * HIDDEN * 2 * IN + B * HIDDEN + B * OUT * 2 * HIDDEN
MLP_MACS = B * HIDDEN * IN + B * OUT * HIDDEN
TARGET = "tests.fixtures.cli_models:mlp"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_table_is_default(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, TARGET, "--input", f"{B}x{IN}")
    assert status == 0
    assert out.splitlines()[0].split()[:3] == ["module", "type", "calls"]


def test_json_output_has_exact_counts(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    status, out, _ = run(
        capsys, TARGET, "--input", f"{B}x{IN}", "--format", "json", "--output", str(path)
    )
    assert status == 0 and out == ""
    data = json.loads(path.read_text())
    assert data["total"] == {"ops": MLP_OPS, "macs": MLP_MACS}
    assert data["schema"] == "flopcount.report/1"


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("csv", "name,type,depth"), ("markdown", "| module"), ("html", "<!DOCTYPE html>")],
)
def test_other_formats(capsys: pytest.CaptureFixture[str], fmt: str, marker: str) -> None:
    status, out, _ = run(capsys, TARGET, "--input", f"{B}x{IN}", "--format", fmt)
    assert status == 0 and marker in out


def test_kwargs_depth_meta_and_int_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        capsys,
        TARGET,
        "--input",
        f"{B}x{IN}",
        "--kwargs",
        '{"hidden": 32}',
        "--depth",
        "0",
        "--meta",
        "--format",
        "json",
    )
    assert status == 0
    assert json.loads(out)["total"]["macs"] == B * 32 * IN + B * OUT * 32
    status, out, _ = run(
        capsys,
        "tests.fixtures.cli_models:embedder",
        "--input",
        "3x5",
        "--dtype",
        "int64",
        "--format",
        "json",
    )
    assert status == 0 and json.loads(out)["total"]["macs"] == 3 * 5 * IN * OUT
    status, out, _ = run(
        capsys, "tests.fixtures.cli_models:instance", "--input", f"{B}x{IN}", "--no-operators"
    )
    assert status == 0


def test_over_budget_exits_one_with_table(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, TARGET, "--input", f"{B}x{IN}", "--max-ops", str(MLP_OPS - 1))
    assert status == 1 and "total ops" in err
    assert run(capsys, TARGET, "--input", f"{B}x{IN}", "--max-macs", str(MLP_MACS))[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nocolon"], "bad target"),
        (["no_such_module_xyz:f", "--input", "1x8"], "cannot import 'no_such_module_xyz'"),
        (["tests.fixtures.cli_models:nope", "--input", "1x8"], "has no attribute 'nope'"),
        (["tests.fixtures.cli_models:not_a_module"], "returned int, not an nn.Module"),
        ([TARGET, "--input", "2xeight"], "bad shape '2xeight'"),
        ([TARGET, "--input", "2x8", "--dtype", "float99"], "bad dtype 'float99'"),
        ([TARGET, "--input", "2x8", "--kwargs", "{bad"], "bad --kwargs"),
        ([TARGET, "--input", "2x8", "--max-ops", "-1"], "max_ops must be a non-negative number"),
        ([TARGET, "--input", "2x8", "--depth", "-2"], "bad --depth"),
    ],
)
def test_usage_errors_exit_two_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_diff_of_two_saved_reports(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run(capsys, TARGET, "--input", f"{B}x{IN}", "--format", "json", "--output", str(a))
    run(
        capsys,
        TARGET,
        "--input",
        f"{B}x{IN}",
        "--kwargs",
        '{"hidden": 32}',
        "--format",
        "json",
        "--output",
        str(b),
    )
    status, out, _ = run(capsys, "diff", str(a), str(b))
    assert status == 0
    total_line = out.strip().splitlines()[-1]
    assert total_line.startswith("total") and "+100.0%" in out
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert run(capsys, "diff", str(a), str(bad))[0] == 2


def test_python_dash_m_and_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flopcount", "--help"], capture_output=True, text=True, check=True
    )
    for option in (
        "--input",
        "--dtype",
        "--kwargs",
        "--depth",
        "--format",
        "--output",
        "--meta",
        "--no-operators",
        "--max-ops",
        "--max-macs",
        "examples:",
    ):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["tests.fixtures.cli_models:broken", "--input", "1x8"], 3, "RuntimeError: no weights"),
        ([TARGET, "--input", f"{B}x{IN + 1}"], 3, "the forward of"),
        ([TARGET], 3, "(no --input was given)"),
        ([TARGET, "--input", f"{B}x{IN}", "--output", "/no/such/folder/r.json"], 4, "cannot write"),
    ],
)  # fmt: skip
def test_each_failure_has_its_exit_code_and_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], status: int, message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == status
    assert len(err.strip().splitlines()) == 1 and message in err


def test_traceback_option_prints_the_full_trace(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tests.fixtures.cli_models:broken", "--input", "1x8", "--traceback")
    assert code == 3
    assert "Traceback (most recent call last)" in err and "no weights here" in err


def test_diff_formats_and_tolerance(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    run(capsys, TARGET, "--input", f"{B}x{IN}", "--format", "json", "--output", str(a))
    run(capsys, TARGET, "--input", f"{B}x{IN}", "--kwargs", '{"hidden": 32}', "--format",
        "json", "--output", str(b))  # fmt: skip
    before = json.loads(a.read_text())["total"]["ops"]
    after = json.loads(b.read_text())["total"]["ops"]
    code, out, _ = run(capsys, "diff", str(a), str(b), "--format", "json")
    assert code == 0 and json.loads(out)["ops"] == [before, after]
    code, out, _ = run(capsys, "diff", str(a), str(b), "--format", "markdown")
    assert code == 0 and out.startswith("|")
    relative = (after - before) / before
    assert run(capsys, "diff", str(a), str(b), "--tolerance", str(relative * 1.01))[0] == 0
    code, _, err = run(capsys, "diff", str(a), str(b), "--tolerance", str(relative * 0.99))
    assert code == 1 and "changed by more than" in err
    assert run(capsys, "diff", str(a), str(a), "--tolerance", "0")[0] == 0


def test_help_lists_exit_codes_and_subcommands() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flopcount", "--help"], capture_output=True, text=True, check=True
    )
    for line in ("0  ok", "1  over", "2  usage", "3  the model failed", "4  the report could not",
                 "flopcount diff", "flopcount explain", "--traceback", "--collapse"):  # fmt: skip
        assert line in done.stdout


def test_qualified_names_sort_and_top(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, TARGET, "--input", f"{B}x{IN}", "--names", "qualified")
    assert code == 0 and out.splitlines()[2].startswith("(root)")
    code, out, _ = run(capsys, TARGET, "--input", f"{B}x{IN}", "--sort", "ops", "--top", "1")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 4 and lines[-1].startswith("total")  # header, rule, 1, total
    assert run(capsys, TARGET, "--input", f"{B}x{IN}", "--top", "-1")[0] == 2


def test_collapse_folds_identical_blocks(capsys: pytest.CaptureFixture[str]) -> None:
    layers = 32
    code, out, _ = run(
        capsys,
        "tests.fixtures.llama:Llama",
        "--input",
        "1x8",
        "--dtype",
        "int64",
        "--collapse",
        "--names",
        "qualified",
        "--depth",
        "2",
    )
    assert code == 0
    assert f"layers.0–{layers - 1} ×{layers}" in out and "layers.1 " not in out
    assert "×N: N consecutive siblings" in out
    code, out, _ = run(capsys, "tests.fixtures.llama:Llama", "--input", "1x8", "--dtype", "int64")
    assert "layers.1" not in out and "0–31" not in out  # without --collapse: every block
    assert out.count(" Block ") == layers
    llama = ("tests.fixtures.llama:Llama", "--input", "1x8", "--dtype", "int64")
    code, out, _ = run(capsys, *llama, "--format", "html", "--collapse")
    assert code == 0 and f"0–{layers - 1} ×{layers}" in out and "<svg" in out
