"""The fingerprint that guards each module's memo between profiles: what changes it and
what does not (the count-level effects are in test_repeat_profiles.py)."""

from __future__ import annotations

import torch
from torch import nn

import flopcount
from flopcount._fingerprint import Fingerprint


def test_an_unchanged_module_matches() -> None:
    conv = nn.Conv2d(3, 4, 3)
    assert Fingerprint(conv).matches(conv)


def test_plain_values_compare_by_equality() -> None:
    conv = nn.Conv2d(3, 4, 3, stride=1)
    taken = Fingerprint(conv)
    conv.stride = (1, 1)  # a new tuple, equal to the old: the count cannot differ
    assert taken.matches(conv)
    conv.stride = (2, 2)
    assert not taken.matches(conv)


def test_the_training_flag_is_part_of_it() -> None:
    dropout = nn.Dropout(0.1)
    taken = Fingerprint(dropout)
    dropout.eval()
    assert not taken.matches(dropout)
    dropout.train()
    assert taken.matches(dropout)


def test_tensors_and_other_objects_compare_by_identity() -> None:
    module = nn.Linear(3, 3)
    module.table = torch.zeros(4)  # a plain tensor attribute
    taken = Fingerprint(module)
    module.table = torch.zeros(4)  # equal values, another tensor
    assert not taken.matches(module)
    module = nn.Linear(3, 3)
    taken = Fingerprint(module)
    module.weight = nn.Parameter(module.weight.detach().clone())
    assert not taken.matches(module)


def test_a_plain_value_rebound_to_a_tensor_is_a_change_not_an_error() -> None:
    softmax = nn.Softmax(dim=1)
    taken = Fingerprint(softmax)
    softmax.dim = torch.tensor([1, 1])  # == would give a tensor whose truth is ambiguous
    assert not taken.matches(softmax)


def test_in_place_updates_do_not_change_it() -> None:
    norm = nn.BatchNorm1d(4)
    taken = Fingerprint(norm)
    with torch.no_grad():
        norm.running_mean.add_(1)
        norm.weight.mul_(2)
    assert taken.matches(norm)


def test_added_deleted_and_swapped_attributes_change_it() -> None:
    module = nn.ReLU()
    taken = Fingerprint(module)
    module.extra = 1
    assert not taken.matches(module)
    del module.extra
    assert taken.matches(module)
    del module.inplace  # one attribute gone, another in its place: as many as before
    module.other = False
    assert not taken.matches(module)


def test_hooks_do_not_change_it() -> None:
    module = nn.Linear(2, 2)
    taken = Fingerprint(module)
    handle = module.register_forward_hook(lambda *args: None)
    assert taken.matches(module)
    handle.remove()


def test_a_buffer_set_to_none_changes_it() -> None:
    norm = nn.BatchNorm1d(4)
    taken = Fingerprint(norm)
    norm.running_var = None
    assert not taken.matches(norm)


class KeepPositive(nn.Module):
    """Its output's shape depends on its input's values."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[x > 0]


def test_only_torch_nn_classes_with_their_own_forward_are_keyed_by_input_shape() -> None:
    assert Fingerprint(nn.Linear(2, 2)).by_input
    assert Fingerprint(nn.ReLU()).by_input

    class MyLinear(nn.Linear):
        pass

    assert not Fingerprint(MyLinear(2, 2)).by_input
    assert not Fingerprint(KeepPositive()).by_input
    patched = nn.Identity()
    patched.forward = lambda x: x[x > 0]  # type: ignore[method-assign]
    assert not Fingerprint(patched).by_input


def test_a_value_dependent_output_shape_is_part_of_the_memo_key() -> None:
    registry = flopcount.default_registry().copy()

    @registry.register(KeepPositive)
    def one_per_kept(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> int:
        return output.numel()

    model = nn.Sequential(KeepPositive())
    x = torch.tensor([1.0, -1.0, 2.0, -2.0])
    for sign, kept in ((1, 2), (-1, 2), (1, 2)):
        assert flopcount.count(model, sign * x, registry=registry).total == kept
    y = torch.tensor([1.0, 2.0, 3.0, -1.0])  # same shape in, three kept
    with flopcount.profile(model, registry=registry) as report:
        model(x)
        model(y)
    assert report.total == 2 + 3
