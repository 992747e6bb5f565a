"""A word-embedding table whose gradient buffer is kept between steps, for training on CPU.

Why hand-written: the backward of ``nn.Embedding`` allocates a fresh gradient the size of the whole
table and fills it with zeros before adding the rows a batch used. For MiniLM's 30,522 x 384 table
that is 47 MB each step, and with the Trainer setting gradients to None after every step the pages
are new each time: profiled at 9.6 ms of a 245 ms Trainer step (up to 25 ms in a bare loop), for a
batch that touches under a thousand rows. This keeps one buffer as the weight's ``.grad``, zeroes
only the rows the last step wrote, and adds the new rows. The gradient the optimizer sees is the
same dense tensor (padding row left at zero, as ``padding_idx`` asks), so AdamW's update is unchanged.

Clipping the gradient norm reads and rescales the whole dense table too (its norm and ``mul_`` profiled at
6.7 ms of a 205 ms bf16 step on a 2-core Xeon with AMX), so ``clip_grad_norm`` does torch's clipping with
the table's part taken from the rows the step wrote: every other row is zero, so the norm and the
clipped gradient are the same, up to the order in which the squares are summed.

The plain table is used for evaluation, a frozen table, GPUs, options this does not handle
(``max_norm``, ``scale_grad_by_freq``, ``sparse``) and distributed runs, whose gradient hooks must
see the gradient arrive through autograd.
"""
from __future__ import annotations

import torch
from torch import nn


class _Lookup(torch.autograd.Function):
    """ids (...), weight (V, H) -> rows (..., H); the backward writes the weight's gradient itself."""

    @staticmethod
    def forward(ctx, ids: torch.Tensor, weight: torch.Tensor, table: "KeptGradEmbedding") -> torch.Tensor:  # noqa: ANN001
        ctx.save_for_backward(ids)
        ctx.table = table
        return nn.functional.embedding(ids, weight, table.padding_idx)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, None]:  # noqa: ANN001
        (ids,) = ctx.saved_tensors
        ctx.table.add_rows(ids.reshape(-1), grad.reshape(-1, grad.shape[-1]))
        return None, None, None


class KeptGradEmbedding(nn.Embedding):
    """Drop-in for ``nn.Embedding`` (same weight, same state dict) with a gradient buffer kept between steps."""

    _buffer: torch.Tensor | None = None
    _written: torch.Tensor | None = None  # the rows of ``_buffer`` that may be nonzero

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        plain = (not (self.training and self.weight.requires_grad and torch.is_grad_enabled())
                 or self.weight.device.type != "cpu" or self.max_norm is not None or self.scale_grad_by_freq
                 or self.sparse or (torch.distributed.is_available() and torch.distributed.is_initialized()))
        return super().forward(ids) if plain else _Lookup.apply(ids, self.weight, self)

    def add_rows(self, ids: torch.Tensor, rows: torch.Tensor) -> None:
        """Add ``rows`` (N, H) into the weight's gradient at ``ids`` (N,), starting a new gradient if the
        last one was set to None (a new step) and adding into it otherwise (gradient accumulation)."""
        if self.padding_idx is not None:
            keep = ids != self.padding_idx
            ids, rows = ids[keep], rows[keep]
        rows = rows.to(self.weight.dtype)
        weight = self.weight
        if weight.grad is not None and weight.grad is not self._buffer:  # someone else's gradient: add into it
            weight.grad.index_add_(0, ids, rows)
            return
        if weight.grad is None:  # a new step: clear what the last one wrote
            if self._buffer is None or self._buffer.shape != weight.shape:
                self._buffer, self._written = torch.zeros_like(weight), None
            elif self._written is not None:
                self._buffer.index_fill_(0, self._written, 0.0)
            self._written = None
            weight.grad = self._buffer
        self._buffer.index_add_(0, ids, rows)
        self._written = ids if self._written is None else torch.cat([self._written, ids])


def keep_embedding_grad(backbone: nn.Module) -> bool:
    """Give ``backbone``'s input-embedding table a kept gradient buffer; True if it was swapped.
    The module's class changes, not its weight: saving, loading and peft see the same ``nn.Embedding``.
    A table whose weight is tied to another module (an LM head) is left alone: autograd would add that
    module's dense gradient into the buffer, and clearing only the rows looked up would keep the rest."""
    get = getattr(backbone, "get_input_embeddings", None)
    table = get() if get else None
    if type(table) is not nn.Embedding:
        return False
    if sum(p is table.weight for _, p in backbone.named_parameters(remove_duplicate=False)) > 1:
        return False
    table.__class__ = KeptGradEmbedding
    return True


def clip_grad_norm(model: nn.Module, max_norm: float) -> torch.Tensor | None:
    """``torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)`` (L2), reading and rescaling only the
    written rows of each kept-gradient table: returns the total norm before clipping, or None (nothing done)
    when no table holds its own buffer as its gradient, so the caller clips the usual way."""
    tables = [m for m in model.modules() if isinstance(m, KeptGradEmbedding) and m._written is not None
              and m.weight.grad is not None and m.weight.grad is m._buffer]
    if not tables:
        return None
    skip = {id(t.weight) for t in tables}
    dense = [p for p in model.parameters() if p.grad is not None and id(p) not in skip]
    rows = [t._written.unique() for t in tables]
    parts = [t._buffer.index_select(0, r) for t, r in zip(tables, rows)]  # (R, H) each
    total = torch.nn.utils.get_total_norm([p.grad for p in dense] + parts)
    torch.nn.utils.clip_grads_with_norm_(dense, max_norm, total)
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)  # torch's rule: always multiplied, by 1 unless clipped
    for table, r, part in zip(tables, rows, parts):
        table._buffer.index_copy_(0, r, part * scale)
    return total
