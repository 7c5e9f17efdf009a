"""The README's distributed example runs as written, under torchrun, on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import spawn

ROOT = Path(__file__).resolve().parents[2]


@spawn.requires_gloo
def test_distributed_example_runs_under_torchrun() -> None:
    pytest.importorskip("numpy", reason="Report.gather() uses all_gather_object, which needs numpy")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "examples/distributed.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "min ops/rank" in done.stdout
    assert f"job: {2 * 8 * 64 * 256:,} MACs over 2 ranks" in done.stdout
