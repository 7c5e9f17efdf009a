"""Prefill and decode steps of a generation loop, read one by one from ``report.steps``.

A decoder with a key/value cache: the prompt's tokens go through once (prefill), then each
new token attends to every cached key, so step j costs a little more than step j - 1.

    python examples/generation_steps.py
"""

from __future__ import annotations

import torch
from torch import nn

import flopcount

VOCAB, WIDTH, PROMPT, NEW_TOKENS = 1000, 64, 32, 4


class CachedDecoder(nn.Module):
    """One attention layer with a key/value cache the caller passes in, and an LM head."""

    def __init__(self, vocab: int = VOCAB, width: int = WIDTH) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(width, width, bias=False)
        self.v = nn.Linear(width, width, bias=False)
        self.head = nn.Linear(width, vocab, bias=False)

    def forward(self, tokens: torch.Tensor, cache: list[torch.Tensor]) -> torch.Tensor:
        x = self.embed(tokens)
        keys, values = self.k(x), self.v(x)
        if cache:
            keys, values = torch.cat([cache[0], keys]), torch.cat([cache[1], values])
        cache[:] = [keys, values]
        attention = torch.softmax(self.q(x) @ keys.T, dim=-1)
        return self.head(attention @ values)


def main() -> None:
    torch.manual_seed(0)
    model = CachedDecoder().eval()
    cache: list[torch.Tensor] = []
    tokens = torch.randint(0, VOCAB, (PROMPT,))
    with torch.no_grad(), flopcount.profile(model) as report:
        logits = model(tokens, cache)
        for _ in range(NEW_TOKENS):
            logits = model(logits[-1:].argmax(-1), cache)
    for index, step in enumerate(report.steps):
        name = "prefill" if index == 0 else f"decode {index - 1}"
        print(f"{name:<9} input {list(step.input_shapes[0])!s:<5} {step.macs:>9,} MACs")
    print(f"{'total':<15} {report.macs:>9,} MACs")


if __name__ == "__main__":
    main()
