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


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine")
def test_html_renders_in_headless_chromium(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(report().to_html())
    done = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Per-layer table" in done.stdout and "Linear" in done.stdout
