"""Normalisation formulas against op-by-op Tally references.

Definition counted (docs/formulas.md, Normalization): per group of N elements, mean N − 1 adds + 1
div; centre N subs; variance N muls + N − 1 adds + 1 div; sqrt(var + eps) 2; N divides.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given
from hypothesis import strategies as st
from torch import Tensor, nn

from flopcount import Count
from flopcount._compat import TORCH_VERSION
from flopcount.formulas.norm import batch_norm_module, group_norm_count
from tests.tally import Tally, module_count, operator_count

EPS = 1e-5


# -- op-by-op references ------------------------------------------------------------------
def standardize(tally: Tally, rows: Tensor, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """Rows (G, N) → (normalised rows, means, sums of squared deviations)."""
    n = rows.shape[1]
    mean = tally.div(tally.sum(rows, 1), n)
    centred = tally.sub(rows, mean[:, None])
    squared_deviations = tally.sum(tally.mul(centred, centred), 1)
    var = tally.div(squared_deviations, n)
    scale = tally.sqrt(tally.add(var, eps))
    return tally.div(centred, scale[:, None]), mean, squared_deviations


def affine(
    tally: Tally, y: Tensor, weight: Tensor | None, bias: Tensor | None, view: list[int]
) -> Tensor:
    if weight is not None:
        y = tally.mul(y, weight.reshape(view))
    if bias is not None:
        y = tally.add(y, bias.reshape(view))
    return y


def ema(tally: Tally, running: Tensor, stat: Tensor, momentum: float | None) -> Tensor:
    assert momentum is not None
    return tally.add(tally.mul(1.0 - momentum, running), tally.mul(momentum, stat))


def by_channel(x: Tensor) -> Tensor:
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def reference_batch_norm(
    tally: Tally,
    x: Tensor,
    rm: Tensor | None,
    rv: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    batch_stats: bool,
    momentum: float | None,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """Returns the output and the updated running mean and variance (None if untouched)."""
    c = x.shape[1]
    view = [1, c] + [1] * (x.ndim - 2)
    new_mean = new_var = None
    if batch_stats:
        rows, mean, ssd = standardize(tally, by_channel(x), EPS)
        y = rows.reshape(c, x.shape[0], *x.shape[2:]).transpose(0, 1)
        n = rows.shape[1]
        if rm is not None:
            new_mean = ema(tally, rm, mean, momentum)
        if rv is not None:
            new_var = ema(tally, rv, tally.div(ssd, n - 1), momentum)
    else:
        assert rm is not None and rv is not None
        scale = tally.sqrt(tally.add(rv, EPS))
        y = tally.div(tally.sub(x, rm.reshape(view)), scale.reshape(view))
    return affine(tally, y, weight, bias, view), new_mean, new_var


def reference_instance_norm(
    tally: Tally,
    x: Tensor,
    rm: Tensor | None,
    rv: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    batch_stats: bool,
    momentum: float,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    b, c = x.shape[:2]
    view = [1, c] + [1] * (x.ndim - 2)
    new_mean = new_var = None
    if batch_stats:
        rows, mean, ssd = standardize(tally, x.reshape(b * c, -1), EPS)
        y = rows.reshape(x.shape)
        n = rows.shape[1]
        if rm is not None:
            batch_mean = tally.div(tally.sum(mean.reshape(b, c), 0), b)
            new_mean = ema(tally, rm, batch_mean, momentum)
        if rv is not None:
            unbiased = tally.div(ssd, n - 1).reshape(b, c)
            new_var = ema(tally, rv, tally.div(tally.sum(unbiased, 0), b), momentum)
    else:
        assert rm is not None and rv is not None
        scale = tally.sqrt(tally.add(rv, EPS))
        y = tally.div(tally.sub(x, rm.reshape(view)), scale.reshape(view))
    return affine(tally, y, weight, bias, view), new_mean, new_var


def reference_layer_norm(
    tally: Tally, x: Tensor, k: int, weight: Tensor | None, bias: Tensor | None
) -> Tensor:
    n = math.prod(x.shape[x.ndim - k :])
    rows, _, _ = standardize(tally, x.reshape(-1, n), EPS)
    view = list(x.shape[x.ndim - k :])
    return affine(tally, rows.reshape(x.shape), weight, bias, view)


def reference_group_norm(
    tally: Tally, x: Tensor, groups: int, weight: Tensor | None, bias: Tensor | None
) -> Tensor:
    rows, _, _ = standardize(tally, x.reshape(x.shape[0] * groups, -1), EPS)
    view = [1, x.shape[1]] + [1] * (x.ndim - 2)
    return affine(tally, rows.reshape(x.shape), weight, bias, view)


def reference_rms_norm(
    tally: Tally, x: Tensor, k: int, weight: Tensor | None, eps: float
) -> Tensor:
    n = math.prod(x.shape[x.ndim - k :])
    rows = x.reshape(-1, n)
    mean_square = tally.div(tally.sum(tally.mul(rows, rows), 1), n)
    rms = tally.sqrt(tally.add(mean_square, eps))
    y = tally.div(rows, rms[:, None]).reshape(x.shape)
    return affine(tally, y, weight, None, list(x.shape[x.ndim - k :]))


# -- BatchNorm ------------------------------------------------------------------------------
BN_TYPES = {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}
small = st.integers(min_value=1, max_value=3)


def randomize_buffers(module: nn.Module) -> None:
    with torch.no_grad():
        for name in ("running_mean", "weight", "bias"):
            if getattr(module, name, None) is not None:
                getattr(module, name).normal_()
        if getattr(module, "running_var", None) is not None:
            module.running_var.uniform_(0.5, 2.0)


def check_batch_norm(module: nn.Module, x: Tensor) -> Tally:
    """Reference vs module output and running buffers; returns the tally."""
    randomize_buffers(module)
    rm = None if module.running_mean is None else module.running_mean.clone()
    rv = None if module.running_var is None else module.running_var.clone()
    momentum = module.momentum
    if momentum is None and module.training and rm is not None:
        momentum = 1.0 / (int(module.num_batches_tracked) + 1)  # cumulative average
    batch_stats = module.training or rm is None
    tally = Tally()
    expected, new_mean, new_var = reference_batch_norm(
        tally, x, rm, rv, module.weight, module.bias, batch_stats, momentum
    )
    fresh = copy.deepcopy(module)
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected)
    if new_mean is not None:
        torch.testing.assert_close(module.running_mean, new_mean)
        torch.testing.assert_close(module.running_var, new_var)
    assert module_count(fresh, x) == tally.count
    return tally


@given(
    ndim=st.integers(2, 5),
    b=small,
    c=small,
    spatial=st.lists(small, min_size=3, max_size=3),
    affine_=st.booleans(),
    track=st.booleans(),
    training=st.booleans(),
    momentum=st.sampled_from([0.1, 0.5, None]),
)
def test_batch_norm_matches_reference(
    ndim: int,
    b: int,
    c: int,
    spatial: list[int],
    affine_: bool,
    track: bool,
    training: bool,
    momentum: float | None,
) -> None:
    shape = (b + 1, c, *spatial[: ndim - 2])  # batch statistics need N > 1
    module = BN_TYPES[ndim](c, affine=affine_, track_running_stats=track, momentum=momentum)
    module.train(training)
    check_batch_norm(module, torch.randn(shape))


@given(
    b=small,
    c=small,
    length=small,
    weight=st.booleans(),
    bias=st.booleans(),
    training=st.booleans(),
    running=st.booleans(),
)
def test_batch_norm_functional_forms(
    b: int, c: int, length: int, weight: bool, bias: bool, training: bool, running: bool
) -> None:
    assume(running or training)
    x = torch.randn(b + 1, c, length)
    w = torch.randn(c) if weight else None
    bb = torch.randn(c) if bias else None
    rm, rv = torch.randn(c), torch.rand(c) + 0.5
    rm_, rv_ = (rm.clone(), rv.clone()) if running else (None, None)
    tally = Tally()
    expected, _, _ = reference_batch_norm(tally, x, rm_, rv_, w, bb, training, 0.1)
    torch.testing.assert_close(F.batch_norm(x, rm_, rv_, w, bb, training, 0.1, EPS), expected)
    rm_, rv_ = (rm.clone(), rv.clone()) if running else (None, None)
    assert operator_count(F.batch_norm, x, rm_, rv_, w, bb, training, 0.1, EPS) == tally.count
    rm_, rv_ = (rm.clone(), rv.clone()) if running else (None, None)
    count = operator_count(torch.batch_norm, x, w, bb, rm_, rv_, training, 0.1, EPS, False)
    assert count == tally.count


def test_batch_norm2d_pinned_train_eval_and_untracked() -> None:
    b, c, h, w = 2, 3, 4, 5
    x = torch.randn(b, c, h, w)
    n, total = b * h * w, b * c * h * w
    bn = nn.BatchNorm2d(c)
    train = module_count(bn, x)
    assert train == Count(c * (5 * n + 2) + 2 * total + 7 * c)  # batch stats, affine, update
    bn.eval()
    assert module_count(bn, x) == Count(2 * c + 2 * total + 2 * total)  # running stats
    assert module_count(bn, x) != train
    untracked = nn.BatchNorm2d(c, affine=False, track_running_stats=False).eval()
    assert module_count(untracked, x) == Count(c * (5 * n + 2))  # eval, batch stats, no update


def test_batch_norm_running_update_costs_seven_ops_per_channel() -> None:
    b, c, length = 4, 5, 3
    x = torch.randn(b, c, length)
    tracked = module_count(nn.BatchNorm1d(c), x)
    untracked = module_count(nn.BatchNorm1d(c, track_running_stats=False), x)
    # mean: 2 mul + 1 add; var: 1 div (unbiased) + 2 mul + 1 add
    assert tracked.ops - untracked.ops == c * (3 + 4)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_zero_size_batch_counts_zero(training: bool) -> None:
    bn = nn.BatchNorm1d(3).train(training)
    assert module_count(bn, torch.randn(0, 3)) == Count(0)
    assert module_count(nn.BatchNorm2d(3).train(training), torch.randn(0, 3, 2, 2)) == Count(0)


@pytest.mark.parametrize("training", [True, False])
def test_sync_batch_norm_uses_the_batch_norm_formula(training: bool) -> None:
    b, c, length = 3, 2, 4
    x = torch.randn(b, c, length)
    sync, plain = nn.SyncBatchNorm(c).train(training), nn.BatchNorm1d(c).train(training)
    out = plain(x)
    # formula applied directly to module + shapes (a training forward needs a process group)
    assert batch_norm_module(sync, (x,), out) == module_count(plain, x)
    if not training:
        assert module_count(sync.eval(), x) == check_batch_norm(nn.BatchNorm1d(c).eval(), x).count


@pytest.mark.parametrize(
    ("lazy", "plain", "shape"),
    [
        (nn.LazyBatchNorm1d, nn.BatchNorm1d, (3, 2, 4)),
        (nn.LazyBatchNorm2d, nn.BatchNorm2d, (2, 3, 2, 2)),
        (nn.LazyBatchNorm3d, nn.BatchNorm3d, (2, 2, 1, 2, 2)),
        (nn.LazyInstanceNorm1d, nn.InstanceNorm1d, (2, 3, 4)),
        (nn.LazyInstanceNorm2d, nn.InstanceNorm2d, (2, 3, 2, 2)),
        (nn.LazyInstanceNorm3d, nn.InstanceNorm3d, (2, 2, 2, 2, 2)),
    ],
)
def test_lazy_norms_count_like_their_concrete_class(
    lazy: type, plain: type, shape: tuple[int, ...]
) -> None:
    x = torch.randn(shape)
    expected = module_count(plain(shape[1], affine=True, track_running_stats=True), x)
    assert module_count(lazy(affine=True, track_running_stats=True), x) == expected


# -- InstanceNorm ---------------------------------------------------------------------------
IN_TYPES = {3: nn.InstanceNorm1d, 4: nn.InstanceNorm2d, 5: nn.InstanceNorm3d}


@given(
    ndim=st.integers(3, 5),
    b=small,
    c=small,
    spatial=st.lists(small, min_size=3, max_size=3),
    affine_=st.booleans(),
    track=st.booleans(),
    training=st.booleans(),
)
def test_instance_norm_matches_reference(
    ndim: int, b: int, c: int, spatial: list[int], affine_: bool, track: bool, training: bool
) -> None:
    spatial[0] += 1  # per-instance statistics need more than one value
    x = torch.randn(b, c, *spatial[: ndim - 2])
    module = IN_TYPES[ndim](c, affine=affine_, track_running_stats=track).train(training)
    randomize_buffers(module)
    batch_stats = training or not track
    rm = module.running_mean.clone() if track else None
    rv = module.running_var.clone() if track else None
    tally = Tally()
    expected, new_mean, new_var = reference_instance_norm(
        tally, x, rm, rv, module.weight, module.bias, batch_stats, 0.1
    )
    fresh = copy.deepcopy(module)
    with torch.no_grad():
        torch.testing.assert_close(module(x), expected)
    if new_mean is not None:
        torch.testing.assert_close(module.running_mean, new_mean)
        torch.testing.assert_close(module.running_var, new_var)
    assert module_count(fresh, x) == tally.count
    fresh = copy.deepcopy(module)
    assert (
        operator_count(
            F.instance_norm,
            x,
            fresh.running_mean,
            fresh.running_var,
            fresh.weight,
            fresh.bias,
            batch_stats,
        )
        == tally.count
    )
    fresh = copy.deepcopy(module)
    assert (
        operator_count(
            torch.instance_norm,
            x,
            fresh.weight,
            fresh.bias,
            fresh.running_mean,
            fresh.running_var,
            batch_stats,
            0.1,
            EPS,
            False,
        )
        == tally.count
    )


def test_instance_norm_pinned_and_unbatched() -> None:
    b, c, length = 2, 3, 5
    x = torch.randn(b, c, length)
    plain = nn.InstanceNorm1d(c)
    assert module_count(plain, x) == Count(b * c * (5 * length + 2))
    tracked = nn.InstanceNorm1d(c, affine=True, track_running_stats=True)
    # stats + affine + update (mean: B + 3, var: 2B + 3 per channel)
    update = c * ((b + 3) + (2 * b + 3))
    assert module_count(tracked, x) == Count(b * c * (5 * length + 2) + 2 * b * c * length + update)
    assert module_count(tracked.eval(), x) == Count(2 * c + 2 * b * c * length + 2 * b * c * length)
    # an unbatched (C, L) input is one instance per channel
    assert module_count(plain, x[0]) == Count(c * (5 * length + 2))


# -- LayerNorm, GroupNorm, RMSNorm ------------------------------------------------------------
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4)


@given(shape=shapes, data=st.data(), affine_=st.booleans(), bias=st.booleans())
def test_layer_norm_matches_reference(
    shape: list[int], data: st.DataObject, affine_: bool, bias: bool
) -> None:
    k = data.draw(st.integers(1, len(shape)), label="normalized dims")
    normalized = shape[len(shape) - k :]
    x = torch.randn(shape)
    module = nn.LayerNorm(normalized, elementwise_affine=affine_, bias=bias)
    randomize_buffers(module)
    tally = Tally()
    with torch.no_grad():
        expected = reference_layer_norm(tally, x, k, module.weight, module.bias)
        torch.testing.assert_close(module(x), expected)
    assert module_count(module, x) == tally.count
    args = (x, tuple(normalized), module.weight, module.bias)
    assert operator_count(F.layer_norm, *args) == tally.count
    assert operator_count(torch.layer_norm, *args) == tally.count


def test_layer_norm_over_several_dims_pinned() -> None:
    b, s, h, w = 2, 3, 4, 5
    x = torch.randn(b, s, h, w)
    n = h * w  # normalized_shape = (H, W): one group per (b, s)
    assert module_count(nn.LayerNorm([h, w]), x) == Count(b * s * (5 * n + 2) + 2 * b * s * h * w)
    n3 = s * h * w
    assert module_count(nn.LayerNorm([s, h, w], bias=False), x) == Count(b * (5 * n3 + 2) + b * n3)
    assert module_count(nn.LayerNorm([w], elementwise_affine=False), x) == Count(
        b * s * h * (5 * w + 2)
    )
    assert module_count(nn.LayerNorm([w]), torch.randn(0, w)) == Count(0)


@given(
    b=small,
    groups=small,
    per_group=small,
    spatial=st.lists(small, max_size=2),
    affine_=st.booleans(),
)
def test_group_norm_matches_reference(
    b: int, groups: int, per_group: int, spatial: list[int], affine_: bool
) -> None:
    c = groups * per_group
    x = torch.randn(b, c, *spatial)
    assume(x.numel() // (b * groups) > 1)
    module = nn.GroupNorm(groups, c, affine=affine_)
    randomize_buffers(module)
    tally = Tally()
    with torch.no_grad():
        expected = reference_group_norm(tally, x, groups, module.weight, module.bias)
        torch.testing.assert_close(module(x), expected)
    assert module_count(module, x) == tally.count
    assert operator_count(F.group_norm, x, groups, module.weight, module.bias) == tally.count
    assert operator_count(torch.group_norm, x, groups, module.weight, module.bias) == tally.count


def test_group_norm_pinned() -> None:
    b, c, g, h, w = 2, 6, 3, 2, 2
    n = (c // g) * h * w
    assert module_count(nn.GroupNorm(g, c), torch.randn(b, c, h, w)) == Count(
        b * g * (5 * n + 2) + 2 * b * c * h * w
    )


@given(shape=shapes, data=st.data(), affine_=st.booleans(), eps=st.sampled_from([None, 1e-6]))
def test_rms_norm_matches_reference(
    shape: list[int], data: st.DataObject, affine_: bool, eps: float | None
) -> None:
    k = data.draw(st.integers(1, len(shape)), label="normalized dims")
    normalized = shape[len(shape) - k :]
    x = torch.randn(shape)
    module = nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine_)
    randomize_buffers(module)
    tally = Tally()
    with torch.no_grad():
        value = torch.finfo(x.dtype).eps if eps is None else eps
        torch.testing.assert_close(module(x), reference_rms_norm(tally, x, k, module.weight, value))
    assert module_count(module, x) == tally.count
    assert operator_count(F.rms_norm, x, tuple(normalized), module.weight, eps) == tally.count
    assert operator_count(torch.rms_norm, x, tuple(normalized), module.weight, eps) == tally.count


def test_rms_norm_pinned() -> None:
    b, s, d = 2, 3, 8
    assert module_count(nn.RMSNorm(d), torch.randn(b, s, d)) == Count(
        b * s * (3 * d + 2) + b * s * d
    )
    assert module_count(
        nn.RMSNorm([s, d], elementwise_affine=False), torch.randn(b, s, d)
    ) == Count(b * (3 * s * d + 2))


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (nn.InstanceNorm1d(3), (0, 3, 4)),
        (nn.InstanceNorm1d(3, track_running_stats=True), (0, 3, 4)),
        (nn.GroupNorm(3, 6), (0, 6, 2)),
        pytest.param(
            nn.GroupNorm(2, 4),
            (2, 4, 0),
            marks=pytest.mark.skipif(
                TORCH_VERSION >= (2, 14),
                reason="torch >= 2.14 rejects a GroupNorm over zero spatial elements "
                "(RuntimeError: Expected HxW to be greater than 0); see the test below",
            ),
        ),
        (nn.LayerNorm([4]), (0, 3, 4)),
        (nn.RMSNorm([4]), (0, 3, 4)),
        (nn.LocalResponseNorm(2), (0, 3, 4)),
        (nn.CrossMapLRN2d(3), (0, 3, 2, 2)),
    ],
)
def test_norms_on_zero_size_input_count_zero(module: nn.Module, shape: tuple[int, ...]) -> None:
    assert module_count(module, torch.randn(shape)) == Count(0)


def test_group_norm_over_zero_spatial_elements() -> None:
    """The formula counts 0 for (B, C, 0) on every release; torch < 2.14 computes the empty
    result, torch >= 2.14 refuses it, and the profile passes torch's error through."""
    assert group_norm_count((2, 4, 0), 2, True, True) == Count(0)
    if TORCH_VERSION >= (2, 14):
        with pytest.raises(RuntimeError, match="HxW"):
            module_count(nn.GroupNorm(2, 4), torch.randn(2, 4, 0))


# -- meta device ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (nn.BatchNorm2d(3), (2, 3, 4, 4)),
        (nn.BatchNorm1d(3).eval(), (2, 3)),
        (nn.InstanceNorm2d(3, affine=True, track_running_stats=True), (2, 3, 4, 4)),
        (nn.LayerNorm([4, 4]), (2, 3, 4, 4)),
        (nn.GroupNorm(3, 6), (2, 6, 3)),
        (nn.RMSNorm([4]), (2, 3, 4)),
        (nn.LocalResponseNorm(3), (2, 5, 4)),
        (nn.CrossMapLRN2d(3), (2, 5, 3, 3)),
    ],
)
def test_norm_counts_on_meta_match_cpu(module: nn.Module, shape: tuple[int, ...]) -> None:
    x = torch.randn(shape)
    cpu = module_count(copy.deepcopy(module), x)
    assert cpu.ops > 0
    assert module_count(copy.deepcopy(module).to("meta"), x.to("meta")) == cpu


def test_norm_operators_on_meta_match_cpu() -> None:
    x = torch.randn(2, 6, 5)
    for fn, args in [
        (F.layer_norm, ((5,),)),
        (F.group_norm, (3,)),
        (F.rms_norm, ((5,),)),
        (F.local_response_norm, (3,)),
        (F.normalize, ()),
    ]:
        assert operator_count(fn, x.to("meta"), *args) == operator_count(fn, x, *args)


# -- LocalResponseNorm, CrossMapLRN2d -----------------------------------------------------
def power(tally: Tally, base: Tensor, exponent: float) -> Tensor:
    """``base ** exponent``, priced by the library's one price of a power."""
    return tally.pow(base, exponent)


def reference_lrn(
    tally: Tally, x: Tensor, size: int, alpha: float, beta: float, k: float
) -> Tensor:
    """Clipped window of channel c: [c − size//2, c + (size − 1)//2]; zeros not added."""
    c = x.shape[1]
    squares = tally.mul(x, x)
    sums = []
    for channel in range(c):
        lo, hi = max(0, channel - size // 2), min(c - 1, channel + (size - 1) // 2)
        sums.append(tally.sum(squares[:, lo : hi + 1], 1))
    scale = tally.add(tally.mul(alpha / size, torch.stack(sums, 1)), k)
    return tally.div(x, power(tally, scale, beta))


def reference_cross_map_lrn2d(
    tally: Tally, x: Tensor, size: int, alpha: float, beta: float, k: float
) -> Tensor:
    """The running-window algorithm nn.CrossMapLRN2d executes (channel 0 never leaves)."""
    c = x.shape[1]
    squares = tally.mul(x, x)
    pre_pad = int((size - 1) / 2 + 1)
    sums = [tally.sum(squares[:, : min(pre_pad, c)], 1)]
    for channel in range(1, c):
        current = sums[-1]
        if channel < c - pre_pad + 1:
            current = tally.add(current, squares[:, channel + pre_pad - 1])
        if channel > pre_pad:
            current = tally.sub(current, squares[:, channel - pre_pad])
        sums.append(current)
    scale = tally.add(tally.mul(alpha / size, torch.stack(sums, 1)), k)
    return tally.mul(power(tally, scale, -beta), x)


lrn_params = {
    "alpha": st.sampled_from([1e-4, 0.5, 2.0]),
    "beta": st.sampled_from([0.75, 0.5, 1.5]),
    "k": st.sampled_from([1.0, 2.0]),
}


@given(
    b=small,
    c=st.integers(1, 6),
    size=st.integers(1, 7),
    spatial=st.lists(small, min_size=1, max_size=2),
    **lrn_params,
)
def test_local_response_norm_matches_reference(
    b: int, c: int, size: int, spatial: list[int], alpha: float, beta: float, k: float
) -> None:
    x = torch.randn(b, c, *spatial)
    module = nn.LocalResponseNorm(size, alpha, beta, k)
    tally = Tally()
    torch.testing.assert_close(module(x), reference_lrn(tally, x, size, alpha, beta, k))
    assert module_count(module, x) == tally.count
    assert operator_count(F.local_response_norm, x, size, alpha, beta, k) == tally.count


def test_local_response_norm_pinned() -> None:
    b, c, h, w, size = 2, 5, 3, 3, 3
    # windows [c-1, c+1] clipped: 2 + 3 + 3 + 3 + 2 channels
    window_terms = 2 + 3 * (c - 2) + 2
    assert module_count(nn.LocalResponseNorm(size), torch.randn(b, c, h, w)) == Count(
        b * h * w * (c + (window_terms - c) + 4 * c)  # squares, window adds, α/n, +k, **β, ÷
    )
    assert module_count(nn.LocalResponseNorm(size), torch.randn(0, c, h)) == Count(0)


@given(b=small, c=st.integers(1, 7), size=st.integers(1, 7), h=small, w=small, **lrn_params)
def test_cross_map_lrn2d_matches_reference(
    b: int, c: int, size: int, h: int, w: int, alpha: float, beta: float, k: float
) -> None:
    x = torch.randn(b, c, h, w)
    module = nn.CrossMapLRN2d(size, alpha, beta, k)
    tally = Tally()
    torch.testing.assert_close(module(x), reference_cross_map_lrn2d(tally, x, size, alpha, beta, k))
    assert module_count(module, x) == tally.count


def test_cross_map_lrn2d_pinned() -> None:
    b, c, h, w, size = 2, 6, 2, 3, 3
    pre_pad = 2  # int((size - 1) / 2 + 1)
    first_adds = pre_pad - 1
    entering, leaving = c - pre_pad, c - 1 - pre_pad  # channels 1..c-1 adding / removing
    expected = b * h * w * (c + first_adds + entering + leaving + 4 * c)  # 4: α/n, +k, **β, ·a
    assert module_count(nn.CrossMapLRN2d(size), torch.randn(b, c, h, w)) == Count(expected)


# -- F.normalize --------------------------------------------------------------------------
def reference_normalize(tally: Tally, x: Tensor, p: float, dim: int, eps: float = 1e-12) -> Tensor:
    if p == 2:
        norm = tally.sqrt(tally.sum(tally.mul(x, x), dim))
    elif p == 0:
        norm = tally.sum(tally.unary(lambda t: (t != 0).to(t.dtype), x), dim)
    else:
        magnitude = tally.abs(x)
        if p == 1:
            norm = tally.sum(magnitude, dim)
        elif p == math.inf:
            norm = tally.amax(magnitude, dim)
        elif p == -math.inf:
            norm = tally.fold(tally.minimum, magnitude, dim)
        else:
            norm = power(tally, tally.sum(power(tally, magnitude, p), dim), 1 / p)
    norm = tally.maximum(norm, eps)
    return tally.div(x, norm.unsqueeze(dim))


@given(
    shape=shapes, data=st.data(), p=st.sampled_from([2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0])
)
def test_normalize_matches_reference(shape: list[int], data: st.DataObject, p: float) -> None:
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    x = torch.randn(shape)
    tally = Tally()
    torch.testing.assert_close(
        F.normalize(x, p, dim), reference_normalize(tally, x, p, dim % x.ndim)
    )
    assert operator_count(F.normalize, x, p, dim) == tally.count


def test_normalize_pinned() -> None:
    b, d = 3, 8
    x = torch.randn(b, d)
    # L2 along dim 1: d squares, d - 1 adds, sqrt, clamp, d divides
    assert operator_count(F.normalize, x) == Count(b * (d + (d - 1) + 1 + 1 + d))
    # L1 along dim 0: b abs, b - 1 adds, clamp, b divides
    assert operator_count(F.normalize, x, 1.0, 0) == Count(d * (b + (b - 1) + 1 + b))
    assert operator_count(F.normalize, torch.randn(0, d)) == Count(0)
