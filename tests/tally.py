"""An independent op counter for tests: reference implementations count as they compute.

Every primitive does the real arithmetic with torch (so a reference's output can be
checked against the module under test) and adds the elementary operations it performed to
``ops``: its price per output element, read from the library's one price list
(:data:`flopcount.formulas.primitives.PRICES`), so a test can never price a primitive
differently from the library. Reductions and products are
written as loops of binary adds and multiplies, so no closed form is ever assumed: a
formula is only trusted when it equals what these loops counted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

import flopcount
from flopcount.formulas.primitives import PRICES


class Tally:
    def __init__(self) -> None:
        self.ops = 0
        self.macs = 0

    @property
    def count(self) -> flopcount.Count:
        return flopcount.Count(self.ops, self.macs)

    # -- elementwise ---------------------------------------------------------------
    def unary(
        self, fn: Callable[[Tensor], Tensor], x: Tensor, cost: int = PRICES["compare"]
    ) -> Tensor:
        """``fn`` on every element at ``cost`` ops each (default: one test or select)."""
        out = fn(x)
        self.ops += cost * out.numel()
        return out

    def binary(
        self,
        fn: Callable[[Tensor, Tensor], Tensor],
        a: Tensor | float,
        b: Tensor | float,
        cost: int = PRICES["compare"],
    ) -> Tensor:
        out = fn(torch.as_tensor(a), torch.as_tensor(b))
        self.ops += cost * out.numel()
        return out

    def add(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        return self.binary(torch.add, a, b, PRICES["add"])

    def sub(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        return self.binary(torch.sub, a, b, PRICES["add"])

    def mul(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        return self.binary(torch.mul, a, b, PRICES["mul"])

    def div(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        return self.binary(torch.div, a, b, PRICES["div"])

    def pow(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        """``a ** b`` for any exponent: the library's one price of a power."""
        return self.binary(torch.pow, a, b, PRICES["pow"])

    def maximum(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        return self.binary(torch.maximum, a, b, PRICES["compare"])

    def minimum(self, a: Tensor | float, b: Tensor | float) -> Tensor:
        return self.binary(torch.minimum, a, b, PRICES["compare"])

    def abs(self, x: Tensor) -> Tensor:
        return self.unary(torch.abs, x, PRICES["abs"])

    def neg(self, x: Tensor) -> Tensor:
        return self.unary(torch.neg, x, PRICES["neg"])

    def exp(self, x: Tensor) -> Tensor:
        return self.unary(torch.exp, x, PRICES["exp"])

    def log(self, x: Tensor) -> Tensor:
        return self.unary(torch.log, x, PRICES["log"])

    def sqrt(self, x: Tensor) -> Tensor:
        return self.unary(torch.sqrt, x, PRICES["sqrt"])

    # -- reductions as loops ---------------------------------------------------------
    def fold(self, step: Callable[[Tensor, Tensor], Tensor], x: Tensor, dim: int) -> Tensor:
        """Reduce ``dim`` with N − 1 applications of a counted binary ``step``."""
        pieces = x.unbind(dim)
        out = pieces[0]
        for piece in pieces[1:]:
            out = step(out, piece)
        return out

    def sum(self, x: Tensor, dim: int) -> Tensor:
        return self.fold(self.add, x, dim)

    def amax(self, x: Tensor, dim: int) -> Tensor:
        return self.fold(self.maximum, x, dim)

    # -- linear algebra ----------------------------------------------------------------
    def matmul(self, a: Tensor, b: Tensor) -> Tensor:
        """(…, m, k) @ (…, k, n): k products per output, summed by a loop; k MACs each."""
        k = a.shape[-1]
        terms = [self.mul(a[..., :, i : i + 1], b[..., i : i + 1, :]) for i in range(k)]
        out = terms[0]
        for term in terms[1:]:
            out = self.add(out, term)
        self.macs += k * out.numel()
        return out


def close(actual: Tensor, expected: Tensor, *, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    """A reference's output equals the module's (float64 references: tight tolerances)."""
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def module_count(module: torch.nn.Module, *inputs: object, **kwargs: object) -> flopcount.Count:
    """Count one call of ``module`` with the hook profiler alone (strict)."""
    report = flopcount.count(module, *inputs, operators=False, strict=True, **kwargs)
    return flopcount.Count(report.total, report.macs)


class Call(torch.nn.Module):
    """A module whose forward is one function call, to count operators in isolation."""

    def __init__(self, fn: Callable[..., object]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: object, **kwargs: object) -> object:
        return self.fn(*args, **kwargs)


def operator_count(fn: Callable[..., object], *args: object, **kwargs: object) -> flopcount.Count:
    """Count ``fn(*args, **kwargs)`` through operator counting alone (strict)."""
    report = flopcount.count(Call(fn), *args, strict=True, **kwargs)
    root = report.modules[""]
    return flopcount.Count(root.self_ops, root.self_macs)
