"""Guarantees 3 and 4: repeatable counts, threads, nested profiles of one model."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

import flopcount


class Attention(nn.Module):
    """Functional work (matmuls, softmax, residual add) plus child modules."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.q(x) @ self.k(x).transpose(-2, -1)
        return x + torch.softmax(scores, dim=-1) @ self.v(x)


def model_a() -> nn.Module:
    return nn.Sequential(Attention(16), nn.LayerNorm(16), Attention(16))


def model_b() -> nn.Module:
    return nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 32), nn.Softmax(-1))


def counts(report: flopcount.Report) -> dict[str, tuple[int, int, int]]:
    return {name: (row.ops, row.macs, row.calls) for name, row in report.modules.items()}


def test_same_profile_many_times_is_identical() -> None:
    model, x = model_a(), torch.randn(2, 5, 16)
    first = counts(flopcount.count(model, x))
    for _ in range(5):
        assert counts(flopcount.count(model, x)) == first
    for _ in range(3):
        with pytest.warns(flopcount.UnsupportedWarning, match="Report.uncounted"):
            hooks, again = (flopcount.count(model, x, operators=False) for _ in range(2))
        assert counts(hooks) == counts(again)
        assert hooks.uncounted == again.uncounted == {"0": 1, "2": 1}  # the two Attentions


def test_two_threads_two_models_get_their_own_counts() -> None:
    a, xa = model_a(), torch.randn(2, 5, 16)
    b, xb = model_b(), torch.randn(3, 32)
    alone = {"a": counts(flopcount.count(a, xa)), "b": counts(flopcount.count(b, xb))}
    results: dict[str, list[dict[str, tuple[int, int, int]]]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(key: str, model: nn.Module, x: torch.Tensor) -> None:
        try:
            start.wait()
            for _ in range(20):
                results[key].append(counts(flopcount.count(model, x)))
        except BaseException as error:  # surfaced below, in the main thread
            errors.append(error)

    threads = [
        threading.Thread(target=work, args=("a", a, xa)),
        threading.Thread(target=work, args=("b", b, xb)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(result == alone["a"] for result in results["a"])
    assert all(result == alone["b"] for result in results["b"])


def test_a_model_run_in_another_thread_is_not_counted() -> None:
    model, x = model_b(), torch.randn(3, 32)
    alone = flopcount.count(model, x).total
    with flopcount.profile(model) as report:
        other = threading.Thread(target=model, args=(x,))
        other.start()
        other.join()
        model(x)
    assert report.total == alone


def test_nested_profiles_of_one_model_both_count_correctly() -> None:
    model, x = model_a(), torch.randn(2, 5, 16)
    alone = counts(flopcount.count(model, x))
    with pytest.warns(flopcount.UnsupportedWarning, match="Report.uncounted"):
        with flopcount.profile(model) as outer:
            with flopcount.profile(model, operators=False) as inner_hooks:
                with flopcount.profile(model) as inner:
                    model(x)
        hooks_alone = flopcount.count(model, x, operators=False)
    assert counts(outer) == alone
    assert counts(inner) == alone
    assert inner_hooks.total == hooks_alone.total
    assert inner_hooks.uncounted == hooks_alone.uncounted == {"0": 1, "2": 1}
