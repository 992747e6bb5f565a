"""Examples -> token ids. Padding is left to the collator so each batch pads only to its own longest."""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset

from ctxlearn.data.example import Example


class Encoded(Dataset):
    """Tokenised examples as a list of dicts (what transformers' collators and Trainer expect)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def encode(examples: list[Example], tokenizer: Any, labels: list[str] | None, max_length: int) -> Encoded:
    """Tokenise texts (or pairs, truncating the longer side first); attach label ids when given."""
    texts = [ex.text for ex in examples]
    pairs = [ex.text_pair for ex in examples] if examples and examples[0].text_pair is not None else None
    enc = tokenizer(texts, pairs, truncation="longest_first" if pairs else True, max_length=max_length)
    index = {lab: i for i, lab in enumerate(labels)} if labels else None
    rows = []
    for i in range(len(examples)):
        row = {k: enc[k][i] for k in enc.keys() if k in ("input_ids", "attention_mask", "token_type_ids")}
        if index is not None:
            row["labels"] = index[examples[i].label]
        rows.append(row)
    return Encoded(rows)


def batches_by_length(data: Encoded, batch_size: int) -> list[list[int]]:
    """Index batches of similar length, for inference (order does not matter there, padding does)."""
    order = sorted(range(len(data)), key=lambda i: len(data.rows[i]["input_ids"]))
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
