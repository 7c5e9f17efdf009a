"""Distributed training on gloo over loopback: per-rank truth and one report for the job.

Each fixture spawns its processes once (2 for data and tensor parallel, 4 for the 2-D mesh)
and every rank runs its scenarios from :mod:`.scenarios`; the tests check what came back
against single-process counts and against arithmetic of the named dimensions.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import flopcount

from . import scenarios, spawn
from .scenarios import DM, FFN, HD, HEADS, LAYERS, LB, MICROBATCHES, OUT, B, D, H, S

pytestmark = spawn.requires_gloo

MLP_MACS = B * (D * H + H * OUT)
MLP_OPS = B * H * 2 * D + B * H + B * OUT * 2 * H  # Linear with bias: 2·in per output; ReLU: 1


@pytest.fixture(scope="module")
def data_parallel() -> list[dict[str, Any]]:
    return spawn.run(scenarios.data_parallel, 2)


@pytest.fixture(scope="module")
def tensor_parallel() -> list[dict[str, Any]]:
    return spawn.run(scenarios.tensor_parallel, 2)


def single(model: nn.Module, x: torch.Tensor) -> flopcount.Report:
    return flopcount.count(model, x, strict=True)


def gathered_of(result: dict[str, Any]) -> dict[str, Any]:
    if result["gathered"] is None:
        pytest.skip("Report.gather() uses torch.distributed.all_gather_object, which needs numpy")
    return result["gathered"]


# -- data parallel: DDP, FSDP2, FSDP1 --------------------------------------------------------
@pytest.mark.parametrize("wrapper", ["ddp", "fsdp2", "fsdp1"])
def test_data_parallel_ranks_count_their_batch_and_gather_the_global_one(
    data_parallel: list[dict[str, Any]], wrapper: str
) -> None:
    if data_parallel[0][wrapper] is None:
        pytest.skip(
            f"torch {torch.__version__} no longer ships FSDP1"
            if wrapper == "fsdp1"
            else f"FSDP2 of torch {torch.__version__} cannot run on CPU"
        )
    world = len(data_parallel)
    for rank, result in enumerate(data_parallel):
        mine = result[wrapper]["rank"]
        reference = single(scenarios.mlp(), scenarios.batch(rank))
        assert (mine["macs"], mine["ops"]) == (MLP_MACS, MLP_OPS)
        assert (mine["macs"], mine["ops"]) == (reference.macs, reference.ops)
        assert mine["unsupported"] == {}  # and strict=True passed on every rank
        # named as the user wrote them: no "module." or "_fsdp_wrapped_module."
        assert list(mine["modules"]) == ["", "0", "1", "2"]
        assert mine["modules"]["0"]["macs"] == B * D * H
        assert [row["depth"] for row in mine["modules"].values()] == [0, 1, 1, 1]
    everyone = torch.cat([scenarios.batch(rank) for rank in range(world)])
    job = single(scenarios.mlp(), everyone)
    gathered = gathered_of(data_parallel[0][wrapper])
    assert (
        (gathered["macs"], gathered["ops"])
        == (job.macs, job.ops)
        == (
            world * MLP_MACS,
            world * MLP_OPS,
        )
    )
    assert gathered["modules"]["2"]["macs"] == world * B * H * OUT
    assert data_parallel[0][wrapper]["ranks_macs"] == [MLP_MACS] * world
    assert data_parallel[1][wrapper]["gathered"] == gathered  # every rank gets the job


def test_wrapped_rows_keep_the_users_type_and_map_back_to_the_wrapper(
    data_parallel: list[dict[str, Any]],
) -> None:
    ddp = data_parallel[0]["ddp"]["rank"]
    assert ddp["modules"][""]["type"] == "Sequential"
    assert ddp["wrapped_names"] == {"": "module", "0": "module.0", "1": "module.1", "2": "module.2"}
    if data_parallel[0]["fsdp1"] is not None:
        fsdp1 = data_parallel[0]["fsdp1"]["rank"]
        assert fsdp1["wrapped_names"]["0"] == "_fsdp_wrapped_module.0._fsdp_wrapped_module"
        # FSDP1 all-gathers each wrapped Linear's flat parameter (weight and bias) before it
        # runs; releases whose FSDP1 calls all_gather_into_tensor (torch 2.6) are not seen,
        # because that function does not dispatch __torch_function__
        seen = {"0": (D, H), "2": (H, OUT)} if fsdp1["collectives"] else {}
        for name, (fan_in, fan_out) in seen.items():
            calls, elements, size = fsdp1["collectives"][name]["torch.distributed.all_gather"]
            assert (calls, elements) == (1, (fan_in * fan_out + fan_out) // 2)
            assert size == 4 * elements  # float32


def test_gathered_table_shows_the_least_and_most_of_a_rank(
    data_parallel: list[dict[str, Any]],
) -> None:
    gathered_of(data_parallel[0]["ddp"])
    table = data_parallel[0]["ddp"]["table"]
    assert "min ops/rank" in table.splitlines()[0] and "max ops/rank" in table.splitlines()[0]
    assert "module." not in table


# -- tensor parallel -------------------------------------------------------------------------
def test_tensor_parallel_mlp_counts_the_local_shards(
    tensor_parallel: list[dict[str, Any]],
) -> None:
    tp = len(tensor_parallel)
    x = scenarios.batch(0)
    norm = single(nn.LayerNorm(OUT), torch.randn(B, OUT)).ops  # replicated: every rank runs it
    whole = single(nn.Sequential(*scenarios.mlp(), nn.LayerNorm(OUT)), x)
    for result in tensor_parallel:
        mine = result["mlp"]["rank"]
        assert mine["unsupported"] == {}
        assert mine["macs"] == MLP_MACS // tp == whole.macs // tp
        assert mine["ops"] == MLP_OPS // tp + norm == (whole.ops - norm) // tp + norm
        rows = mine["modules"]
        assert rows["0"]["macs"] == B * D * (H // tp)  # column-wise: H / tp outputs
        assert rows["2"]["macs"] == B * (H // tp) * OUT  # row-wise: partial sums over H / tp
        assert rows["2"]["ops"] == B * OUT * 2 * (H // tp)  # bias added once per rank
        assert rows["3"]["ops"] == norm
        # RowwiseParallel's output hook all-reduces the partial sums: issued after the
        # Linear's own hook has run, so it is listed under the caller (the root)
        reduce = mine["collectives"][""]["torch.ops._c10d_functional.all_reduce"]
        assert reduce == [1, B * OUT, 4 * B * OUT]
    gathered = gathered_of(tensor_parallel[0]["mlp"])
    assert gathered["macs"] == whole.macs
    # the partial sums' biases add up to one bias per output; the norm runs on every rank
    assert gathered["ops"] == whole.ops + (tp - 1) * norm


def test_tensor_parallel_llama_block_counts_the_local_shards(
    tensor_parallel: list[dict[str, Any]],
) -> None:
    tp = len(tensor_parallel)
    whole = single(scenarios.Block(), scenarios.block_input())
    projection = LB * S * DM * (DM // tp)  # q, k, v column-wise; o row-wise
    attention = 2 * LB * (HEADS // tp) * S * S * HD  # q·kᵀ and scores·v on HEADS / tp heads
    ffn = LB * S * DM * (FFN // tp)  # gate, up column-wise; down row-wise
    for result in tensor_parallel:
        mine = result["block"]["rank"]
        rows = mine["modules"]
        assert mine["unsupported"] == {}
        for name in ("attention.wq", "attention.wk", "attention.wv", "attention.wo"):
            assert rows[name]["macs"] == projection
        assert rows["attention"]["macs"] == 4 * projection + attention
        assert rows["feed_forward"]["macs"] == 3 * ffn
        assert mine["macs"] == 4 * projection + attention + 3 * ffn == whole.macs // tp
        # a row-wise output sums DM / tp products: DM / tp multiplies, DM / tp − 1 adds
        assert rows["attention.wo"]["ops"] == LB * S * DM * (2 * (DM // tp) - 1)
        # sequence-parallel norms normalise S / tp positions
        assert rows["attention_norm"]["ops"] == whole.modules["attention_norm"].ops // tp
        for module in ("attention", "feed_forward"):
            issued = mine["collectives"][module]
            gathered_in = LB * (S // tp) * DM  # the sequence shard, all-gathered before
            assert issued["torch.ops._c10d_functional.all_gather_into_tensor"] == [
                1,
                gathered_in,
                4 * gathered_in,
            ]
            # o / down's partial sums, reduce-scattered back to sequence shards
            assert issued["torch.ops._c10d_functional.reduce_scatter_tensor"] == [
                1,
                LB * S * DM,
                4 * LB * S * DM,
            ]
    gathered = gathered_of(tensor_parallel[0]["block"])
    assert gathered["macs"] == whole.macs
    # the last tp − 1 adds of each row-wise dot product happen in the reduce-scatter
    # (communication), so the job counts them nowhere
    rowwise_outputs = 2 * LB * S * DM  # attention.wo and feed_forward.down
    assert gathered["ops"] == whole.ops - (tp - 1) * rowwise_outputs


# -- 2-D: FSDP2 across data-parallel ranks, TP within ---------------------------------------
@pytest.mark.skipif(
    not scenarios.fsdp2_runs_on_cpu(),
    reason=f"FSDP2 of torch {torch.__version__} cannot run on CPU",
)
def test_fsdp2_times_tensor_parallel_on_four_processes() -> None:
    results = spawn.run(scenarios.fsdp2_tp, 4)
    dp, tp = 2, 2
    for result in results:
        mine = result["rank"]
        assert mine["unsupported"] == {}
        assert mine["macs"] == MLP_MACS // tp
        assert mine["modules"]["0"]["macs"] == B * D * (H // tp)
    job = single(scenarios.mlp(), torch.cat([scenarios.batch(rank) for rank in range(dp)]))
    gathered = gathered_of(results[0])
    assert gathered["macs"] == job.macs == dp * MLP_MACS
    assert gathered["ops"] == job.ops
    assert results[0]["ranks_macs"] == [MLP_MACS // tp] * (dp * tp)


# -- pipeline parallel ---------------------------------------------------------------------
@pytest.mark.skipif(
    not scenarios.can_gather(),
    reason="pipelining's shape inference sends Python objects between stages, which needs numpy",
)
def test_pipeline_stages_gather_into_the_whole_model() -> None:
    results = spawn.run(scenarios.pipeline, 2)
    stages = len(results)
    per_stage = LAYERS // stages
    for rank, result in enumerate(results):
        mine = result["rank"]
        assert mine["unsupported"] == {}
        own = [f"layers.{i}" for i in range(rank * per_stage, (rank + 1) * per_stage)]
        assert [name for name in mine["modules"] if name.startswith("layers.")] == own
        for name in own:  # MICROBATCHES calls of B / MICROBATCHES rows: each row once
            assert mine["modules"][name]["calls"] == MICROBATCHES
            assert mine["modules"][name]["macs"] == B * D * D
        assert mine["macs"] == per_stage * B * D * D
    whole = single(scenarios.Stack(), scenarios.batch(0))
    gathered = gathered_of(results[0])
    assert list(gathered["modules"]) == ["", "layers", *(f"layers.{i}" for i in range(LAYERS))]
    assert (gathered["macs"], gathered["ops"]) == (whole.macs, whole.ops)
    assert results[0]["ranks_macs"] == [per_stage * B * D * D] * stages
