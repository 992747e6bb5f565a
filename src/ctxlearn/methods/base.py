"""The method registry and what every method provides."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ctxlearn.errors import ConfigError
from ctxlearn.registry import Registry, did_you_mean


@dataclass(frozen=True)
class Method:
    """``prepare`` freezes or wraps a fresh ``EncoderClassifier`` in place of training it.

    ``fit`` says which training path runs it: "trainer" (gradient steps through the whole model)
    or "features" (frozen backbone: features computed once, the head fitted on them).
    ``lr`` and ``epochs`` are the defaults the method is tuned for; the user's flags override them.
    ``callbacks``, when set, builds the Trainer callbacks a method needs while it trains (AdaLoRA
    reallocates its ranks after every optimizer step) from the prepared model and the options.
    ``lr_scale``, when set, maps the prepared model and the options to a function from parameter name to
    a multiple of the learning rate, or to None when every parameter takes the plain rate (LoRA+ trains
    B faster than A; layer-wise decay trains lower layers slower).
    ``positions``, when set, maps the options to the positions of a Hugging Face backbone's table the method
    takes ahead of each input (prompt and prefix tuning's virtual tokens).
    """

    name: str
    help: str
    options: type
    prepare: Callable[[nn.Module, Any], nn.Module]
    lr: float
    epochs: float
    fit: str = "trainer"
    callbacks: Callable[[nn.Module, Any], list] | None = None
    lr_scale: Callable[[nn.Module, Any], Callable[[str], float] | None] | None = None
    positions: Callable[[Any], int] | None = None


METHODS: Registry[Method] = Registry("method")
BLOCK = re.compile(r"\.(\d+)\.")  # the block index in a module name: encoder.layer.3. (BERT), layers.3. (scratch)


def options_class(name: str, values: Any, where: str) -> type:
    """The options dataclass of a ``method_options`` entry: refuses a name that is no method, and values that
    are not a mapping, after ``where`` (a recipe's line, or ``method_options``)."""
    if name not in METHODS:
        raise ConfigError(f"{where}: {name!r} is not a method{did_you_mean(name, METHODS)}; methods are: "
                          f"{', '.join(METHODS.names())}")
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: {name} must be a mapping of option: value, not {values!r}")
    return METHODS.get(name).options


def check_regex(options: Any, name: str) -> None:
    """A ConfigError naming option ``name`` of ``options`` where it is not a regular expression."""
    value = getattr(options, name)
    try:
        re.compile(value)
    except re.error as err:
        raise ConfigError(f"{name} {value!r} is not a regular expression ({err})", field=name) from None


def linear_names(backbone: nn.Module, n: int = 4) -> str:
    """The first ``n`` distinct names of the backbone's linear layers within a block (``attention.self.query``,
    not ``encoder.layer.0.attention.self.query``), for an error that asks for targets."""
    names = [BLOCK.split(name)[-1] for name, m in backbone.named_modules() if isinstance(m, nn.Linear)]
    return ", ".join(list(dict.fromkeys(names))[:n])


def peft_model(backbone: nn.Module, config: Any, flag: str) -> nn.Module:
    """peft's ``get_peft_model``; targets that match no module of the backbone are a ConfigError naming ``flag``
    and the backbone's own linear layers, where peft raised from deep inside."""
    from peft import get_peft_model

    try:
        return get_peft_model(backbone, config)
    except ValueError as err:  # NoMatchingPeftModuleError since peft 0.18, a plain ValueError before
        if "not found in the base model" not in str(err):
            raise
        targets = config.target_modules
        given = targets if isinstance(targets, str) else ",".join(sorted(targets))
        raise ConfigError(f"{flag} {given}: matches no module of {type(backbone).__name__}; name some of its linear "
                          f"layers, e.g. {linear_names(backbone)}") from None


def freeze(module: nn.Module) -> None:
    for p in module.parameters():
        p.requires_grad_(False)


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total
