"""int8 weights for a loaded classifier: dynamic quantization of the backbone's linear layers.

Engine, chosen by measurement (bench/int8.py: MiniLM `head` artifact, all 1,821 SST-2 test sentences, one
thread, batches of 32; README "Serving and export" has the table): torch.ao ``quantize_dynamic`` with
per-channel weight scales was the fastest (about 3x fp32, 2x bf16) within 1 point of fp32 accuracy.
torchao's int8 dynamic-activation/int8-weight (per-token scales) kept accuracy a little better but ran
at about two thirds of that speed without torch.compile, and would be one more dependency. ONNX Runtime
was no faster in fp32 than bf16 torch, its dynamic int8 lost the task out of the box (50% accuracy), and
it would add a protobuf model format and a runtime. Per-tensor weight scales lost twice the accuracy.
Caveat: activation scales are computed per batch, so an int8 prediction can change with the other
inputs in its batch (``export`` measures how often; ``serve --max-batch-size 1`` avoids it).

Storage: an exported folder keeps the fp32 safetensors it was made from and is quantized here at load
(about 0.25 s for MiniLM). Quantization is deterministic (per-channel min/max scales of the stored weights),
so the accuracy ``export`` measured is the accuracy ``serve`` and ``predict`` get, and no int8 format
other than safetensors/JSON has to be trusted on load.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

ENGINE = "torch.ao.quantization.quantize_dynamic: qint8 per-channel weights, per-batch uint8 activations, backbone nn.Linear"


def quantize_int8(model: nn.Module) -> nn.Module:
    """Swap the backbone's ``nn.Linear`` layers for dynamically quantized int8 ones, in place; returns the model.

    The head stays fp32: it is a single (C, H) layer, so int8 would save nothing and only add error.
    LoRA-style peft adapters are merged first so their layers quantize as one plain linear each. Bottleneck
    adapters stay fp32 too, on the int8 layers they follow: quantizing swaps each linear layer for a new one,
    which keeps its forward hooks but not its children, and lost them (every ``adapter`` export failed).
    """
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    from ctxlearn.methods.adapter import adapted

    backbone = model.backbone
    if hasattr(backbone, "merge_and_unload") and not getattr(backbone.active_peft_config, "is_prompt_learning", False):
        backbone = backbone.merge_and_unload()
    adapters = adapted(backbone)
    for name in adapters:
        del backbone.get_submodule(name).adapter
    with warnings.catch_warnings():  # torch marks torch.ao quantization deprecated in favour of torchao (see README)
        warnings.simplefilter("ignore")
        # Per-channel weight scales: per-tensor ones cost SST-2 head 1.0 point, per-channel 0.5, same speed.
        model.backbone = quantize_dynamic(backbone.eval(), {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)
    for name, adapter in adapters.items():
        model.backbone.get_submodule(name).adapter = adapter.eval()
    return model.eval()


def is_int8(manifest: dict[str, Any]) -> bool:
    """Whether a run folder's manifest says it was exported for int8 prediction."""
    return (manifest.get("export") or {}).get("weights") == "int8-dynamic"
