"""From scratch: a readable Transformer (model.py), its Hugging Face shells (hf.py, registered with the
Auto classes on import), tokenizer training, pretraining (MLM / CLM / contrastive) and the
position-encoding length study."""
from ctxlearn.scratch.hf import (ScratchForCausalLM, ScratchForMaskedLM, ScratchForSeq2SeqLM, ScratchModel,
                                 register)
from ctxlearn.scratch.model import ScratchConfig

__all__ = ["ScratchConfig", "ScratchForCausalLM", "ScratchForMaskedLM", "ScratchForSeq2SeqLM", "ScratchModel",
           "register"]
