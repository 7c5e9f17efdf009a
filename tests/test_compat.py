"""Torch releases differ: names flopcount reads that a release may lack are looked up in one
place (``flopcount._compat``), and neither importing flopcount nor counting a model may
depend on them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.modules import module as nn_module

import flopcount
from flopcount import _compat

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: delete one torch name, import flopcount, count a small model.
FRESH_IMPORT = """
import importlib, sys
import torch
path = sys.argv[1]
owner_path, _, attr = path.rpartition(".")
owner = importlib.import_module("torch")
for part in owner_path.split(".")[1:]:
    owner = getattr(owner, part)
if hasattr(owner, attr):
    delattr(owner, attr)
import flopcount
from flopcount import _compat
model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
report = flopcount.count(model, torch.randn(2, 4), strict=True)
assert report.macs == 2 * 3 * 4, report.macs
assert path in _compat.missing(), _compat.missing()
print("ok", report.total)
"""


def test_every_optional_name_is_looked_up_through_compat() -> None:
    names = _compat.optional_names()
    assert "torch.nn.LinearCrossEntropyLoss" in names
    assert "torch.nn.functional.linear_cross_entropy" in names
    for name in _compat.missing():
        assert name in names


# ``torch.ops.aten.<name>`` resolves lazily (deleting it only drops a cache), so absent
# ATen operators cannot be simulated here; torch 2.6 in the CI matrix lacks some for real.
@pytest.mark.parametrize(
    "path", [path for path in _compat.optional_names() if not path.startswith("torch.ops.")]
)
def test_flopcount_imports_and_counts_without_each_optional_name(path: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORT, path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok "), done.stdout


def test_an_absent_target_is_skipped_by_the_registry() -> None:
    registry = flopcount.Registry()
    absent = _compat.Absent("torch.nn.NotInThisTorch")
    registry.register(absent, nn.Identity)(flopcount.zero_cost)
    registry.register_operator(absent)(lambda args, kwargs, output: 1)
    assert registry.lookup(nn.Identity) is flopcount.zero_cost
    assert absent not in registry.operators() and absent not in registry.module_types()


def test_explain_says_a_missing_name_is_missing_from_this_torch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_compat, "_MISSING", ["torch.nn.functional.not_in_this_torch"])
    with pytest.raises(LookupError, match=re.escape(f"not in torch {torch.__version__}")):
        flopcount.explain("torch.nn.functional.not_in_this_torch")


def test_a_missing_private_engine_name_is_a_clear_error_and_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = dict(nn_module._global_forward_hooks)
    monkeypatch.delattr(nn_module, "_global_forward_hooks_with_kwargs")
    with (
        pytest.raises(flopcount.FlopcountError, match="_global_forward_hooks_with_kwargs"),
        flopcount.profile(nn.Linear(2, 2)),
    ):
        pass
    assert dict(nn_module._global_forward_hooks) == before


def test_a_torch_without_keyword_global_hooks_is_refused_with_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch 2.4 and 2.5: ``register_module_forward_hook`` has no ``with_kwargs``."""

    def old_register(hook: object, *, always_call: bool = False) -> None:
        raise AssertionError("must not be called")

    monkeypatch.setattr(nn_module, "register_module_forward_hook", old_register)
    floor = ".".join(map(str, _compat.FLOOR))
    with (
        pytest.raises(_compat.TorchCompatibilityError, match=f"torch >= {floor}"),
        flopcount.profile(nn.Linear(2, 2)),
    ):
        pass


def test_the_declared_floor_is_the_compat_floor() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert f'"torch>={_compat.FLOOR[0]}.{_compat.FLOOR[1]}"' in text
    assert (
        f"FLOOR={_compat.FLOOR[0]}.{_compat.FLOOR[1]}"
        in (ROOT / ".ci" / "torch-matrix").read_text()
    )
