"""``Report.steps``: one entry per call of the model from outside it (prefill, decode steps)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import flopcount

V, D, P, STEPS = 11, 8, 5, 4  # vocabulary, width, prompt tokens, decode steps


def CachedDecoder() -> nn.Module:  # noqa: N802 - stands for the example's class
    """examples/generation_steps.py's decoder (one attention layer with a key/value cache
    the caller passes in, and an LM head), at this test's small dimensions."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from generation_steps import CachedDecoder as Decoder

    return Decoder(V, D)


def step_macs(new: int, seen: int) -> int:
    """``new`` tokens attending to ``seen`` keys: q/k/v projections, QKᵀ, AV and the head."""
    return new * 3 * D * D + 2 * new * seen * D + new * D * V


def test_generation_loop_reads_step_by_step() -> None:
    model = CachedDecoder()
    cache: list[torch.Tensor] = []
    tokens = torch.randint(0, V, (P,))
    with torch.no_grad(), flopcount.profile(model) as report:
        logits = model(tokens, cache)
        for _ in range(STEPS):
            logits = model(logits[-1:].argmax(-1), cache)
    assert [step.macs for step in report.steps] == [
        step_macs(P, P),
        *(step_macs(1, P + j + 1) for j in range(STEPS)),
    ]
    assert [step.input_shapes[0] for step in report.steps] == [(P,)] + [(1,)] * STEPS
    assert sum(step.ops for step in report.steps) == report.total
    assert report.steps[0].count == flopcount.Count(report.steps[0].ops, report.steps[0].macs)
    again = flopcount.Report.from_json(report.to_json())
    assert again.steps == report.steps
    html = report.to_html()
    assert "Steps (calls of the model)" in html
    assert html.count("</tr>", html.index("Steps (calls of the model)")) == 1 + 1 + STEPS
    assert f'<td class="num">{report.steps[0].macs:,}</td>' in html


def test_one_forward_is_one_step_and_inner_calls_are_not_steps() -> None:
    model = nn.Sequential(nn.Linear(D, D), nn.ReLU())
    with flopcount.profile(model) as report:
        model(torch.randn(2, D))
    assert len(report.steps) == 1
    assert report.steps[0].ops == report.total
    with flopcount.profile(model) as report:
        pass
    assert report.steps == []
