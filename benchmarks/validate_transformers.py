"""Check flopcount on Hugging Face transformers against an analytic count of their MACs.

GPT-2, BERT, LLaMA (grouped-query attention) and T5 (encoder-decoder, relative position
bias) are built from small but realistic configs (no weights are downloaded:
``AutoModel*.from_config``), once with ``attn_implementation="eager"`` (explicit
``q @ kᵀ``, softmax, ``@ v``) and once with ``"sdpa"``
(``F.scaled_dot_product_attention``). One forward at a fixed batch and sequence length is
profiled under ``strict=True`` (anything uncountable raises), and ``report.macs`` is
compared with the analytic count below: every projection, both attention products
(``QKᵀ`` and ``AV``), the MLP and the head.

Run (needs torch + transformers; CPU, no network)::

    python benchmarks/validate_transformers.py

Exit status 1 when a model is off by more than 0.1 % or anything was unsupported.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import transformers
from tabulate import tabulate
from transformers import (
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSeq2SeqLM,
    BertConfig,
    Gemma3TextConfig,
    GPT2Config,
    LlamaConfig,
    MixtralConfig,
    Qwen2MoeConfig,
    T5Config,
)

import flopcount

BATCH = 2
SEQ = 128  # tokens per sequence (T5: encoder length; its decoder gets SEQ // 2)
VOCAB = 8000
TOLERANCE = 0.001  # relative


# -- analytic MACs ---------------------------------------------------------------------
# T = B·L tokens, h = hidden width, H heads of width d, V = vocabulary.
def attention_products(batch: int, heads: int, queries: int, keys: int, head_dim: int) -> int:
    """``QKᵀ`` (L·S dot products of d terms) plus ``AV`` (L·d dot products of S terms)."""
    return 2 * batch * heads * queries * keys * head_dim


def gpt2_macs(c: GPT2Config, b: int, n: int) -> int:
    """Per layer: c_attn h→3h, QKᵀ, AV, c_proj h→h, MLP h→4h→h; head h→V."""
    t, h = b * n, c.n_embd
    inner = c.n_inner or 4 * h
    layer = t * h * 3 * h + attention_products(b, c.n_head, n, n, h // c.n_head)
    layer += t * h * h + 2 * t * h * inner
    return c.n_layer * layer + t * h * c.vocab_size


def bert_macs(c: BertConfig, b: int, n: int) -> int:
    """Per layer: q, k, v, output h→h, QKᵀ, AV, MLP h→I→h; MLM head: h→h transform, h→V."""
    t, h = b * n, c.hidden_size
    layer = 4 * t * h * h + attention_products(
        b, c.num_attention_heads, n, n, h // c.num_attention_heads
    )
    layer += 2 * t * h * c.intermediate_size
    return c.num_hidden_layers * layer + t * h * h + t * h * c.vocab_size


def llama_macs(c: LlamaConfig, b: int, n: int) -> int:
    """Per layer: q, o h→h; k, v h→kv·d (grouped-query); QKᵀ, AV over all H query heads;
    gated MLP gate, up h→I, down I→h; head h→V. Rotary embeddings are elementwise."""
    t, h, heads = b * n, c.hidden_size, c.num_attention_heads
    d = h // heads
    layer = 2 * t * h * h + 2 * t * h * c.num_key_value_heads * d
    layer += attention_products(b, heads, n, n, d) + 3 * t * h * c.intermediate_size
    return c.num_hidden_layers * layer + t * h * c.vocab_size


def moe_attention(c: Any, b: int, n: int) -> int:
    """q, o h→H·d; k, v h→kv·d; QKᵀ and AV over the H query heads."""
    t, h, heads = b * n, c.hidden_size, c.num_attention_heads
    d = getattr(c, "head_dim", None) or h // heads
    projections = 2 * t * h * heads * d + 2 * t * h * c.num_key_value_heads * d
    return projections + attention_products(b, heads, n, n, d)


def mixtral_macs(c: MixtralConfig, b: int, n: int) -> int:
    """Per layer: attention, router h→E, and only the routed tokens through their experts:
    tokens·k·3·h·I (gate, up, down); head h→V."""
    t, h = b * n, c.hidden_size
    experts = t * c.num_experts_per_tok * 3 * h * c.intermediate_size
    layer = moe_attention(c, b, n) + t * h * c.num_local_experts + experts
    return c.num_hidden_layers * layer + t * h * c.vocab_size


def qwen2_moe_macs(c: Qwen2MoeConfig, b: int, n: int) -> int:
    """Mixtral's terms with the MoE width, plus a shared expert (3·t·h·I_s) and its gate h→1."""
    t, h = b * n, c.hidden_size
    experts = t * c.num_experts_per_tok * 3 * h * c.moe_intermediate_size
    shared = 3 * t * h * c.shared_expert_intermediate_size + t * h
    layer = moe_attention(c, b, n) + t * h * c.num_experts + experts + shared
    return c.num_hidden_layers * layer + t * h * c.vocab_size


def gemma3_macs(c: Gemma3TextConfig, b: int, n: int) -> int:
    """LLaMA-like with an explicit head width; the scaled embedding's multiply is ops only."""
    t, h = b * n, c.hidden_size
    layer = moe_attention(c, b, n) + 3 * t * h * c.intermediate_size
    return c.num_hidden_layers * layer + t * h * c.vocab_size


def t5_macs(c: T5Config, b: int, n: int, m: int) -> int:
    """Encoder (n tokens) per layer: q, k, v, o h↔H·d_kv, QKᵀ, AV, MLP h→d_ff→h.
    Decoder (m tokens) per layer: the same self-attention and MLP on m tokens, plus
    cross-attention: q, o on m tokens, k, v on the n encoder tokens, QKᵀ and AV of m×n;
    head h→V on the decoder's m tokens."""
    h, inner = c.d_model, c.num_heads * c.d_kv
    te, td = b * n, b * m
    encoder = 4 * te * h * inner + attention_products(b, c.num_heads, n, n, c.d_kv)
    encoder += 2 * te * h * c.d_ff
    decoder = 4 * td * h * inner + attention_products(b, c.num_heads, m, m, c.d_kv)
    decoder += 2 * td * h * inner + 2 * te * h * inner
    decoder += attention_products(b, c.num_heads, m, n, c.d_kv) + 2 * td * h * c.d_ff
    return c.num_layers * encoder + c.num_decoder_layers * decoder + td * h * c.vocab_size


@dataclass
class Case:
    name: str
    auto: Any
    config: Any
    analytic: Callable[[], int]
    seq2seq: bool = False


def cases() -> list[Case]:
    gpt2 = GPT2Config(
        n_embd=512, n_layer=4, n_head=8, vocab_size=VOCAB, n_positions=512,
        bos_token_id=0, eos_token_id=0,
    )  # fmt: skip
    bert = BertConfig(
        hidden_size=512, num_hidden_layers=4, num_attention_heads=8, intermediate_size=2048,
        vocab_size=VOCAB, max_position_embeddings=512,
    )  # fmt: skip
    llama = LlamaConfig(
        hidden_size=512, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
        intermediate_size=1376, vocab_size=VOCAB, max_position_embeddings=512,
    )  # fmt: skip
    t5 = T5Config(
        d_model=512, d_kv=64, d_ff=2048, num_layers=4, num_decoder_layers=4, num_heads=8,
        vocab_size=VOCAB,
    )  # fmt: skip
    mixtral = MixtralConfig(
        hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=8,
        num_key_value_heads=2, num_local_experts=8, num_experts_per_tok=2, vocab_size=VOCAB,
        max_position_embeddings=512,
    )  # fmt: skip
    qwen2_moe = Qwen2MoeConfig(
        hidden_size=256, intermediate_size=512, moe_intermediate_size=128,
        shared_expert_intermediate_size=256, num_hidden_layers=2, num_attention_heads=8,
        num_key_value_heads=2, num_experts=8, num_experts_per_tok=2, vocab_size=VOCAB,
        max_position_embeddings=512,
    )  # fmt: skip
    gemma3 = Gemma3TextConfig(
        hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=64, vocab_size=VOCAB, max_position_embeddings=512,
        sliding_window=512,
    )  # fmt: skip
    return [
        Case("GPT-2", AutoModelForCausalLM, gpt2, lambda: gpt2_macs(gpt2, BATCH, SEQ)),
        Case("BERT", AutoModelForMaskedLM, bert, lambda: bert_macs(bert, BATCH, SEQ)),
        Case("LLaMA (GQA)", AutoModelForCausalLM, llama, lambda: llama_macs(llama, BATCH, SEQ)),
        Case("T5", AutoModelForSeq2SeqLM, t5, lambda: t5_macs(t5, BATCH, SEQ, SEQ // 2), True),
        Case("Mixtral (MoE)", AutoModelForCausalLM, mixtral,
             lambda: mixtral_macs(mixtral, BATCH, SEQ)),
        Case("Qwen2-MoE", AutoModelForCausalLM, qwen2_moe,
             lambda: qwen2_moe_macs(qwen2_moe, BATCH, SEQ)),
        Case("Gemma 3", AutoModelForCausalLM, gemma3, lambda: gemma3_macs(gemma3, BATCH, SEQ)),
    ]  # fmt: skip


def run(case: Case, implementation: str) -> dict[str, Any]:
    torch.manual_seed(0)
    model = case.auto.from_config(case.config, attn_implementation=implementation).eval()
    inputs: dict[str, Any] = {"input_ids": torch.randint(0, VOCAB, (BATCH, SEQ))}
    if case.seq2seq:
        inputs["decoder_input_ids"] = torch.randint(0, VOCAB, (BATCH, SEQ // 2))
    start = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            report = flopcount.count(model, strict=True, **inputs)
            unsupported: dict[str, int] = {}
        except flopcount.UnsupportedError:
            report = flopcount.count(model, **inputs)
            unsupported = dict(report.unsupported)
    return result(case, model, report, unsupported, start, "")


def result(
    case: Case, model: Any, report: Any, unsupported: dict[str, int], start: float, what: str
) -> dict[str, Any]:
    """One row: the report's MACs against the case's analytic count."""
    analytic = case.analytic()
    deviation = (report.macs - analytic) / analytic * 100
    return {
        "model": f"{case.name} [{type(model).__name__}]{what}",
        "attention": model.config._attn_implementation,
        "macs": report.macs,
        "analytic": analytic,
        "deviation": deviation,
        "ops": report.total,
        "unsupported": unsupported,
        "ok": abs(deviation) <= TOLERANCE * 100 and not unsupported,
        "seconds": time.perf_counter() - start,
    }


def run_checkpointed(case: Case, implementation: str) -> dict[str, Any]:
    """A training step with ``gradient_checkpointing_enable()``: forward, loss, backward.

    Checkpointing re-runs every decoder layer's forward during backward; none of that is
    forward work, so the profile must report exactly the forward's analytic MACs.
    """
    torch.manual_seed(0)
    model = case.auto.from_config(case.config, attn_implementation=implementation)
    model.gradient_checkpointing_enable()
    model.train()
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with flopcount.profile(model, strict=True) as report:
            model(input_ids=ids, labels=ids).loss.backward()
    return result(case, model, report, {}, start, " checkpointed, forward + backward")


def run_experts(case: Case) -> list[str]:
    """Mixtral under each of transformers' expert implementations (grouped_mm, eager loop
    with index_add_, batched_mm): the same routed MACs; and what a dry run says of each."""
    lines = []
    for implementation in ("grouped_mm", "eager", "batched_mm"):
        torch.manual_seed(0)
        model = case.auto.from_config(case.config, experts_implementation=implementation).eval()
        ids = torch.randint(0, VOCAB, (BATCH, SEQ))
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report = flopcount.count(model, input_ids=ids, strict=True)
            try:
                dry = f"{flopcount.count(model, input_ids=ids, dry_run=True).macs:,} MACs"
            except flopcount.DryRunError as error:
                dry = f"DryRunError: {str(error)[:90]}..."
        same = "exact" if report.macs == case.analytic() else "DIFFERENT"
        lines.append(f"  experts={implementation}: {report.macs:,} MACs ({same}); dry run: {dry}")
    return lines


def gemma_embedding_line(case: Case) -> str:
    torch.manual_seed(0)
    model = case.auto.from_config(case.config, attn_implementation="sdpa").eval()
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = flopcount.count(model, input_ids=ids, strict=True)
    row = report.modules["model.embed_tokens"]
    expected = BATCH * SEQ * case.config.hidden_size
    return (
        f"Gemma 3 scaled embedding ({row.type}): {row.ops:,} ops, the √hidden multiply is "
        f"B·L·hidden = {expected:,}: {'yes' if row.ops == expected else 'NO'}"
    )


def main() -> int:
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, flopcount "
        f"{flopcount.__version__}; batch {BATCH}, sequence {SEQ} (T5 decoder {SEQ // 2}), "
        f"vocabulary {VOCAB}; CPU",
        flush=True,
    )
    rows = [run(case, impl) for case in cases() for impl in ("eager", "sdpa")]
    llama = next(case for case in cases() if case.name.startswith("LLaMA"))
    checkpointed = [run_checkpointed(llama, impl) for impl in ("eager", "sdpa")]
    table = [
        [
            r["model"], r["attention"], f"{r['analytic']:,}", f"{r['macs']:,}",
            f"{r['deviation']:+.4f}", f"{r['ops']:,}",
            ", ".join(f"{k} ×{v}" for k, v in r["unsupported"].items()) or "none",
            "yes" if r["ok"] else "NO",
        ]
        for r in rows
    ]  # fmt: skip
    headers = ["model", "attention", "analytic MACs", "flopcount MACs", "deviation %",
               "flopcount ops", "unsupported", "ok"]  # fmt: skip
    print(tabulate(table, headers=headers, tablefmt="github", disable_numparse=True))
    print()
    mixtral = next(case for case in cases() if case.name.startswith("Mixtral"))
    print("Mixtral under each expert implementation:")
    expert_lines = run_experts(mixtral)
    print("\n".join(expert_lines))
    gemma = gemma_embedding_line(next(case for case in cases() if case.name == "Gemma 3"))
    print(gemma + "\n")
    for r in checkpointed:
        print(
            f"{r['model']} ({r['attention']}): {r['macs']:,} MACs, analytic forward "
            f"{r['analytic']:,}, deviation {r['deviation']:+.4f} %"
        )
    print()
    for eager, sdpa in zip(rows[::2], rows[1::2], strict=True):
        same = "identical" if eager["macs"] == sdpa["macs"] else "DIFFERENT"
        print(
            f"{eager['model']}: eager vs sdpa MACs {same}; ops differ by "
            f"{eager['ops'] - sdpa['ops']:+,} ({(eager['ops'] - sdpa['ops']) / sdpa['ops']:+.4%})"
        )
    failed = [f"{r['model']} {r['attention']}" for r in rows + checkpointed if not r["ok"]]
    failed += [line for line in expert_lines if "DIFFERENT" in line]
    failed += [gemma] if gemma.endswith("NO") else []
    print(
        f"\n{len(rows) - len(failed)}/{len(rows)} within {TOLERANCE:.1%} with nothing unsupported; "
        f"{sum(r['seconds'] for r in rows):.1f} s of profiling"
    )
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
