"""Matrix products: R dot products of K terms are R·(2K − 1) ops and R·K MACs."""

from __future__ import annotations

import functools
import itertools
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

import flopcount
from flopcount.formulas.matmul import grouped_mm_count
from tests.tally import Tally, operator_count

side = st.integers(min_value=1, max_value=4)


def ref_matmul(t: Tally, a: Tensor, b: Tensor) -> Tensor:
    """``torch.matmul`` semantics on top of the counted loop of ``Tally.matmul``."""
    a2 = a.unsqueeze(0) if a.dim() == 1 else a
    b2 = b.unsqueeze(-1) if b.dim() == 1 else b
    out = t.matmul(a2, b2)
    if a.dim() == 1:
        out = out.squeeze(-2)
    if b.dim() == 1:
        out = out.squeeze(-1)
    return out


@st.composite
def matmul_operands(draw: Callable[..., Any]) -> tuple[list[int], list[int]]:
    """Shapes for every case of torch.matmul: 1-d, 2-d, batched, broadcast batches."""
    m, k, n = draw(side), draw(side), draw(side)
    batch = draw(st.lists(side, max_size=2))
    rank_a, rank_b = draw(st.integers(1, 2 + len(batch))), draw(st.integers(1, 2 + len(batch)))
    a = [k] if rank_a == 1 else [m, k]
    b = [k] if rank_b == 1 else [k, n]
    a = [draw(st.sampled_from([s, 1])) for s in batch][len(batch) - (rank_a - 2) :] + a
    b = [draw(st.sampled_from([s, 1])) for s in batch][len(batch) - (rank_b - 2) :] + b
    if rank_a <= 2:
        a = a[-rank_a:]
    if rank_b <= 2:
        b = b[-rank_b:]
    return a, b


@given(shapes=matmul_operands())
def test_matmul_in_all_its_cases_and_spellings(shapes: tuple[list[int], list[int]]) -> None:
    a, b = torch.randn(shapes[0]), torch.randn(shapes[1])
    tally = Tally()
    expected = ref_matmul(tally, a, b)
    torch.testing.assert_close(a @ b, expected)
    for fn in (torch.matmul, torch.linalg.matmul, Tensor.matmul, lambda a, b: a @ b):
        assert operator_count(fn, a, b) == tally.count
    assert operator_count(torch.matmul, a.to("meta"), b.to("meta")) == tally.count
    if a.dim() == b.dim() == 2:
        assert operator_count(torch.mm, a, b) == tally.count
    if a.dim() == b.dim() == 3 and a.shape[0] == b.shape[0]:
        assert operator_count(torch.bmm, a, b) == tally.count
    if a.dim() == 2 and b.dim() == 1:
        assert operator_count(torch.mv, a, b) == tally.count
    if a.dim() == b.dim() == 1:
        assert operator_count(torch.dot, a, b) == tally.count
        assert operator_count(torch.vdot, a, b) == tally.count
        assert operator_count(torch.inner, a, b) == tally.count


@given(
    m=side,
    k=side,
    n=side,
    batch=side,
    beta=st.sampled_from([1, 0, 0.5]),
    alpha=st.sampled_from([1, 2]),
)
def test_add_products_count_beta_and_alpha(
    m: int, k: int, n: int, batch: int, beta: float, alpha: float
) -> None:
    cases: list[tuple[Callable[..., Any], Tensor, Tensor, Tensor]] = [
        (torch.addmm, torch.randn(n), torch.randn(m, k), torch.randn(k, n)),
        (torch.addmv, torch.randn(m), torch.randn(m, k), torch.randn(k)),
        (
            torch.baddbmm,
            torch.randn(batch, 1, n),
            torch.randn(batch, m, k),
            torch.randn(batch, k, n),
        ),
    ]
    for fn, bias, x, y in cases:
        tally = Tally()
        product = ref_matmul(tally, x, y)
        if alpha != 1:
            product = tally.mul(alpha, product)
        if beta == 0:
            expected = product
        else:
            wide = bias.expand_as(product)
            expected = tally.add(wide if beta == 1 else tally.mul(beta, wide), product)
        call = functools.partial(fn, beta=beta, alpha=alpha)
        torch.testing.assert_close(call(bias, x, y), expected)
        assert operator_count(call, bias, x, y) == tally.count
        assert operator_count(call, bias.to("meta"), x.to("meta"), y.to("meta")) == tally.count
    # Tensor.addmm_ spelling
    bias, x, y = torch.randn(m, n), torch.randn(m, k), torch.randn(k, n)
    tally = Tally()
    expected = tally.add(bias, ref_matmul(tally, x, y))
    assert operator_count(lambda b, x, y: b.clone().addmm_(x, y), bias, x, y) == tally.count


@given(m=side, k=side, n=side, batch=side)
def test_addbmm_sums_over_the_batch_too(m: int, k: int, n: int, batch: int) -> None:
    bias, x, y = torch.randn(m, n), torch.randn(batch, m, k), torch.randn(batch, k, n)
    tally = Tally()
    # one dot product of batch·k terms per output element
    flat_x = x.permute(1, 0, 2).reshape(m, batch * k)
    expected = tally.add(bias, tally.matmul(flat_x, y.reshape(batch * k, n)))
    torch.testing.assert_close(torch.addbmm(bias, x, y), expected)
    assert operator_count(torch.addbmm, bias, x, y) == tally.count


@given(m=side, n=side, p=side, q=side)
def test_outer_ger_addr_and_kron_are_single_products(m: int, n: int, p: int, q: int) -> None:
    u, v = torch.randn(m), torch.randn(n)
    tally = Tally()
    expected = tally.matmul(u[:, None], v[None, :])  # K = 1: one product, one MAC each
    torch.testing.assert_close(torch.outer(u, v), expected)
    assert operator_count(torch.outer, u, v) == tally.count
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert operator_count(torch.ger, u, v) == tally.count
    bias = torch.randn(m, n)
    tally_addr = Tally()
    added = tally_addr.add(bias, tally_addr.matmul(u[:, None], v[None, :]))
    torch.testing.assert_close(torch.addr(bias, u, v), added)
    assert operator_count(torch.addr, bias, u, v) == tally_addr.count
    a, b = torch.randn(m, n), torch.randn(p, q)
    tally_kron = Tally()
    products = tally_kron.matmul(a.reshape(-1, 1), b.reshape(1, -1))
    kron = products.reshape(m, n, p, q).permute(0, 2, 1, 3).reshape(m * p, n * q)
    torch.testing.assert_close(torch.kron(a, b), kron)
    assert operator_count(torch.kron, a, b) == tally_kron.count


@given(
    free_a=st.lists(side, max_size=2),
    free_b=st.lists(side, max_size=2),
    shared=st.lists(side, max_size=2),
    as_int=st.booleans(),
)
def test_tensordot_and_inner(
    free_a: list[int], free_b: list[int], shared: list[int], as_int: bool
) -> None:
    a, b = torch.randn(free_a + shared), torch.randn(shared + free_b)
    length = 1
    for s in shared:
        length *= s
    tally = Tally()
    expected = tally.matmul(a.reshape(-1, length), b.reshape(length, -1)).reshape(free_a + free_b)
    dims: Any = (
        len(shared) if as_int else (list(range(len(free_a), a.dim())), list(range(len(shared))))
    )
    torch.testing.assert_close(torch.tensordot(a, b, dims=dims), expected)
    assert operator_count(lambda a, b: torch.tensordot(a, b, dims=dims), a, b) == tally.count
    assert (
        operator_count(lambda a, b: torch.tensordot(a, b, dims=dims), a.to("meta"), b.to("meta"))
        == tally.count
    )
    x, y = torch.randn([*free_a, 3]), torch.randn([*free_b, 3])
    tally_inner = Tally()
    inner = tally_inner.matmul(x.reshape(-1, 3), y.reshape(-1, 3).T).reshape(free_a + free_b)
    torch.testing.assert_close(torch.inner(x, y), inner)
    assert operator_count(torch.inner, x, y) == tally_inner.count


@given(
    shape=st.lists(side, min_size=1, max_size=3),
    ones=st.lists(st.booleans(), min_size=3, max_size=3),
)
def test_vecdot_contracts_the_broadcast_dim(shape: list[int], ones: list[bool]) -> None:
    x = torch.randn(shape)
    # batch dims may broadcast; the contracted last dim may not
    y = torch.randn(
        [1 if one else s for s, one in zip(shape[:-1], ones, strict=False)] + shape[-1:]
    )
    tally = Tally()
    wide_x, wide_y = torch.broadcast_tensors(x, y)
    expected = tally.matmul(wide_x.unsqueeze(-2), wide_y.unsqueeze(-1)).reshape(wide_x.shape[:-1])
    torch.testing.assert_close(torch.linalg.vecdot(x, y), expected)
    assert operator_count(torch.linalg.vecdot, x, y) == tally.count


# -- replaying the kernels torch really runs --------------------------------------------------
VIEWS = (
    "view",
    "permute",
    "unsqueeze",
    "squeeze",
    "as_strided",
    "expand",
    "reshape",
    "alias",
    "diagonal",
    "transpose",
    "t.default",
    "detach",
    "clone",
    "copy",
    "empty",
    "_unsafe_view",
)


class Recorder(TorchDispatchMode):
    """Every arithmetic ATen kernel torch ran, with its real operands."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...], Any]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        name = str(func)
        if not any(view in name for view in VIEWS):
            self.calls.append((name, tuple(args), out))
        return out


def replay(calls: list[tuple[str, tuple[Any, ...], Any]]) -> Tally:
    """Recount torch's own kernels op by op; each replayed result must equal torch's."""
    tally = Tally()
    for name, args, out in calls:
        if name in ("aten.mm.default", "aten.bmm.default"):
            result = tally.matmul(args[0], args[1])
        elif name == "aten.mul.Tensor":  # an einsum product with nothing to sum: 1 MAC each
            result = tally.mul(args[0], args[1])
            tally.macs += result.numel()
        elif name == "aten.sum.dim_IntList":
            x, dims = args[0], args[1]
            keep = len(args) > 2 and args[2]
            result = x
            for d in sorted((d % x.dim() for d in dims), reverse=True):
                result = tally.fold(tally.add, result, d)
                if keep:
                    result = result.unsqueeze(d)
        else:
            raise AssertionError(f"unexpected kernel {name}")
        torch.testing.assert_close(result, out)
    return tally


def recorded(fn: Callable[..., Any], *args: Any) -> Tally:
    with Recorder() as recorder:
        fn(*args)
    return replay(recorder.calls)


@given(sizes=st.lists(side, min_size=3, max_size=6), first_1d=st.booleans(), last_1d=st.booleans())
def test_multi_dot_follows_torchs_own_order(
    sizes: list[int], first_1d: bool, last_1d: bool
) -> None:
    matrices = [torch.randn(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    if first_1d:
        matrices[0] = matrices[0][0]
    if last_1d and len(matrices) > 1:
        matrices[-1] = matrices[-1][:, 0]
    tally = recorded(torch.linalg.multi_dot, matrices)
    assert operator_count(torch.linalg.multi_dot, matrices) == tally.count
    assert operator_count(torch.linalg.multi_dot, [m.to("meta") for m in matrices]) == tally.count
    if all(m.dim() == 2 for m in matrices):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert operator_count(torch.chain_matmul, *matrices) == tally.count


EINSUMS = [
    ("ij,jk->ik", ["ij", "jk"]),
    ("ij,jk->k", ["ij", "jk"]),
    ("ij,jk->", ["ij", "jk"]),
    ("bij,bjk->bik", ["bij", "bjk"]),
    ("ij,jk,kl->il", ["ij", "jk", "kl"]),
    ("ii->i", ["ii"]),
    ("ii", ["ii"]),
    ("ij->j", ["ij"]),
    ("ij", ["ij"]),
    ("i,i->i", ["i", "i"]),
    ("i,j", ["i", "j"]),
    ("ijk,ik->j", ["ijk", "ik"]),
    ("ij,kj,lj->ikl", ["ij", "kj", "lj"]),
    ("ab,bc,cd,de->ae", ["ab", "bc", "cd", "de"]),
    ("ij,ab->", ["ij", "ab"]),
    ("ij,jk,ik->", ["ij", "jk", "ik"]),
    ("bhqd,bhkd->bhqk", ["bhqd", "bhkd"]),
    ("...ij,...jk", ["..ij", "..jk"]),
    ("b...d,bd->b...", ["b..d", "bd"]),
]


@pytest.mark.parametrize("case", EINSUMS, ids=[case[0] for case in EINSUMS])
@settings(max_examples=max(3, settings().max_examples // 6))
@given(data=st.data())
def test_einsum_matches_torchs_pairwise_kernels(
    case: tuple[str, list[str]], data: st.DataObject
) -> None:
    equation, terms = case
    sizes = {label: data.draw(side, label=label) for label in "abcdehijklq"}
    ellipsis = data.draw(st.lists(side, max_size=2), label="ellipsis")
    operands = []
    for term in terms:
        shape = [sizes[c] for c in term.replace("..", "")]
        if ".." in term:
            broadcast = [data.draw(st.sampled_from([s, 1])) for s in ellipsis]
            position = term.index("..")
            shape = shape[:position] + broadcast + shape[position:]
        # a size-1 label makes torch sum or squeeze it first: exercise that too
        operands.append(torch.randn(shape))
    tally = recorded(torch.einsum, equation, *operands)
    assert operator_count(torch.einsum, equation, *operands) == tally.count
    assert operator_count(lambda *ops: torch.einsum(equation, list(ops)), *operands) == tally.count
    meta = [op.to("meta") for op in operands]
    assert operator_count(torch.einsum, equation, *meta) == tally.count


# -- edges and pinned cases -------------------------------------------------------------------
ZERO = flopcount.Count(0, 0)


def test_zero_size_products_cost_nothing() -> None:
    assert operator_count(torch.matmul, torch.randn(2, 0), torch.randn(0, 3)) == ZERO
    assert operator_count(torch.matmul, torch.randn(0, 4), torch.randn(4, 3)) == ZERO
    assert operator_count(torch.bmm, torch.randn(0, 2, 3), torch.randn(0, 3, 4)) == ZERO
    assert (
        operator_count(torch.addmm, torch.randn(2, 3), torch.randn(2, 0), torch.randn(0, 3)) == ZERO
    )
    assert operator_count(torch.einsum, "ij,jk->ik", torch.randn(2, 0), torch.randn(0, 3)) == ZERO
    assert operator_count(torch.tensordot, torch.randn(2, 0), torch.randn(0, 3), dims=1) == ZERO
    assert operator_count(torch.outer, torch.randn(0), torch.randn(3)) == ZERO
    # (2×0)(0×3)(3×2): torch picks A(BC) (cost b·d·(a + c) = 0); BC is empty, A(BC) has K = 0
    chain = [torch.randn(2, 0), torch.randn(0, 3), torch.randn(3, 2)]
    assert operator_count(torch.linalg.multi_dot, chain) == ZERO


def test_pinned_counts_in_named_dimensions() -> None:
    B, M, K, N = 2, 3, 4, 5  # noqa: N806
    x, w = torch.randn(B, M, K), torch.randn(K, N)
    assert operator_count(torch.matmul, x, w) == flopcount.Count(
        B * M * N * (2 * K - 1), B * M * N * K
    )
    bias, a, b = torch.randn(M, N), torch.randn(M, K), torch.randn(K, N)
    assert operator_count(lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2), bias, a, b) == (
        flopcount.Count(M * N * (2 * K - 1) + M * N + M * N + M * N, M * N * K)
    )
    assert operator_count(lambda c, a, b: torch.addmm(c, a, b, beta=0), bias, a, b).ops == M * N * (
        2 * K - 1
    )
    H, Q, T, D = 2, 3, 4, 5  # noqa: N806
    q, k = torch.randn(B, H, Q, D), torch.randn(B, H, T, D)
    assert operator_count(torch.einsum, "bhqd,bhkd->bhqk", q, k) == flopcount.Count(
        B * H * Q * T * (2 * D - 1), B * H * Q * T * D
    )
    # (P×1)(1×P)(P×1): torch evaluates A(BC), not left to right
    P = 10  # noqa: N806
    chain = [torch.randn(P, 1), torch.randn(1, P), torch.randn(P, 1)]
    bc = flopcount.Count(1 * 1 * (2 * P - 1), P)
    a_bc = flopcount.Count(P * 1 * (2 * 1 - 1), P)
    assert operator_count(torch.linalg.multi_dot, chain) == bc + a_bc
    # "ij,jk->": i summed out of the first operand and k out of the second, then one dot
    Ii, Jj, Kk = 2, 3, 4  # noqa: N806
    assert operator_count(
        torch.einsum, "ij,jk->", torch.randn(Ii, Jj), torch.randn(Jj, Kk)
    ) == flopcount.Count((Ii - 1) * Jj + Jj * (Kk - 1) + (2 * Jj - 1), Jj)
    assert operator_count(torch.kron, torch.randn(M, N), torch.randn(K, B)) == flopcount.Count(
        M * N * K * B, M * N * K * B
    )


# -- grouped matrix products (mixture-of-experts) ---------------------------------------------
GROUPED_MM = [f for f in (getattr(torch, "_grouped_mm", None), getattr(F, "grouped_mm", None)) if f]
needs_grouped_mm = pytest.mark.skipif(
    not GROUPED_MM, reason=f"torch {torch.__version__} has no grouped_mm"
)


def _offsets(sizes: list[int]) -> Tensor:
    return torch.tensor(sizes, dtype=torch.int32).cumsum(0).to(torch.int32)


def ref_grouped(t: Tally, a: Tensor, b: Tensor, sizes: list[int] | None) -> Tensor:
    """One counted matmul per group, sliced the way each operand layout groups."""
    if a.dim() == 3 and b.dim() == 3:
        return t.matmul(a, b)
    assert sizes is not None
    bounds = [0, *_offsets(sizes).tolist()]
    spans = list(itertools.pairwise(bounds))
    if a.dim() == 2 and b.dim() == 3:  # rows of a, routed to experts
        return torch.cat([t.matmul(a[s:e], b[g]) for g, (s, e) in enumerate(spans)])
    if a.dim() == 3:  # column blocks of b
        return torch.cat([t.matmul(a[g], b[:, s:e]) for g, (s, e) in enumerate(spans)], 1)
    return torch.stack([t.matmul(a[:, s:e], b[s:e]) for s, e in spans])  # K split


@needs_grouped_mm
@given(
    layout=st.sampled_from(["2d-3d", "3d-3d", "3d-2d", "2d-2d"]),
    sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3),
    m=st.integers(1, 3),
    k4=st.integers(1, 3),
    n4=st.integers(1, 3),
)
def test_grouped_mm_matches_one_matmul_per_group(
    layout: str, sizes: list[int], m: int, k4: int, n4: int
) -> None:
    """float32 CPU kernels want 16-byte strides: K, N and the split sizes are multiples of 4
    where they are a stride."""
    g, k, n = len(sizes), 4 * k4, 4 * n4
    if layout == "2d-3d":  # sizes are token rows per expert
        a, b, offs = torch.randn(sum(sizes), k), torch.randn(g, k, n), _offsets(sizes)
    elif layout == "3d-3d":
        a, b, offs = torch.randn(g, m, k), torch.randn(g, k, n), None
    elif layout == "3d-2d":
        sizes = [4 * s for s in sizes]
        a, b, offs = torch.randn(g, m, k), torch.randn(k, sum(sizes)), _offsets(sizes)
    else:
        sizes = [4 * s for s in sizes]
        a, b, offs = torch.randn(m, sum(sizes)), torch.randn(sum(sizes), n), _offsets(sizes)
    t = Tally()
    expected = ref_grouped(t, a, b, None if offs is None else sizes)
    kwargs = {} if offs is None else {"offs": offs}
    for fn in GROUPED_MM:
        torch.testing.assert_close(fn(a, b, **kwargs), expected, rtol=1e-4, atol=1e-4)
        assert operator_count(fn, a, b, **kwargs) == t.count


@needs_grouped_mm
def test_grouped_mm_pinned_moe_experts() -> None:
    """The issue's case: 12 routed token rows of width 16 through 4 experts of 16 → 32."""
    tokens, hidden, experts, inner = 12, 16, 4, 32
    x, w = torch.randn(tokens, hidden), torch.randn(experts, hidden, inner)
    offs = _offsets([3, 3, 3, 3])
    for fn in GROUPED_MM:
        assert operator_count(fn, x, w, offs=offs) == flopcount.Count(
            tokens * inner * (2 * hidden - 1), tokens * hidden * inner
        )
    # a bias adds one op per output (torch's CPU kernel refuses a bias, so: the formula)
    with_bias = grouped_mm_count((tokens, hidden), (experts, hidden, inner), experts, True)
    assert with_bias.ops == tokens * inner * 2 * hidden
