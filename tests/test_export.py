"""Exports: versioned JSON that round-trips, CSV, DataFrame, diff, self-contained HTML."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

import flopcount

B, IN, HID, OUT = 2, 8, 16, 4


def report(hidden: int = HID) -> flopcount.Report:
    model = nn.Sequential(nn.Linear(IN, hidden), nn.ReLU(), nn.Linear(hidden, OUT), nn.Softmax(-1))
    return flopcount.count(model, torch.randn(B, IN))


def test_json_schema_and_round_trip() -> None:
    r = report()
    data = json.loads(r.to_json())
    assert data["schema"] == "flopcount.report/1"
    assert data["torch_version"] == torch.__version__
    assert set(data["units"]) == {"ops", "macs"}
    assert data["total"] == {"ops": r.total, "macs": r.macs}
    assert [row["name"] for row in data["modules"]] == ["", "0", "1", "2", "3"]
    assert data["modules"][1]["ops"] == B * HID * 2 * IN
    back = flopcount.Report.from_json(r.to_json())
    assert back.modules == r.modules and back.total == r.total and back.macs == r.macs


def test_json_keeps_exact_integers_beyond_2_to_the_63() -> None:
    data = report().to_dict()
    big = 2**70 + 3
    data["modules"][0]["ops"] = data["modules"][0]["self_ops"] = big
    restored = flopcount.Report.from_json(json.dumps(data))
    assert restored.total == big
    assert json.loads(restored.to_json())["total"]["ops"] == big


def test_from_json_rejects_other_documents() -> None:
    with pytest.raises(ValueError, match="not a flopcount report"):
        flopcount.Report.from_json('{"schema": "something/else"}')


def test_csv_rows_are_exact() -> None:
    rows = list(csv.DictReader(io.StringIO(report().to_csv())))
    assert rows[1]["name"] == "0" and int(rows[1]["ops"]) == B * HID * 2 * IN
    assert rows[1]["input_shapes"] == f"{B}x{IN}"


def test_dataframe_or_clear_import_error() -> None:
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            report().to_dataframe()
    else:
        frame = report().to_dataframe()
        assert int(frame.loc["0", "ops"]) == B * HID * 2 * IN


def test_diff_lists_changed_modules_and_total() -> None:
    small, large = report(HID), report(2 * HID)
    changes = small.diff(large)
    assert [c.name for c in changes.changes] == ["", "0", "1", "2"]  # the softmax is unchanged
    assert changes.total_delta == large.total - small.total
    assert changes.changes[1].delta == B * HID * 2 * IN
    text = str(changes)
    assert text.splitlines()[-1].startswith("total") and "+100.0%" in text


def test_html_is_self_contained() -> None:
    page = report().to_html()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "Top modules by own ops" in page and "Ops by module type" in page
    assert f"{report().total:,}" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium_run(tmp_path: Path, *options: str, page: Path) -> subprocess.CompletedProcess[str]:
    browser = _chromium()
    assert browser is not None
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            *options,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine")
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report().to_html())
    done = _chromium_run(tmp_path, "--dump-dom", page=page)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Per-layer table" in done.stdout and "Linear" in done.stdout
    assert "<svg" in done.stdout and "Module tree by inclusive ops" in done.stdout


def _runs(row: list[tuple[int, int, int]], colour: str) -> list[tuple[int, int]]:
    """``(start, length)`` of each run of pixels within 3 levels of ``colour`` (#rrggbb)."""
    want = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    runs: list[tuple[int, int]] = []
    for x, pixel in enumerate(row):
        if all(abs(a - b) <= 3 for a, b in zip(pixel, want, strict=True)):
            if runs and runs[-1][0] + runs[-1][1] == x:
                runs[-1] = (runs[-1][0], runs[-1][1] + 1)
            else:
                runs.append((x, 1))
    return runs


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine")
def test_html_icicle_screenshot_root_spans_the_width(tmp_path: Path) -> None:
    from flopcount._html import ICICLE_ROW, ICICLE_WIDTH, ROOT_COLOUR, type_colour
    from tests.png import decode

    r = report()
    page = tmp_path / "report.html"
    page.write_text(r.to_html())
    shot = tmp_path / "shot.png"
    done = _chromium_run(
        tmp_path,
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        f"--window-size={ICICLE_WIDTH + 100},600",
        f"--screenshot={shot}",
        page=page,
    )
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    width, _, pixels = decode(shot.read_bytes())
    assert width == ICICLE_WIDTH + 100
    # the root's block: rows of pixels where one run of its colour is (nearly) the width
    root_rows = [
        y
        for y, row in enumerate(pixels)
        if any(length >= ICICLE_WIDTH - 2 for _, length in _runs(row, ROOT_COLOUR))
    ]
    # (its label's glyphs interrupt the rows in between: the rows above and below them)
    assert len(root_rows) >= 4, "no root bar spanning the icicle's width"
    assert root_rows[-1] - root_rows[0] < ICICLE_ROW
    start, length = max(_runs(pixels[root_rows[0] + 2], ROOT_COLOUR), key=lambda run: run[1])
    assert ICICLE_WIDTH - 2 <= length <= ICICLE_WIDTH
    # one level down, the first Linear's block starts where the root does and is as wide
    # as its share of the ops (the first Linear does 32·16·2·8 of this model's ops)
    below = pixels[root_rows[0] + ICICLE_ROW + 2]
    linear = _runs(below, type_colour("Linear"))
    assert linear, "no block of the first Linear under the root"
    expected = ICICLE_WIDTH * r.modules["0"].ops / r.total
    assert abs(linear[0][0] - start) <= 2
    assert abs(linear[0][1] - expected) <= 3, (linear[0], expected)


def test_icicle_widths_are_inclusive_ops() -> None:
    import re

    from flopcount._html import ICICLE_ROW, ICICLE_WIDTH, icicle

    r = report()
    svg = icicle(r)
    assert svg.startswith("<svg") and "<script" not in svg
    blocks = re.findall(r'<title>([^<]*)</title><rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"', svg)
    names = [title.split(" ")[0] for title, *_ in blocks]
    counted = [row.name or "(root)" for row in r.modules.values() if row.ops > 0]
    assert names == counted  # one block per module that has ops, in tree order
    geometry = {
        name: (float(x), int(y), float(w)) for name, (_, x, y, w) in zip(names, blocks, strict=True)
    }
    assert geometry["(root)"] == (0.0, 0, float(ICICLE_WIDTH))
    offset = 0.0
    for name in ("0", "1", "2", "3"):  # children side by side, each as wide as its ops
        x, y, w = geometry[name]
        assert (y, round(x, 1)) == (ICICLE_ROW, round(offset, 1))
        assert w == pytest.approx(ICICLE_WIDTH * r.modules[name].ops / r.total, abs=0.01)
        offset += ICICLE_WIDTH * r.modules[name].ops / r.total
    assert icicle(r) == svg  # pure: the same string again
