"""What each rank runs in the distributed tests (imported by the spawned processes).

Every scenario builds its model from the same seed on every rank, profiles one forward
under ``strict=True`` on the rank's own batch, gathers, and returns plain data for the test
to check. Dimensions are named here and imported by the tests, so expected counts are
written as their arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import flopcount
from flopcount import Report

# the MLP: Linear(D, H) -> ReLU -> Linear(H, OUT), batch B per rank
B, D, H, OUT = 4, 16, 32, 8
# the LLaMA-style block: batch, sequence, model dim, heads, head dim, feed-forward hidden
LB, S, DM, HEADS, FFN = 2, 8, 16, 4, 32
HD = DM // HEADS


def mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, OUT))


def batch(rank: int, rows: int = B) -> torch.Tensor:
    return torch.randn(rows, D, generator=torch.Generator().manual_seed(rank))


def summary(report: Report) -> dict[str, Any]:
    return {
        "ops": report.ops,
        "macs": report.macs,
        "modules": {
            name: {"ops": r.ops, "macs": r.macs, "calls": r.calls, "type": r.type, "depth": r.depth}
            for name, r in report.modules.items()
        },
        "unsupported": report.unsupported,
        "collectives": {
            module: {name: [c.calls, c.elements, c.bytes] for name, c in issued.items()}
            for module, issued in report.collectives.items()
        },
        "wrapped_names": report.wrapped_names,
    }


def profiled(model: nn.Module, *inputs: Any) -> dict[str, Any]:
    """One strict profile of a forward ``model(*inputs)``, its summary, and the gathered
    report's. The backward runs after the block, as a training step would, so the counts
    are the forward's whatever phases a profile learns to count."""
    with flopcount.profile(model, strict=True) as report:
        out = model(*inputs)
    out.sum().backward()
    if not can_gather():
        return {"rank": summary(report), "gathered": None}
    gathered = report.gather()
    return {
        "rank": summary(report),
        "gathered": summary(gathered),
        "ranks_macs": [r.macs for r in gathered.ranks],
        "table": gathered.table(names="qualified"),
    }


def can_gather() -> bool:
    """torch.distributed.all_gather_object turns bytes back into objects through numpy."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


# -- data parallel -------------------------------------------------------------------------
def data_parallel(rank: int, world: int) -> dict[str, Any]:
    """DDP, FSDP2 and (where torch still ships it) FSDP1, one after the other."""
    import torch.distributed.fsdp

    return {
        "ddp": ddp(rank, world),
        "fsdp2": fsdp2(rank, world) if fsdp2_runs_on_cpu() else None,
        "fsdp1": fsdp1(rank, world)
        if hasattr(torch.distributed.fsdp, "FullyShardedDataParallel")
        else None,
    }


def ddp(rank: int, world: int) -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel

    return profiled(DistributedDataParallel(mlp()), batch(rank))


def fsdp2(rank: int, world: int) -> dict[str, Any]:
    fully_shard = fsdp2_api()
    model = mlp()
    fully_shard(model[0])
    fully_shard(model[2])
    fully_shard(model)
    return profiled(model, batch(rank))


def fsdp1(rank: int, world: int) -> dict[str, Any]:
    from torch.distributed.fsdp import FullyShardedDataParallel
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy

    model = FullyShardedDataParallel(
        mlp(), device_id=torch.device("cpu"), auto_wrap_policy=ModuleWrapPolicy({nn.Linear})
    )
    return profiled(model, batch(rank))


def fsdp2_runs_on_cpu() -> bool:
    """FSDP2 records an event on its all-gather stream; older torch's CPU stream cannot."""
    return hasattr(torch.cpu.Stream, "record_event")


def fsdp2_api() -> Any:
    import torch.distributed.fsdp

    found = getattr(torch.distributed.fsdp, "fully_shard", None)
    if found is None:  # older releases kept it in its composable home only
        from torch.distributed._composable.fsdp import fully_shard

        return fully_shard
    return found


# -- tensor parallel -----------------------------------------------------------------------
def tensor_parallel(rank: int, world: int) -> dict[str, Any]:
    return {"mlp": tp_mlp(rank, world), "block": tp_block(rank, world)}


def tp_mlp(rank: int, world: int) -> dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    model = nn.Sequential(*mlp(), nn.LayerNorm(OUT))  # the norm is replicated: every rank runs it
    mesh = init_device_mesh("cpu", (world,))
    parallelize_module(model, mesh, {"0": ColwiseParallel(), "2": RowwiseParallel()})
    return profiled(model, batch(0))  # tensor parallel ranks share their batch


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(DM, DM, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        # -1 heads: a column-wise shard holds HEADS / tp of them
        q, k, v = (w(x).view(b, s, -1, HD).transpose(1, 2) for w in (self.wq, self.wk, self.wv))
        scores = F.softmax(q @ k.transpose(-2, -1) / math.sqrt(HD), dim=-1)
        return self.wo((scores @ v).transpose(1, 2).reshape(b, s, -1))


class FeedForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate, self.up = nn.Linear(DM, FFN, bias=False), nn.Linear(DM, FFN, bias=False)
        self.down = nn.Linear(FFN, DM, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.attention_norm, self.ffn_norm = nn.RMSNorm(DM), nn.RMSNorm(DM)
        self.attention, self.feed_forward = Attention(), FeedForward()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.attention(self.attention_norm(x))
        return h + self.feed_forward(self.ffn_norm(h))


def block_input() -> torch.Tensor:
    return torch.randn(LB, S, DM, generator=torch.Generator().manual_seed(0))


def tp_block(rank: int, world: int) -> dict[str, Any]:
    """The plan of torch's TP tutorial: sequence-parallel norms, q/k/v and gate/up
    column-wise, o and down row-wise back to sequence shards."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        PrepareModuleInput,
        RowwiseParallel,
        SequenceParallel,
        parallelize_module,
    )

    model = Block()
    mesh = init_device_mesh("cpu", (world,))
    gather_sequence = PrepareModuleInput(
        input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)
    )
    parallelize_module(
        model,
        mesh,
        {
            "attention_norm": SequenceParallel(),
            "attention": gather_sequence,
            "attention.wq": ColwiseParallel(),
            "attention.wk": ColwiseParallel(),
            "attention.wv": ColwiseParallel(),
            "attention.wo": RowwiseParallel(output_layouts=Shard(1)),
            "ffn_norm": SequenceParallel(),
            "feed_forward": gather_sequence,
            "feed_forward.gate": ColwiseParallel(),
            "feed_forward.up": ColwiseParallel(),
            "feed_forward.down": RowwiseParallel(output_layouts=Shard(1)),
        },
    )
    local = block_input().chunk(world, dim=1)[rank]  # this rank's sequence shard
    return profiled(model, local)


# -- both: FSDP2 over data parallel ranks, TP within ------------------------------------------
def fsdp2_tp(rank: int, world: int) -> dict[str, Any]:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    fully_shard = fsdp2_api()
    mesh = init_device_mesh("cpu", (world // 2, 2), mesh_dim_names=("dp", "tp"))
    model = mlp()
    parallelize_module(model, mesh["tp"], {"0": ColwiseParallel(), "2": RowwiseParallel()})
    fully_shard(model, mesh=mesh["dp"])
    return profiled(model, batch(mesh["dp"].get_local_rank()))


# -- pipeline parallel ---------------------------------------------------------------------
LAYERS, MICROBATCHES = 4, 2


class Stack(nn.Module):
    """LAYERS × (Linear(D, D) + ReLU); a pipeline stage keeps some layers, named as in the
    whole model (a ModuleDict keeps its keys when others are deleted)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = nn.ModuleDict({str(i): nn.Linear(D, D) for i in range(LAYERS)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers.values():
            x = torch.relu(layer(x))
        return x


def pipeline(rank: int, world: int) -> dict[str, Any]:
    """torch.distributed.pipelining: stage ``rank`` runs LAYERS / world layers, GPipe."""
    from torch.distributed.pipelining import PipelineStage, ScheduleGPipe

    model = Stack()
    per_stage = LAYERS // world
    for i in range(LAYERS):
        if i // per_stage != rank:
            del model.layers[str(i)]
    stage = PipelineStage(model, rank, world, torch.device("cpu"))
    schedule = ScheduleGPipe(stage, n_microbatches=MICROBATCHES)

    def step() -> None:
        if rank == 0:
            schedule.step(batch(0))
        else:
            schedule.step()

    # the first step also runs a forward of one microbatch to infer the stage's shapes,
    # which a profile would count like any forward: profile a later step
    step()
    with flopcount.profile(model, strict=True) as report:
        step()
    if not can_gather():
        return {"rank": summary(report), "gathered": None}
    gathered = report.gather()
    return {
        "rank": summary(report),
        "gathered": summary(gathered),
        "ranks_macs": [r.macs for r in gathered.ranks],
        "table": gathered.table(names="qualified"),
    }


def one_rank_gather(rank: int, world: int) -> dict[str, Any]:
    """``Report.gather()`` on a one-rank group: the rank's own report, with rank columns."""
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    report = flopcount.count(model, torch.randn(5, 8))
    gathered = report.gather()
    header = gathered.table().splitlines()[0]
    return {
        "totals": [[gathered.total, gathered.macs], [report.total, report.macs]],
        "rank_macs": [r.macs for r in gathered.ranks],
        "same_rows": list(gathered.modules) == list(report.modules),
        "same_row_2": gathered.modules["2"] == report.modules["2"],
        "gathered_header_has_ranks": "min ops/rank" in header and "max ops/rank" in header,
        "own_table_has_ranks": "min ops/rank" in report.table(),
    }
