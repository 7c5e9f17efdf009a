"""Count a LLaMA-shaped language model on the meta device: no weights, no memory, exact counts.

    python examples/llm_meta.py            # LLaMA-7B shape, 2048 tokens
    python examples/llm_meta.py --preset 70b
    python examples/llm_meta.py --preset tiny

The model is written here in plain PyTorch (RMSNorm, rotary embeddings, grouped-query
attention through F.scaled_dot_product_attention, SwiGLU MLP), so its attention products,
rotary arithmetic and residual adds are counted by operator counting, not by hooks.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import flopcount


@dataclass(frozen=True)
class Config:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    mlp: int
    vocab: int = 32000

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


PRESETS = {
    "tiny": Config(layers=2, hidden=64, heads=4, kv_heads=2, mlp=176, vocab=256),
    "7b": Config(layers=32, hidden=4096, heads=32, kv_heads=32, mlp=11008),
    "70b": Config(layers=80, hidden=8192, heads=64, kv_heads=8, mlp=28672),
}


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class Attention(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.c = c
        self.q = nn.Linear(c.hidden, c.heads * c.head_dim, bias=False)
        self.k = nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=False)
        self.v = nn.Linear(c.hidden, c.kv_heads * c.head_dim, bias=False)
        self.o = nn.Linear(c.heads * c.head_dim, c.hidden, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        c = self.c
        q = self.q(x).view(b, length, c.heads, c.head_dim).transpose(1, 2)
        k = self.k(x).view(b, length, c.kv_heads, c.head_dim).transpose(1, 2)
        v = self.v(x).view(b, length, c.kv_heads, c.head_dim).transpose(1, 2)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        out = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=c.kv_heads != c.heads
        )
        return self.o(out.transpose(1, 2).reshape(b, length, c.hidden))


class MLP(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.gate = nn.Linear(c.hidden, c.mlp, bias=False)
        self.up = nn.Linear(c.hidden, c.mlp, bias=False)
        self.down = nn.Linear(c.mlp, c.hidden, bias=False)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.attn_norm = nn.RMSNorm(c.hidden)
        self.attn = Attention(c)
        self.mlp_norm = nn.RMSNorm(c.hidden)
        self.mlp = MLP(c)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), cos, sin)
        return x + self.mlp(self.mlp_norm(x))


class Llama(nn.Module):
    def __init__(self, c: Config) -> None:
        super().__init__()
        self.c = c
        self.embed = nn.Embedding(c.vocab, c.hidden)
        self.blocks = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.norm = nn.RMSNorm(c.hidden)
        self.head = nn.Linear(c.hidden, c.vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        length = ids.shape[1]
        half = self.c.head_dim // 2
        inverse = 1.0 / (10000 ** (torch.arange(half, device=ids.device) / half))
        angles = torch.arange(length, device=ids.device)[:, None] * inverse[None, :]
        cos, sin = angles.cos().repeat(1, 2), angles.sin().repeat(1, 2)
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.head(self.norm(x))


def analytic_macs(c: Config, tokens: int, batch: int = 1) -> int:
    """Projections + both attention products (full L·L) + MLP + head, per the design."""
    kv = c.kv_heads * c.head_dim
    projections = tokens * (2 * c.hidden * c.hidden + 2 * c.hidden * kv)
    attention = 2 * c.heads * tokens * tokens * c.head_dim
    mlp = 3 * tokens * c.hidden * c.mlp
    return batch * (c.layers * (projections + attention + mlp) + tokens * c.hidden * c.vocab)


def main(argv: list[str] | None = None) -> flopcount.Report:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="7b")
    parser.add_argument(
        "--tokens", type=int, default=None, help="sequence length (default 2048; tiny: 16)"
    )
    args = parser.parse_args(argv)
    config = PRESETS[args.preset]
    tokens = args.tokens or (16 if args.preset == "tiny" else 2048)
    with torch.device("meta"):
        model = Llama(config)
        ids = torch.zeros(1, tokens, dtype=torch.long)
    with flopcount.profile(model, strict=True) as report:
        model(ids)
    print(report.table(max_depth=2))
    expected = analytic_macs(config, tokens)
    print(
        f"\n{args.preset}, {tokens} tokens: {report.macs:,} MACs (analytic {expected:,}), "
        f"{report.total:,} ops"
    )
    return report


if __name__ == "__main__":
    main()
