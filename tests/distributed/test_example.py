"""The README's distributed example runs as written, under torchrun, on CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from . import spawn

ROOT = Path(__file__).resolve().parents[2]


@spawn.requires_gloo
def test_distributed_example_runs_under_torchrun() -> None:
    pytest.importorskip("numpy", reason="Report.gather() uses all_gather_object, which needs numpy")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    # output to files, not pipes: torchrun's exit status is the verdict, and a worker that
    # lingers in gloo's teardown after torchrun returned (seen on torch 2.6 under load)
    # cannot hold a pipe open until the timeout; its process group is killed afterwards
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run", "--standalone",
             "--nproc-per-node", "2", "examples/distributed.py"],
            cwd=ROOT, env=env, stdout=out, stderr=err, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            returncode = process.wait(timeout=300)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    assert returncode == 0, stdout[-3000:] + stderr[-3000:]
    assert "min ops/rank" in stdout
    assert f"job: {2 * 8 * 64 * 256:,} MACs over 2 ranks" in stdout
