"""Matrix products called directly in a forward: ``a @ b``, ``torch.bmm``, ``addmm``, ``kron``...

Every product here is a set of dot products: ``R`` output elements, each the sum of ``K``
scalar products, costs ``R·(2K − 1)`` ops (K multiplies, K − 1 adds) and ``R·K`` MACs
(:func:`flopcount.formulas.linear.dot_products`). Products without a sum (``outer``,
``kron``: K = 1) are the same formula: one multiply and one MAC per output element.

The ``add*`` family computes ``beta·input + alpha·(product)``: the ``input`` adds one op per
output element unless ``beta == 0`` (then ``input`` is ignored), ``alpha != 1`` adds one
multiply per output element, and ``beta`` not in (0, 1) one more. ``einsum`` is in
:mod:`.einsum`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._compat import optional
from .._count import Count
from .._registry import register_operator
from .._shapes import arg
from .primitives import ADD, MUL, dot_products, spellings


def product_count(outputs: int, length: int) -> Count:
    """``outputs`` dot products of ``length`` terms: ops R·(2K − 1), macs R·K."""
    return dot_products(outputs, length, bias=False)


def scaled_sum_count(outputs: int, length: int, beta: Any, alpha: Any) -> Count:
    """``beta·input + alpha·P`` where P is ``outputs`` dot products of ``length`` terms."""
    count = product_count(outputs, length)
    if outputs <= 0:
        return count
    extra = 0
    if length > 0 and beta != 0:
        extra += outputs  # + input
    if length > 0 and alpha != 1:
        extra += outputs  # alpha · P
    if beta not in (0, 1):
        extra += outputs  # beta · input
    return count + Count(extra, 0)


@register_operator(
    *spellings("matmul", "mm", "bmm", "mv", "dot", "vdot", inplace=False),
    torch.linalg.matmul,
    Tensor.__matmul__,
)
def matmul_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``a @ b`` in all of ``torch.matmul``'s cases (1-d·1-d, matrix·vector, batched with
    broadcasting), ``mm``, ``bmm``, ``mv``, ``dot``, ``vdot``: every output element is a dot
    product over ``a``'s last dim, so R = numel(output), K = a.shape[-1]."""
    a = args[0] if args else kwargs["input"]
    return product_count(output.numel(), a.shape[-1] if a.dim() else 1)


@register_operator(Tensor.__rmatmul__)
def rmatmul_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``other @ self`` reached through ``Tensor.__rmatmul__(self, other)``."""
    other = args[1]
    return product_count(output.numel(), other.shape[-1] if other.dim() else 1)


@register_operator(*spellings("addmm", "addmv", "baddbmm"))
def addmm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``beta·input + alpha·(m1 @ m2)``: R = numel(output), K = m1.shape[-1]."""
    names = ("mat1", "mat", "batch1")
    m1: Tensor = args[1] if len(args) > 1 else next(kwargs[n] for n in names if n in kwargs)
    beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
    return scaled_sum_count(output.numel(), m1.shape[-1], beta, alpha)


@register_operator(*spellings("addbmm"))
def addbmm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``beta·input + alpha·Σ_b b1[b] @ b2[b]``: each output sums B·K products."""
    b1 = args[1] if len(args) > 1 else kwargs["batch1"]
    beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
    return scaled_sum_count(output.numel(), b1.shape[0] * b1.shape[-1], beta, alpha)


@register_operator(*spellings("addr"))
def addr_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``beta·input + alpha·(v1 ⊗ v2)``: a K = 1 product per output element."""
    beta, alpha = kwargs.get("beta", 1), kwargs.get("alpha", 1)
    return scaled_sum_count(output.numel(), 1, beta, alpha)


@register_operator(*spellings("outer", "ger", "kron", inplace=False))
def outer_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``outer``/``ger``/``kron``: every output element is one product (1 op, 1 MAC)."""
    return product_count(output.numel(), 1)


@register_operator(*spellings("inner", inplace=False))
def inner_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``inner(a, b)``: dot products over the last dims; with a 0-d operand, a plain product."""
    a, b = args[0], args[1]
    if a.dim() == 0 or b.dim() == 0:
        return product_count(output.numel(), 1)
    return product_count(output.numel(), a.shape[-1])


@register_operator(torch.linalg.vecdot)
def vecdot_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``linalg.vecdot(x, y, dim=-1)``: dot products over the broadcast ``dim``."""
    x, y = args[0], args[1]
    dim = kwargs.get("dim", -1)
    length = max(x.shape[dim], y.shape[dim]) if min(x.shape[dim], y.shape[dim]) else 0
    return product_count(output.numel(), length)


@register_operator(*spellings("tensordot", inplace=False))
def tensordot_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``tensordot(a, b, dims)``: numel(output) dot products of K = the product of the
    contracted sizes. With a = F_a·K and b = K·F_b elements and F_a·F_b outputs,
    K² = numel(a)·numel(b)/numel(output), so K comes from the shapes alone whatever
    spelling of ``dims`` was used."""
    a, b = args[0], args[1]
    outputs = output.numel()
    if a.numel() == 0 or b.numel() == 0 or outputs == 0:
        return Count(0, 0)
    return product_count(outputs, math.isqrt(a.numel() * b.numel() // outputs))


def chain_order_count(dims: list[int]) -> Count:
    """Matrices of ``dims[i] × dims[i+1]`` multiplied in ``torch.linalg.multi_dot``'s order.

    Two matrices: one product. Three: (AB)C unless ``a·c·(b + d) > b·d·(a + c)``. Four or
    more: the classic matrix-chain dynamic programme minimising scalar multiplies, keeping
    the first split on ties, as torch does.
    """
    n = len(dims) - 1

    def cost(i: int, j: int, split: list[list[int]]) -> Count:
        if i == j:
            return Count(0, 0)
        k = split[i][j]
        left, right = cost(i, k, split), cost(k + 1, j, split)
        return left + right + product_count(dims[i] * dims[j + 1], dims[k + 1])

    split = [[0] * n for _ in range(n)]
    if n == 3:
        a, b, c, d = dims
        split[0][2] = 0 if a * c * (b + d) > b * d * (a + c) else 1  # A(BC) or (AB)C
        split[1][2] = 1
    elif n > 3:
        best = [[0] * n for _ in range(n)]
        for length in range(1, n):
            for i in range(n - length):
                j = i + length
                best[i][j] = -1
                for k in range(i, j):
                    q = best[i][k] + best[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                    if best[i][j] < 0 or q < best[i][j]:
                        best[i][j], split[i][j] = q, k
    return cost(0, n - 1, split) if n >= 2 else Count(0, 0)


def _chain_dims(matrices: list[Tensor]) -> list[int]:
    """``p`` with matrix i of ``p[i] × p[i+1]``; a 1-d first/last operand is a row/column."""
    first, last = matrices[0], matrices[-1]
    dims = [first.shape[0] if first.dim() == 2 else 1]
    dims += [m.shape[0] for m in matrices[1:]]
    dims.append(last.shape[1] if last.dim() == 2 else 1)
    return dims


@register_operator(torch.linalg.multi_dot, torch.chain_matmul)
def multi_dot_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``linalg.multi_dot([A, B, ...])`` and ``chain_matmul(A, B, ...)`` in torch's order
    (see :func:`chain_order_count`); one matrix is a copy (0)."""
    matrices = list(args[0]) if args and not isinstance(args[0], Tensor) else list(args)
    if not matrices:
        matrices = list(kwargs.get("tensors", kwargs.get("matrices", ())))
    if len(matrices) < 2:
        return Count(0, 0)
    return chain_order_count(_chain_dims(matrices))


# -- grouped matrix products (mixture-of-experts) ---------------------------------------------
def grouped_mm_count(
    a_shape: tuple[int, ...], b_shape: tuple[int, ...], groups: int, bias: bool
) -> Count:
    """``grouped_mm(a, b, offs)``: one matrix product per group (expert), G = ``groups``.

    - a (M, K), b (G, K, N), offs over a's rows: each row meets its group's (K, N) weight,
      M·N dot products of K terms (MoE experts: M = the routed token rows);
    - a (G, M, K), b (G, K, N): a batch of G products, G·M·N dot products of K terms;
    - a (G, M, K), b (K, N), offs over b's columns: column block g meets a[g], M·N dot
      products of K terms in all;
    - a (M, K), b (K, N), offs over K (a weight-gradient shape): G outputs (M, N), group g
      sums its k_g terms, M·N·(2K − G) ops and M·N·K MACs.

    A bias adds one op per output element. Priced from shapes, like every formula: the rows
    the offsets cover are all of a's rows (what transformers' grouped experts pass); rows a
    kernel leaves past ``offs[-1]`` would be counted too.
    """
    if len(a_shape) == 2 and len(b_shape) == 2:
        rows, depth, cols = a_shape[0], a_shape[1], b_shape[1]
        if min(rows, depth, cols, groups) <= 0:
            return Count(0)
        outputs = groups * rows * cols
        per_output = depth * MUL + (depth - groups) * ADD  # summed over the G groups
        ops = rows * cols * per_output + (outputs * ADD if bias else 0)
        return Count(ops, rows * cols * depth)
    depth = a_shape[-1]
    if len(a_shape) == 3 and len(b_shape) == 3:
        outputs = a_shape[0] * a_shape[1] * b_shape[2]
    elif len(a_shape) == 2:
        outputs = a_shape[0] * b_shape[2]
    else:
        outputs = a_shape[1] * b_shape[1]
    return dot_products(outputs, depth, bias)


@register_operator(optional("torch._grouped_mm"), optional("torch.nn.functional.grouped_mm"))
def grouped_mm_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``F.grouped_mm(mat_a, mat_b, *, offs=None, bias=None)`` / ``torch._grouped_mm``: see
    :func:`grouped_mm_count`."""
    a, b = arg(args, kwargs, 0, "mat_a", None), arg(args, kwargs, 1, "mat_b", None)
    if a is None:  # torch._grouped_mm names them self and mat2
        a, b = kwargs["self"], kwargs["mat2"]
    offs = kwargs.get("offs", args[2] if len(args) > 2 else None)
    groups = offs.shape[0] if offs is not None else (a.shape[0] if a.dim() == 3 else 1)
    bias = kwargs.get("bias", args[3] if len(args) > 3 else None) is not None
    return grouped_mm_count(tuple(a.shape), tuple(b.shape), groups, bias)
