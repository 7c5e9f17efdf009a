"""Tensor parallelism on CPU: what each rank computes, and one report for the job.

    torchrun --standalone --nproc-per-node 2 examples/distributed.py

The MLP's first Linear is split by columns and its second by rows (Megatron style), so
each rank computes 1/world of the MACs; ``report.gather()`` sums the ranks' reports and
rank 0 prints the job's table, with the least and most ops a rank spent on each row, and
the collectives each module issued.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

import flopcount

BATCH, DIM, HIDDEN = 8, 64, 256


def main() -> None:
    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE and the rendezvous
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(DIM, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, DIM))
    mesh = init_device_mesh("cpu", (world,))
    parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})

    with flopcount.profile(model, strict=True) as report:
        out = model(torch.randn(BATCH, DIM))
    out.sum().backward()  # a training step's backward, outside the profiled block
    # each rank multiplies its shards: 1/world of both matrix products
    assert report.macs == 2 * BATCH * DIM * HIDDEN // world

    job = report.gather()  # a collective: every rank calls it
    if rank == 0:
        print(job.table())
        print(f"job: {job.macs:,} MACs over {world} ranks")
        job.check(max_macs=2 * BATCH * DIM * HIDDEN)
    dist.barrier()  # every rank done before the group is torn down
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
