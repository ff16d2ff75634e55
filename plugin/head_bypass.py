"""Make a Hugging Face model return its final hidden states instead of logits, for one forward.

The fused head loss (:mod:`metricsft.losses.fused_head`) computes the output head itself, only at
supervised positions. During the training forward the model's ``lm_head`` is therefore turned
into a pass-through: ``logits = self.lm_head(hidden_states)`` in the model's forward then yields
the hidden states, unchanged, and nothing vocabulary-sized is computed. Only the module's
``forward`` is swapped (on the instance, for the duration of a ``with`` block), so the module's
hooks still run and its parameters stay where they are: tied embeddings, DDP and optimizers see
the same ``Parameter`` objects. Generation, evaluation and prediction never enter the block.

Which models qualify is decided twice:

* before training, :func:`fused_head_unsupported` names what would make the result wrong: a head
  that is not a plain ``nn.Linear`` (PEFT: ``lm_head`` as a LoRA target or in ``modules_to_save``),
  a config that transforms logits after the head (``final_logit_softcapping``, ``logit_scale``,
  ``logits_scaling``), a DeepSpeed ZeRO-3-partitioned head weight, or a model class whose forward
  was not checked to return ``lm_head``'s output as its logits;
* at every step, :meth:`HiddenStateHead.hidden_states_of` checks that the model returned exactly
  the tensor the pass-through produced; a model that transforms it (soft-capping, scaling, a cast)
  raises, naming the model class, instead of training on wrong logits.

>>> head = HiddenStateHead(model)                                   # doctest: +SKIP
>>> with head.bypassed():                                           # doctest: +SKIP
...     outputs = model(**batch)
...     hidden = head.hidden_states_of(outputs)                     # [B, T, H]
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch

# Forwards read in transformers 5.x: `logits = self.lm_head(hidden_states[:, slice_indices, :])`
# is what the model returns as `logits` (no soft-capping, scaling or cast in between).
CHECKED_MODEL_CLASSES = frozenset({
    "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "GemmaForCausalLM",
    "Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration",
    "LlavaForConditionalGeneration", "PaliGemmaForConditionalGeneration",
})
# Config fields of models that change the logits after the head (Gemma-2/3, Cohere, Granite).
POST_HEAD_CONFIG_FIELDS = ("final_logit_softcapping", "logit_scale", "logits_scaling")
TRY_IT_HINT = (
    "set metric_loss_args.fused_head: true to try it (every step then checks that the model returned "
    "the head's input unchanged)"
)


def without_parallel_wrappers(model: Any) -> Any:
    """The module inside DDP / DeepSpeed engines (a PEFT model stays a PEFT model)."""
    while hasattr(model, "module") and isinstance(model.module, torch.nn.Module):
        model = model.module
    return model


def unwrapped_model(model: Any) -> Any:
    """The transformers model inside DDP / DeepSpeed engines and PEFT wrappers."""
    model = without_parallel_wrappers(model)
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model


def _post_head_settings(model: Any) -> dict[str, Any]:
    config = getattr(model, "config", None)
    configs = [config]
    if config is not None and hasattr(config, "get_text_config"):
        configs.append(config.get_text_config())
    found = {}
    for cfg in configs:
        for name in POST_HEAD_CONFIG_FIELDS:
            value = getattr(cfg, name, None)
            if value not in (None, 1, 1.0):
                found[name] = value
    return found


def fused_head_unsupported(model: Any) -> str | None:
    """Why the fused head cannot train ``model`` exactly, or None when it can.

    >>> fused_head_unsupported(LlamaForCausalLM(config)) is None       # doctest: +SKIP
    True
    """
    base = unwrapped_model(model)
    name = type(base).__name__
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    if head is None:
        return f"{name} has no output head (get_output_embeddings() is None)"
    if type(head) is not torch.nn.Linear:
        return (
            f"{name}'s output head is a {type(head).__module__}.{type(head).__name__}, not a plain torch.nn.Linear "
            "(PEFT wraps lm_head when it is a LoRA target or in modules_to_save); leave lm_head out of "
            "lora_target / additional_target, or set metric_loss_args.fused_head: false"
        )
    post_head = _post_head_settings(base)
    if post_head:
        return (
            f"{name} transforms its logits after the head ({', '.join(f'{k}={v}' for k, v in post_head.items())}); "
            "the fused head computes plain lm_head logits, so it would train a different model"
        )
    if hasattr(head.weight, "ds_id"):
        return (
            f"{name}'s head weight is partitioned by DeepSpeed ZeRO-3 (gathering it outside the model's own "
            "forward is not implemented); use ZeRO-2, or the logits path (metric_loss_args.fused_head: false)"
        )
    if name not in CHECKED_MODEL_CLASSES:
        return (
            f"{name}'s forward was not checked to return lm_head's output as its logits (checked: "
            f"{', '.join(sorted(CHECKED_MODEL_CLASSES))}); {TRY_IT_HINT}"
        )
    return None


def _pass_through(hidden_states: torch.Tensor) -> torch.Tensor:
    return hidden_states


class HiddenStateHead:
    """The output head of ``model``, switchable into a pass-through (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        base = unwrapped_model(model)
        self.model_name = type(base).__name__
        # The outermost module that is still called through __call__ inside DDP / DeepSpeed: PEFT
        # calls the transformers model's .forward directly, so a hook there would never run.
        self.model = without_parallel_wrappers(model)
        self.head: torch.nn.Linear = base.get_output_embeddings()
        self._returned: torch.Tensor | None = None
        self._model_logits: torch.Tensor | None = None
        self._active = False

    @property
    def weight(self) -> torch.Tensor:
        return self.head.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.head.bias

    @property
    def active(self) -> bool:
        return self._active

    @contextlib.contextmanager
    def bypassed(self) -> Iterator["HiddenStateHead"]:
        """Within the block, the head returns its input (after its own hooks have run)."""
        if self._active:
            raise RuntimeError("the output head is already bypassed (nested HiddenStateHead.bypassed())")

        def remember(_module, _inputs, output):  # registered last: sees what the model receives
            self._returned = output

        def remember_model_output(_module, _inputs, output):
            # What the (PEFT-wrapped) model returns, before DDP, which clones the outputs it hands back.
            self._model_logits = output.get("logits") if isinstance(output, dict) else getattr(output, "logits", None)

        self.head.forward = _pass_through  # instance attribute: shadows nn.Linear.forward
        handles = [self.head.register_forward_hook(remember), self.model.register_forward_hook(remember_model_output)]
        self._active, self._returned, self._model_logits = True, None, None
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
            del self.head.forward
            self._active, self._returned, self._model_logits = False, None, None

    def hidden_states_of(self, outputs: Any) -> torch.Tensor:
        """The hidden states the model returned as ``logits`` inside :meth:`bypassed`.

        Raises when the model did not return the pass-through's output itself: its forward then
        changes the logits after the head (or never called it), and the fused loss would be wrong.
        ``outputs`` may come through DDP, which hands back a clone carrying its own backward hook,
        so the identity is checked on what the model inside DDP returned, and ``outputs.logits``
        (the same values) is what the loss differentiates.
        """
        logits = outputs.get("logits") if isinstance(outputs, dict) else getattr(outputs, "logits", None)
        returned = self._returned
        if returned is None or self._model_logits is not returned or logits is None or logits.shape != returned.shape:
            raise RuntimeError(
                f"{self.model_name} did not return its output head's result as logits (it transforms them after "
                "lm_head, or skipped the head): the fused head cannot train it exactly. Set "
                "metric_loss_args.fused_head: false to use the logits path."
            )
        return logits


class FusedHeadUnsupported(ValueError):
    """``fused_head: true`` was asked for a model the fused head cannot train exactly."""


def resolve_fused_head(model: Any, setting: str | bool) -> tuple[HiddenStateHead | None, str]:
    """The head to bypass (None: the logits path) and one line saying why, for logs and configs.

    ``setting`` is ``metric_loss_args.fused_head``: ``"auto"`` falls back to the logits path when
    the model is not supported, ``True`` raises :class:`FusedHeadUnsupported` instead.
    """
    if setting is False:
        return None, "off (metric_loss_args.fused_head: false): the model computes full logits"
    reason = fused_head_unsupported(model)
    if reason is None:
        return HiddenStateHead(model), "on: the head runs only at supervised positions (metricsft.losses.fused_head)"
    if setting is True and reason.endswith(TRY_IT_HINT):
        # Only the class is unchecked: the per-step check in hidden_states_of guards the result.
        return HiddenStateHead(model), "on (fused_head: true for an unchecked model class; every step verifies the logits)"
    if setting is True:
        raise FusedHeadUnsupported(f"metric_loss_args.fused_head: true, but {reason}")
    return None, f"logits path: {reason}"
