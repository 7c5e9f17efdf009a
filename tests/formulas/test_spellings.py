"""Every public spelling of a registered function has the same formula.

``torch.where(c, x, y)`` and ``x.where(c, y)`` are one selection; ``torch.exp``,
``torch.exp_``, ``Tensor.exp`` and ``Tensor.exp_`` are one exponential. A
``TorchFunctionMode`` receives whichever spelling the model wrote, so a formula registered
under one spelling only would leave the others in ``unsupported`` (or, worse, priced
differently). This test walks the whole default registry: for each registered function it
finds every other public spelling of its name that exists in the running torch and asserts
it is registered with the very same formula.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

import flopcount
from flopcount._operators import operator_name

SPACES: dict[str, Any] = {
    "torch": torch,
    "torch.Tensor": torch.Tensor,
    "torch.nn.functional": F,
    "torch.special": torch.special,
    "torch.linalg": torch.linalg,
}

# Same name, different function: another argument layout or another meaning. Each pair is
# priced by its own formula, written for its own signature.
DIFFERENT_FUNCTIONS = {
    # F.X(input, p, training=True, inplace) and torch.X(input, p, train): argument names
    frozenset({"dropout"}),
    frozenset({"alpha_dropout"}),
    frozenset({"feature_alpha_dropout"}),
    # F.X(input, running_mean, running_var, weight, bias, ...) and
    # torch.X(input, weight, bias, running_mean, running_var, ...): argument order
    frozenset({"batch_norm"}),
    frozenset({"instance_norm"}),
    # F.embedding_bag(input, weight, offsets, ...) and torch.embedding_bag(weight, input, ...)
    frozenset({"embedding_bag"}),
    # torch.norm(p="fro", dim=None) and torch.linalg.norm(ord=None, dim=None): different
    # defaults and rules for matrix norms (Tensor.norm is torch.norm)
    frozenset({"norm"}),
    # torch.polar(abs, angle) builds complex numbers elementwise; torch.linalg.polar (new in
    # torch 2.14) is a matrix polar decomposition, which flopcount does not price
    frozenset({"polar"}),
    # torch.distributed.gather/scatter are collectives (communication between ranks);
    # torch.gather/scatter index within one tensor
    frozenset({"gather"}),
    frozenset({"scatter"}),
}

# torch.X is the ATen kernel that F.X calls, with another argument layout (reduction as an
# int, no legacy size_average/reduce). F.X's formula counts the call; the kernel inside it
# is never seen by the operator mode. Called directly, the kernel is named in unsupported.
ATEN_FORMS_OF_FUNCTIONAL = {
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "ctc_loss",
    "hinge_embedding_loss",
    "kl_div",
    "margin_ranking_loss",
    "poisson_nll_loss",
    "triplet_margin_loss",
}


def stem(function: Any) -> str | None:
    """The bare name of a registered function (``exp`` for ``Tensor.exp_``), or None for
    dunders and names that are not identifiers. Aten operators (the backward's keys, e.g.
    ``torch.ops.aten.mm``) live below the public API: their names are not its spellings."""
    if isinstance(function, torch._ops.OpOverloadPacket):
        return None
    name = operator_name(function).rsplit(".", 1)[-1]
    if name.startswith("__") or not name.isidentifier():
        return None
    return name[:-1] if name.endswith("_") else name


def other_spellings(name: str) -> list[tuple[str, Any]]:
    found = []
    for space_name, space in SPACES.items():
        for candidate in (name, name + "_"):
            obj = getattr(space, candidate, None)
            if callable(obj) and not isinstance(obj, type):
                found.append((f"{space_name}.{candidate}", obj))
    return found


def test_every_public_spelling_of_a_registered_function_has_its_formula() -> None:
    registry = flopcount.default_registry()
    problems = []
    checked = 0
    for function in registry.operators():
        name = stem(function)
        if name is None or frozenset({name}) in DIFFERENT_FUNCTIONS:
            continue
        formula = registry.lookup_operator(function)
        for spelling, obj in other_spellings(name):
            if spelling.startswith("torch.") and spelling.count(".") == 1:
                if name in ATEN_FORMS_OF_FUNCTIONAL and operator_name(function).startswith(
                    "torch.nn.functional."
                ):
                    continue
            checked += 1
            other = registry.lookup_operator(obj)
            if other is not formula:
                what = "no formula" if other is None else f"formula {other.__qualname__}"
                problems.append(
                    f"{spelling}: {what}, but {operator_name(function)} has "
                    f"{getattr(formula, '__qualname__', formula)}"
                )
    assert checked > 1000
    assert problems == [], "\n".join(sorted(set(problems)))


def test_method_spellings_of_free_functions_are_free() -> None:
    """The spellings the issue found in timm and transformers models, counted end to end."""
    x, p = torch.randn(4, 3), torch.rand(4, 3)
    c = p > 0.5

    class Methods(torch.nn.Module):
        def forward(self, x: torch.Tensor, c: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
            y = x.where(c, x.flip(0)) + x.repeat_interleave(2, 0)[:4]
            y = y + x.broadcast_to(2, 4, 3)[0] + x.ravel().reshape(4, 3)
            y = y + x.fliplr() + x.flipud() + x.rot90(2).reshape(4, 3)
            assert x.is_same_size(y) and x[0, :1].is_nonzero() in (True, False)
            z = x.diag_embed().sum() + p.bernoulli().sum() + p.multinomial(2).sum()
            return y + z

    report = flopcount.count(Methods(), x, c, p, strict=True)
    r = 4 * 3  # elements of x
    y = 6 * r  # six elementwise adds; where, repeat_interleave, broadcast_to... are free
    z = (4 * 3 * 3 - 1) + (r - 1) + (4 * 2 - 1) + 2  # three sums, two scalar adds
    assert report.total == y + z + r  # and the final broadcast add
