"""``torch.einsum`` (part of the matmul family), priced the way torch evaluates it.

Torch contracts the operands pairwise from left to right (opt_einsum is not consulted when
it is not installed). Labels are tracked with their sizes; a repeated label in one operand
is a diagonal, a view (free). Before each pairwise product, a label that appears in neither
the output nor any later operand, and in only one of the two operands (size ≠ 1), is summed
out of that operand first: ``n − n / s`` adds for an operand of ``n`` elements and label size
``s`` (N − 1 adds per sum). The product itself is ``R`` dot products of length ``K``, with
``K`` the product of the sizes of the labels both operands share and nothing later needs,
and ``R`` the product of all other label sizes: ``R·(2K − 1)`` ops and ``R·K`` MACs (a
product with nothing to sum is K = 1). A single operand is a plain sum:
``numel − numel(output)`` adds.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from .._count import Count
from .._registry import register_operator
from .matmul import product_count
from .primitives import spellings

Labels = dict[Any, int]


def parse_einsum(equation: str, shapes: list[tuple[int, ...]]) -> tuple[list[Labels], list[Any]]:
    """Per operand ``{label: size}`` (diagonals merged) and the output's labels.

    Ellipsis dims become labels ``("...", i)``, right-aligned across operands so that
    broadcast batch dims share a label.
    """
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(
            f"einsum equation {equation!r} names {len(terms)} operands, got {len(shapes)}"
        )
    parsed = [term.replace("...", ".") for term in terms]
    widths = [
        len(shape) - (len(term) - term.count("."))
        for term, shape in zip(parsed, shapes, strict=True)
    ]
    ellipsis_width = max(
        [w for term, w in zip(parsed, widths, strict=True) if "." in term], default=0
    )
    operands: list[Labels] = []
    counts: dict[Any, int] = {}
    for term, width, shape in zip(parsed, widths, shapes, strict=True):
        labels: list[Any] = []
        for char in term:
            if char == ".":
                labels.extend(("...", ellipsis_width - width + i) for i in range(width))
            else:
                labels.append(char)
                counts[char] = counts.get(char, 0) + 1
        operands.append(dict(zip(labels, shape, strict=True)))
    broadcast = [("...", i) for i in range(ellipsis_width)]
    if arrow:
        output: list[Any] = []
        for char in rhs.replace("...", "."):
            output.extend(broadcast if char == "." else [char])
    else:
        output = broadcast + sorted(label for label, n in counts.items() if n == 1)
    return operands, output


def _sum_out(labels: Labels, label: Any) -> Count:
    """Adds to sum ``label`` out of an operand: n − n / s (0 for an empty operand)."""
    n = math.prod(labels.values())
    return Count(n - n // labels.pop(label), 0) if n else Count(0, 0)


def einsum_count(equation: str, shapes: list[tuple[int, ...]]) -> Count:
    """Cost of ``torch.einsum(equation, *operands)`` with operands of ``shapes``."""
    operands, output = parse_einsum(equation, shapes)
    keep = set(output)
    if len(operands) == 1:
        n = math.prod(operands[0].values())
        kept = math.prod(size for label, size in operands[0].items() if label in keep)
        return Count(n - kept, 0) if n else Count(0, 0)
    contracted = list(dict.fromkeys(lb for op in operands for lb in op if lb not in keep))
    # how many operands still hold each summed label with a size other than 1
    pending = {label: sum(op.get(label, 1) != 1 for op in operands) for label in contracted}
    total = Count(0, 0)
    a = dict(operands[0])
    for operand in operands[1:]:
        b = dict(operand)
        summed: list[Any] = []
        for label in contracted:
            size_a, size_b = a.get(label, 1), b.get(label, 1)
            if size_a != 1 and size_b != 1:
                pending[label] -= 1
                if pending[label] == 1:  # no later operand has it: sum it in the product
                    summed.append(label)
                    pending[label] = 0
            elif pending[label] == 1:  # only one side has it and nothing later: sum first
                total += _sum_out(a if size_a != 1 else b, label)
                pending[label] = 0
        union = {lb: s for lb, s in b.items() if s != 1}
        union.update({lb: s for lb, s in a.items() if s != 1})
        length = math.prod(union[lb] for lb in summed)
        rest = {lb: s for lb, s in union.items() if lb not in summed}
        total += product_count(math.prod(rest.values()), length)
        a = rest
    return total


@register_operator(*spellings("einsum", inplace=False))
def einsum_operator(args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Count:
    """``torch.einsum(equation, *operands)`` or ``torch.einsum(equation, [operands])``."""
    equation = args[0]
    operands = list(args[1:])
    if len(operands) == 1 and not isinstance(operands[0], Tensor):
        operands = list(operands[0])
    return einsum_count(equation, [tuple(op.shape) for op in operands])
