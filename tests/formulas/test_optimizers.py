"""Optimizer steps against op-by-op references of torch.optim's update rules.

Each reference updates a copy of the parameters with Tally primitives; after two steps its
parameters must equal torch.optim's (single-tensor, foreach and fused implementations
alike), and the ops it counted must equal the step formula's, first step then second.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import Tensor, optim

import flopcount
from flopcount import Count
from flopcount._registry import lookup_optimizer, register_optimizer
from tests.tally import Tally

DOUBLE = torch.float64
IMPLEMENTATIONS = [{"foreach": False}, {"foreach": True}, {"fused": True}]


def priced_step(optimizer: optim.Optimizer, first_step: bool) -> Count:
    """What the registered formula says one ``step()`` of ``optimizer`` costs."""
    formula = lookup_optimizer(type(optimizer))
    assert formula is not None
    total = Count(0)
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            total += formula(group, parameter.numel(), first_step)
    return total


def run_torch(cls: type[optim.Optimizer], params: list[Tensor], grads: list[list[Tensor]],
              options: dict[str, Any]) -> tuple[list[Tensor], list[Count]]:  # fmt: skip
    """Two torch.optim steps; the parameters after them, and the formula's count per step."""
    leaves = [p.clone().requires_grad_() for p in params]
    optimizer = cls(leaves, **options)
    counts = []
    for step, step_grads in enumerate(grads):
        for leaf, grad in zip(leaves, step_grads, strict=True):
            leaf.grad = grad.clone()
        counts.append(priced_step(optimizer, first_step=step == 0))
        optimizer.step()
    return [leaf.detach() for leaf in leaves], counts


# -- SGD --------------------------------------------------------------------------------------
def reference_sgd(
    tally: Tally, param: Tensor, grad: Tensor, buffer: Tensor | None, *, lr: float,
    momentum: float, dampening: float, nesterov: bool, weight_decay: float, maximize: bool,
) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    if maximize:
        grad = tally.neg(grad)
    if weight_decay != 0:
        grad = tally.add(grad, tally.mul(param, weight_decay))
    if momentum != 0:
        if buffer is None:
            buffer = grad.clone()  # the first step copies
        else:
            scaled = grad if dampening == 0 else tally.mul(grad, 1 - dampening)
            buffer = tally.add(tally.mul(buffer, momentum), scaled)
        grad = tally.add(grad, tally.mul(buffer, momentum)) if nesterov else buffer
    return tally.add(param, tally.mul(grad, -lr)), buffer


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=["single", "foreach", "fused"])
@given(
    momentum=st.sampled_from([0.0, 0.9]),
    dampening=st.sampled_from([0.0, 0.3]),
    nesterov=st.booleans(),
    weight_decay=st.sampled_from([0.0, 0.1]),
    maximize=st.booleans(),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3),
)
def test_sgd_matches_reference(
    implementation: dict[str, bool], momentum: float, dampening: float, nesterov: bool,
    weight_decay: float, maximize: bool, sizes: list[int],
) -> None:  # fmt: skip
    if nesterov and (momentum == 0 or dampening != 0):
        return  # torch refuses Nesterov without momentum or with dampening
    options = dict(lr=0.1, momentum=momentum, dampening=dampening, nesterov=nesterov,
                   weight_decay=weight_decay, maximize=maximize)  # fmt: skip
    params = [torch.randn(n, 2, dtype=DOUBLE) for n in sizes]
    grads = [[torch.randn_like(p) for p in params] for _ in range(2)]
    actual, counts = run_torch(optim.SGD, params, grads, {**options, **implementation})
    expected, buffers = list(params), [None] * len(params)
    reference_counts = []
    for step_grads in grads:
        tally = Tally()
        for i, grad in enumerate(step_grads):
            expected[i], buffers[i] = reference_sgd(tally, expected[i], grad, buffers[i], **options)
        reference_counts.append(tally.count)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-7, atol=1e-8)
    assert counts == reference_counts


def test_sgd_pinned() -> None:
    numel = 10
    group = {"momentum": 0.9, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0,
             "maximize": False}  # fmt: skip
    update = 2  # p − lr·g: multiply, add
    buffer = 2  # μ·b + g
    formula = lookup_optimizer(optim.SGD)
    assert formula is not None
    assert formula(group, numel, True) == Count(numel * update)  # the buffer starts as g
    assert formula(group, numel, False) == Count(numel * (buffer + update))
    plain = {**group, "momentum": 0.0}
    assert formula(plain, numel, False) == Count(numel * update)
    full = {**group, "nesterov": True, "weight_decay": 0.1, "maximize": True}
    assert formula(full, numel, False) == Count(numel * (1 + 2 + buffer + 2 + update))


# -- Adam / AdamW -----------------------------------------------------------------------------
def reference_adam(
    tally: Tally, param: Tensor, grad: Tensor, state: dict[str, Any], *, lr: float,
    betas: tuple[float, float], eps: float, weight_decay: float, amsgrad: bool,
    maximize: bool, decoupled: bool,
) -> Tensor:  # fmt: skip
    """torch's single-tensor Adam, op by op; per-tensor scalars (bias corrections, the step
    counter, ``1 − lr·wd``) are hyper-parameter arithmetic, computed uncounted."""
    beta1, beta2 = betas
    state["step"] = state.get("step", 0) + 1
    m = state.get("m", torch.zeros_like(param))
    v = state.get("v", torch.zeros_like(param))
    if maximize:
        grad = tally.neg(grad)
    if weight_decay != 0:
        if decoupled:
            param = tally.mul(param, 1 - lr * weight_decay)
        else:
            grad = tally.add(grad, tally.mul(param, weight_decay))
    m = tally.add(m, tally.mul(tally.sub(grad, m), 1 - beta1))
    v = tally.add(tally.mul(v, beta2), tally.mul(tally.mul(grad, grad), 1 - beta2))
    state["m"], state["v"] = m, v
    if amsgrad:
        state["vmax"] = tally.maximum(state.get("vmax", torch.zeros_like(param)), v)
        v = state["vmax"]
    correction1 = 1 - beta1 ** state["step"]
    correction2 = 1 - beta2 ** state["step"]
    denominator = tally.add(tally.div(tally.sqrt(v), math.sqrt(correction2)), eps)
    step = tally.mul(tally.div(m, denominator), -lr / correction1)
    return tally.add(param, step)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS, ids=["single", "foreach", "fused"])
@pytest.mark.parametrize("cls", [optim.Adam, optim.AdamW])
@given(
    weight_decay=st.sampled_from([0.0, 0.1]),
    amsgrad=st.booleans(),
    maximize=st.booleans(),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=3),
)
def test_adam_matches_reference(
    implementation: dict[str, bool], cls: type[optim.Optimizer], weight_decay: float,
    amsgrad: bool, maximize: bool, sizes: list[int],
) -> None:  # fmt: skip
    options = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=weight_decay,
                   amsgrad=amsgrad, maximize=maximize)  # fmt: skip
    params = [torch.randn(n, 3, dtype=DOUBLE) for n in sizes]
    grads = [[torch.randn_like(p) for p in params] for _ in range(2)]
    actual, counts = run_torch(cls, params, grads, {**options, **implementation})
    expected = list(params)
    states: list[dict[str, Any]] = [{} for _ in params]
    reference_counts = []
    for step_grads in grads:
        tally = Tally()
        for i, grad in enumerate(step_grads):
            expected[i] = reference_adam(
                tally, expected[i], grad, states[i], decoupled=cls is optim.AdamW, **options
            )
        reference_counts.append(tally.count)
    for a, e in zip(actual, expected, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-7, atol=1e-8)
    assert counts == reference_counts


def test_adam_pinned() -> None:
    numel = 6
    moments = 3 + 4  # m + (1 − β₁)(g − m); β₂·v + (1 − β₂)·g·g
    denominator = 3  # √v / √(1 − β₂ᵗ) + ε
    update = 3  # p − step·m / denominator
    base = {"weight_decay": 0.0, "amsgrad": False, "maximize": False}
    adam, adamw = lookup_optimizer(optim.Adam), lookup_optimizer(optim.AdamW)
    assert adam is not None and adamw is not None
    plain = numel * (moments + denominator + update)
    assert adam(base, numel, True) == adam(base, numel, False) == Count(plain)
    decayed = {**base, "weight_decay": 0.01, "amsgrad": True, "maximize": True}
    assert adam(decayed, numel, False) == Count(plain + numel * (2 + 1 + 1))  # L2, max, −g
    assert adamw(decayed, numel, False) == Count(plain + numel * (1 + 1 + 1))  # p·(1 − lr·wd)


# -- the registry ------------------------------------------------------------------------------
def test_optimizer_lookup_walks_the_mro_and_refuses_duplicates() -> None:
    class MySGD(optim.SGD):
        pass

    assert lookup_optimizer(MySGD) is lookup_optimizer(optim.SGD)
    assert lookup_optimizer(optim.RMSprop) is None
    with pytest.raises(flopcount.RegistrationError, match="already has a step formula"):
        register_optimizer(optim.SGD)(lambda group, numel, first: Count(0))
    with pytest.raises(flopcount.RegistrationError, match="Optimizer subclasses"):
        register_optimizer(torch.nn.Linear)(lambda group, numel, first: Count(0))
    with pytest.raises(flopcount.RegistrationError, match="group, numel, first_step"):
        register_optimizer(MySGD)(lambda group, numel: Count(0))
