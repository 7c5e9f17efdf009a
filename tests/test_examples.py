"""Every example and every README snippet runs as written."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_quickstart_prints_a_table() -> None:
    out = run("examples/quickstart.py")
    assert out.splitlines()[0].split()[:2] == ["module", "type"]
    assert "Conv2d" in out and "Softmax" in out and "not counted" not in out


def test_generation_steps_example_matches_the_readme() -> None:
    out = run("examples/generation_steps.py")
    readme = (ROOT / "README.md").read_text()
    assert out in readme  # the README shows this run's output, unedited
    macs = [int(line.split()[-2].replace(",", "")) for line in out.splitlines()[1:-1]]
    width = 64
    assert [b - a for a, b in itertools.pairwise(macs)] == [2 * width] * (len(macs) - 1)


def test_custom_formula_example() -> None:
    assert "SquaredReLU" in run("examples/custom_formula.py")


def test_llm_example_matches_its_analytic_macs() -> None:
    out = run("examples/llm_meta.py", "--preset", "tiny")
    match = re.search(r"([\d,]+) MACs \(analytic ([\d,]+)\)", out)
    assert match is not None, out
    assert match.group(1) == match.group(2)


def test_compare_variants_example() -> None:
    out = run("examples/compare_variants.py")
    assert "total" in out and "of the dense block's MACs" in out


def test_budget_example_passes_under_pytest() -> None:
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "examples/test_budget_example.py")
    assert "3 passed" in out


def readme_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(readme_snippets())))
def test_readme_snippet_runs(index: int) -> None:
    snippet = readme_snippets()[index]
    run("-c", snippet)  # as written: each snippet has its own imports
