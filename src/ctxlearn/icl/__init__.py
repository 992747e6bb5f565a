"""In-context learning as a method: a causal LM labels examples from a prompt of demonstrations, with
no training. Scoring engine, prompt specs, demonstration selection, calibration, runs and artifacts."""
from ctxlearn.icl.calibrate import CONTENT_FREE, calibrate, label_bias
from ctxlearn.icl.config import IclConfig, icl_config
from ctxlearn.icl.prompt import PROMPTS, PromptSpec, resolve_prompt
from ctxlearn.icl.scoring import score_prompts
from ctxlearn.icl.select import SELECTORS, select

__all__ = ["CONTENT_FREE", "PROMPTS", "SELECTORS", "IclConfig", "PromptSpec", "calibrate", "icl_config", "label_bias",
           "resolve_prompt", "score_prompts", "select"]
