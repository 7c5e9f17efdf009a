"""Run a function on N processes joined in a gloo process group over loopback.

Each process runs ``target(rank, world)`` and its (JSON-able) return value comes back to the
test, which asserts in its own process, so pytest shows its usual diffs. A process that
raises fails the test with that process's traceback; the whole run is bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

TIMEOUT_S = 90.0


def gloo_available() -> bool:
    return dist.is_available() and dist.is_gloo_available()


requires_gloo = pytest.mark.skipif(
    not gloo_available(), reason="torch.distributed with the gloo backend is not available"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _worker(
    rank: int, world: int, port: int, target: Callable[[int, int], Any], folder: str
) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)  # N processes share the CI machine's 2 cores
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = target(rank, world)
        # every rank done before any tears the group down: a rank that destroys it while
        # another still has gloo work in flight can abort that one (seen under load)
        dist.barrier()
        # the result is out before the teardown, which torch 2.6's gloo has hung in
        Path(folder, f"rank{rank}.json").write_text(json.dumps(result))
    except BaseException:
        Path(folder, f"error{rank}.txt").write_text(traceback.format_exc())
        raise
    finally:
        dist.destroy_process_group()


def run(target: Callable[[int, int], Any], world: int) -> list[Any]:
    """``target(rank, world)`` on ``world`` processes; their return values, by rank."""
    with tempfile.TemporaryDirectory() as folder:
        context = mp.start_processes(
            _worker,
            args=(world, free_port(), target, folder),
            nprocs=world,
            join=False,
            start_method="spawn",
        )
        deadline = time.monotonic() + TIMEOUT_S
        try:
            while not context.join(timeout=1.0):
                if time.monotonic() > deadline:
                    if all(Path(folder, f"rank{r}.json").exists() for r in range(world)):
                        break  # every rank reported; only the group's teardown hangs: killed
                    raise AssertionError(f"the {world} processes did not finish in {TIMEOUT_S} s")
        except AssertionError:
            raise
        except Exception as error:
            errors = sorted(Path(folder).glob("error*.txt"))
            detail = "\n".join(p.read_text() for p in errors)
            raise AssertionError(f"a rank failed:\n{detail or error}") from None
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
        return [json.loads(Path(folder, f"rank{r}.json").read_text()) for r in range(world)]
