"""Pretraining objectives: how a training batch is drawn, what loss it gives, how validation is scored.

  clm          decoder + ScratchForCausalLM: predict each next token of random windows of the corpus.
  mlm          encoder + ScratchForMaskedLM: 15% of tokens are chosen, 80% of those become [MASK],
               10% a random token, 10% stay; each is predicted from both sides (Devlin et al. 2019).
  contrastive  encoder + ScratchModel: SimCSE (Gao et al. 2021): every document is encoded twice with
               different dropout masks; InfoNCE pulls its two mean-pooled vectors together and pushes
               the batch's other documents away.

Batches draw from torch's global generator, which the training loop seeds from (seed, step), so a
resumed run sees the batches an unbroken one would. Validation data is fixed when the objective is
built. Every objective also reports a baseline on the same validation data, so the model's score has
something to beat: a unigram model's perplexity (clm, mlm), or the untrained model's loss (contrastive).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from ctxlearn.errors import ConfigError
from ctxlearn.models.classifier import pool
from ctxlearn.registry import Registry
from ctxlearn.scratch.corpus import token_stream
from ctxlearn.scratch.hf import IGNORE, ScratchForCausalLM, ScratchForMaskedLM, ScratchModel

Batch = dict[str, torch.Tensor]
OBJECTIVES: Registry[type] = Registry("objective")


def unigram_ppl(train: torch.Tensor, targets: torch.Tensor, vocab_size: int) -> float:
    """Perplexity on ``targets`` of token frequencies counted on ``train`` (add-one smoothed)."""
    counts = torch.bincount(train, minlength=vocab_size).double() + 1.0
    return math.exp(-(counts / counts.sum()).log()[targets].mean().item())


@torch.no_grad()
def stream_nll(model: torch.nn.Module, stream: torch.Tensor, length: int, batch_size: int) -> tuple[float, int]:
    """(summed next-token NLL, tokens predicted) of a causal LM over ``stream`` cut into
    non-overlapping windows of ``length`` tokens; each window starts without context."""
    device = next(model.parameters()).device
    windows = stream[:len(stream) // length * length].view(-1, length)  # (N, length)
    total, count = 0.0, 0
    for chunk in windows.split(batch_size):
        logits = model(input_ids=chunk.to(device), use_cache=False).logits[:, :-1]  # (b, length-1, V)
        total += F.cross_entropy(logits.flatten(0, 1).float(), chunk[:, 1:].flatten().to(device), reduction="sum").item()
        count += chunk[:, 1:].numel()
    return total, count


def need_window(stream: torch.Tensor, length: int, part: str, cfg: Any) -> None:
    """A ConfigError when ``stream``, the corpus's ``part`` (train or validation) in tokens, is shorter than
    ``length``, the fewest tokens one window of ``--seq-len`` takes from it."""
    if len(stream) < length:
        more = "a larger --val-fraction (and --val-tokens), " if part == "validation" else ""
        raise ConfigError(f"{cfg.objective}: the corpus's {part} part holds {len(stream)} tokens, too few for one "
                          f"window of --seq-len {cfg.seq_len}; use a larger corpus, {more}or a smaller --seq-len")


def check_tokenizer(tokenizer: Any, objective: str, needs: tuple[str, ...], source: str) -> None:
    """Refuse a tokenizer without the special tokens ``objective`` builds its batches with (a WordPiece one has no
    end-of-text token for clm, a BPE one no [MASK] for mlm), naming the kind that has them."""
    missing = [name for name in needs if getattr(tokenizer, f"{name}_id", None) is None]
    if missing:
        kind = "bpe" if objective == "clm" else "wordpiece"
        raise ConfigError(f"{source}: the tokenizer has no {', '.join(missing)}, which {objective} needs; use a "
                          f"{kind} tokenizer (`ctxlearn tokenizer train --kind {kind}`), or leave --tokenizer out to "
                          "train one")


@OBJECTIVES.register("clm")
class CausalLM:
    arch, head = "decoder", ScratchForCausalLM
    needs = ("eos_token",)  # documents end in it

    def __init__(self, tokenizer: Any, train_docs: list[str], val_docs: list[str], cfg: Any) -> None:
        self.T, self.B, self.V = cfg.seq_len, cfg.batch_size, len(tokenizer)
        self.train = token_stream(train_docs, tokenizer, tokenizer.eos_token_id)  # (N,)
        self.val = token_stream(val_docs, tokenizer, tokenizer.eos_token_id)[:cfg.val_tokens]  # (M,)
        need_window(self.train, self.T + 1, "train", cfg)  # a window and a start to draw it from
        need_window(self.val, self.T, "validation", cfg)

    def batch(self) -> Batch:
        starts = torch.randint(0, len(self.train) - self.T, (self.B,)).tolist()
        x = torch.stack([self.train[s:s + self.T] for s in starts])  # (B, T)
        return {"input_ids": x, "labels": x}

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return model(**batch, use_cache=False).loss

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        total, count = stream_nll(model, self.val, self.T, self.B)
        return {"val_loss": total / count, "val_ppl": math.exp(total / count)}

    def baseline(self, model: torch.nn.Module) -> dict[str, float]:
        """Token frequencies' perplexity on the validation targets (``model``, untrained, is not needed)."""
        targets = self.val[:len(self.val) // self.T * self.T].view(-1, self.T)[:, 1:].flatten()
        return {"unigram_ppl": unigram_ppl(self.train, targets, self.V)}


@OBJECTIVES.register("mlm")
class MaskedLM:
    arch, head = "encoder", ScratchForMaskedLM
    needs = ("mask_token", "cls_token", "sep_token", "pad_token")

    def __init__(self, tokenizer: Any, train_docs: list[str], val_docs: list[str], cfg: Any) -> None:
        from transformers import DataCollatorForLanguageModeling

        self.T, self.B, self.V = cfg.seq_len, cfg.batch_size, len(tokenizer)
        self.cls, self.sep = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mask_prob)
        self.train = token_stream(train_docs, tokenizer, self.sep)  # (N,) documents end in [SEP]
        val = token_stream(val_docs, tokenizer, self.sep)[:cfg.val_tokens]
        need_window(self.train, self.T - 1, "train", cfg)  # windows of T - 2 tokens, framed by [CLS] and [SEP]
        need_window(val, self.T - 2, "validation", cfg)
        with torch.random.fork_rng():  # the same masks at every evaluation
            torch.manual_seed(cfg.seed)
            self.val = [self._mask(w) for w in self._wrap(val.view(-1)[:len(val) // (self.T - 2) * (self.T - 2)]
                                                          .view(-1, self.T - 2)).split(self.B)]

    def _wrap(self, windows: torch.Tensor) -> torch.Tensor:
        """(N, T-2) -> (N, T): [CLS] window [SEP], as the tokenizer frames a single text."""
        n = len(windows)
        return torch.cat([windows.new_full((n, 1), self.cls), windows, windows.new_full((n, 1), self.sep)], 1)

    def _mask(self, rows: torch.Tensor) -> Batch:
        return dict(self.collate([{"input_ids": r} for r in rows]))

    def batch(self) -> Batch:
        starts = torch.randint(0, len(self.train) - self.T + 2, (self.B,)).tolist()
        return self._mask(self._wrap(torch.stack([self.train[s:s + self.T - 2] for s in starts])))

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return model(**batch).loss

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for b in self.val:
            n = int((b["labels"] != IGNORE).sum())
            total += model(**{k: v.to(device) for k, v in b.items()}).loss.item() * n
            count += n
        return {"val_loss": total / count, "val_ppl": math.exp(total / count)}

    def baseline(self, model: torch.nn.Module) -> dict[str, float]:
        """Token frequencies' perplexity on the masked validation tokens (``model`` is not needed)."""
        labels = torch.cat([b["labels"].flatten() for b in self.val])
        return {"unigram_ppl": unigram_ppl(self.train, labels[labels != IGNORE], self.V)}


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, top-1 accuracy) of matching row i of ``a`` (N, H) to row i of ``b`` among all rows of b,
    by cosine similarity / temperature."""
    sim = F.cosine_similarity(a[:, None], b[None, :], dim=-1) / temperature  # (N, N)
    target = torch.arange(len(a), device=a.device)
    return F.cross_entropy(sim.float(), target), (sim.argmax(-1) == target).float().mean()


@OBJECTIVES.register("contrastive")
class Contrastive:
    arch, head = "encoder", ScratchModel
    needs = ("pad_token",)

    def __init__(self, tokenizer: Any, train_docs: list[str], val_docs: list[str], cfg: Any) -> None:
        self.tokenizer, self.B, self.T, self.temperature = tokenizer, cfg.batch_size, cfg.seq_len, cfg.temperature
        self.train_docs = train_docs
        n_val = max(self.B, cfg.val_tokens // cfg.seq_len)  # documents, about val_tokens / seq_len of them
        self.val = [self._encode(val_docs[i:i + self.B]) for i in range(0, min(n_val, len(val_docs)) - self.B + 1, self.B)]
        if not self.val:
            raise ConfigError(f"contrastive: {len(val_docs)} validation documents, fewer than one batch of {self.B}; "
                              "use a larger corpus, a larger --val-fraction or a smaller --batch-size")

    def _encode(self, docs: list[str]) -> Batch:
        return dict(self.tokenizer(docs, truncation=True, max_length=self.T, padding=True, return_tensors="pt"))

    def batch(self) -> Batch:
        idx = torch.randperm(len(self.train_docs))[:self.B].tolist()
        return self._encode([self.train_docs[i] for i in idx])

    def _views(self, model: torch.nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Two encodings of the same batch; only their dropout masks differ."""
        z = [pool(model(**batch).last_hidden_state, batch["attention_mask"], "mean") for _ in range(2)]  # 2 x (B, C)
        return z[0], z[1]

    def loss(self, model: torch.nn.Module, batch: Batch) -> torch.Tensor:
        return info_nce(*self._views(model, batch), self.temperature)[0]

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module) -> dict[str, float]:
        """InfoNCE loss and top-1 accuracy on validation batches. Dropout is the augmentation, so this
        runs in training mode, with a fixed seed so every evaluation draws the same masks."""
        was_training, device = model.training, next(model.parameters()).device
        model.train()
        losses, accs = [], []
        with torch.random.fork_rng():
            torch.manual_seed(0)
            for b in self.val:
                loss, acc = info_nce(*self._views(model, {k: v.to(device) for k, v in b.items()}), self.temperature)
                losses.append(loss.item())
                accs.append(acc.item())
        model.train(was_training)
        return {"val_loss": sum(losses) / max(1, len(losses)), "val_top1": sum(accs) / max(1, len(accs))}

    def baseline(self, model: torch.nn.Module) -> dict[str, float]:
        """The untrained ``model``'s validation loss and top-1, and chance's top-1. Chance is no bar: two
        dropout views of one text match each other among a batch's texts even in a random encoder (top-1 1.0)."""
        untrained = self.evaluate(model)
        return {"untrained_val_loss": untrained["val_loss"], "untrained_val_top1": untrained["val_top1"],
                "chance_top1": 1.0 / self.B}


def batch_tokens(batch: Batch) -> int:
    """Real (non-padding) input tokens in a batch."""
    mask = batch.get("attention_mask")
    return int(mask.sum()) if mask is not None else batch["input_ids"].numel()
