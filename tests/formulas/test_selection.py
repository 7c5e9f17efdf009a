"""Selection and sorting: counted against algorithms that really select and sort.

The references run the named algorithms on the data, one counted compare at a time, and
their results are checked against torch's: selection by repeatedly finding the extreme of
what is left, and merge sort with sentinels.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.tally import Tally, operator_count


def select(tally: Tally, row: torch.Tensor, k: int, largest: bool) -> list[float]:
    """k rounds: find the extreme of the remaining elements (counted), remove it."""
    remaining, chosen = row.clone(), []
    for _ in range(k):
        extreme = tally.amax(remaining, 0) if largest else -tally.amax(-remaining, 0)
        chosen.append(float(extreme))
        index = int((remaining == extreme).nonzero()[0])
        remaining = torch.cat((remaining[:index], remaining[index + 1 :]))
    return chosen


def merge_sort(tally: Tally, values: list[float]) -> list[float]:
    """Merge sort with +inf sentinels: every placed element costs one counted compare."""
    if len(values) <= 1:
        return values
    middle = (len(values) + 1) // 2
    left = [*merge_sort(tally, values[:middle]), math.inf]
    right = [*merge_sort(tally, values[middle:]), math.inf]
    merged, i, j = [], 0, 0
    for _ in range(len(values)):
        if tally.binary(torch.le, left[i], right[j]):
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    return merged


def rows_of(x: torch.Tensor, dim: int) -> list[torch.Tensor]:
    return list(x.movedim(dim, -1).reshape(-1, x.shape[dim]))


shapes = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=3)


@given(shape=shapes, data=st.data())
def test_topk_and_kthvalue_match_selection(shape: list[int], data: st.DataObject) -> None:
    x = torch.randn(shape, dtype=torch.float64)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    n = shape[dim]
    k = data.draw(st.integers(1, n), label="k")
    largest = data.draw(st.booleans(), label="largest")
    tally = Tally()
    chosen = [select(tally, row, k, largest) for row in rows_of(x, dim)]
    expected = torch.topk(x, k, dim=dim, largest=largest).values.movedim(dim, -1).reshape(-1, k)
    torch.testing.assert_close(torch.tensor(chosen, dtype=torch.float64), expected)
    assert operator_count(torch.topk, x, k, dim, largest) == tally.count
    assert operator_count(torch.Tensor.topk, x, k, dim=dim, largest=largest) == tally.count

    smallest = Tally()
    kth = [select(smallest, row, k, largest=False)[-1] for row in rows_of(x, dim)]
    torch.testing.assert_close(
        torch.tensor(kth, dtype=torch.float64), torch.kthvalue(x, k, dim).values.reshape(-1)
    )
    assert operator_count(torch.kthvalue, x, k, dim) == smallest.count


@given(shape=shapes, data=st.data())
def test_median_matches_selection_of_the_lower_median(
    shape: list[int], data: st.DataObject
) -> None:
    x = torch.randn(shape, dtype=torch.float64)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    k = (shape[dim] - 1) // 2 + 1
    tally = Tally()
    medians = [select(tally, row, k, largest=False)[-1] for row in rows_of(x, dim)]
    torch.testing.assert_close(
        torch.tensor(medians, dtype=torch.float64), torch.median(x, dim).values.reshape(-1)
    )
    assert operator_count(torch.median, x, dim) == tally.count

    whole = Tally()
    everything = select(whole, x.reshape(-1), (x.numel() - 1) // 2 + 1, largest=False)[-1]
    assert everything == float(torch.median(x))
    assert operator_count(torch.Tensor.median, x) == whole.count


@given(shape=shapes, data=st.data())
def test_sort_and_argsort_match_merge_sort(shape: list[int], data: st.DataObject) -> None:
    x = torch.randn(shape, dtype=torch.float64)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    tally = Tally()
    ordered = [merge_sort(tally, row.tolist()) for row in rows_of(x, dim)]
    expected = torch.sort(x, dim=dim).values.movedim(dim, -1).reshape(len(ordered), -1)
    torch.testing.assert_close(torch.tensor(ordered, dtype=torch.float64), expected)
    assert operator_count(torch.sort, x, dim) == tally.count
    assert operator_count(torch.argsort, x, dim=dim) == tally.count
    assert operator_count(torch.Tensor.sort, x, dim, True) == tally.count


def test_msort_sorts_along_the_first_dim() -> None:
    x = torch.randn(5, 3, dtype=torch.float64)
    tally = Tally()
    ordered = [merge_sort(tally, column.tolist()) for column in x.T]
    torch.testing.assert_close(torch.tensor(ordered, dtype=torch.float64).T, torch.msort(x))
    assert operator_count(torch.msort, x) == tally.count


@pytest.mark.parametrize(("n", "k"), [(8, 1), (8, 3), (8, 8), (1, 1)])
def test_pinned_selection(n: int, k: int) -> None:
    rows = 4
    x = torch.randn(rows, n)
    # round r (0-based) compares the N − r − 1 elements left after the first
    assert operator_count(torch.topk, x, k).ops == rows * sum(n - r - 1 for r in range(k))


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 8, 16])
def test_pinned_sort_of_powers_of_two_is_n_log_n(n: int) -> None:
    ops = operator_count(torch.sort, torch.randn(2, n)).ops
    if n & (n - 1) == 0:  # a power of two: log2 N merge levels of N compares each
        assert ops == 2 * n * int(math.log2(n))
    tally = Tally()
    merge_sort(tally, torch.randn(n).tolist())
    assert ops == 2 * tally.ops


def test_zero_size_and_meta() -> None:
    assert operator_count(torch.sort, torch.randn(0, 5)).ops == 0
    assert operator_count(torch.topk, torch.randn(3, 0), 0).ops == 0
    x = torch.randn(3, 9)
    assert operator_count(torch.topk, x.to("meta"), 4) == operator_count(torch.topk, x, 4)
    assert operator_count(torch.sort, x.to("meta")) == operator_count(torch.sort, x)
