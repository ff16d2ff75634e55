"""``MetricLoss``: the object you hand to a trainer as ``compute_loss_func``.

>>> from metricsft import MetricLoss
>>> loss_fn = MetricLoss(tokenizer, "ntil", {"lam": 0.3})                     # doctest: +SKIP
>>> trainer = transformers.Trainer(model=model, args=args, train_dataset=ds,
...                                compute_loss_func=loss_fn)                   # doctest: +SKIP

It follows Hugging Face's ``compute_loss_func(outputs, labels, num_items_in_batch)`` contract:
labels are shifted here (exactly once), the loss is ``sum / num_items_in_batch`` when the trainer
passes it (so gradient accumulation and data parallel equal one big batch) and a mean otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .head_bypass import HiddenStateHead
from .losses import get_loss
from .losses.functional import metric_token_loss
from .losses.fused_head import metric_token_loss_from_hidden
from .registry import check_arguments
from .scope import resolve_scope
from .vocab import CodebookMetric, MetricVocab, build_metric_vocab

# Keys of metric_loss_args that describe the vocabulary rather than the loss.
VOCAB_KEYS = ("metrics", "value_map", "codebook_file", "codebook_distance", "codebook_tau", "score_range", "scope")


def _load_codebook(path: str | Path, distance: str, tau: float | str) -> CodebookMetric:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metric_loss_args.codebook_file: no such file {str(path)!r}")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, Mapping) or not {"token_ids", "embeddings"} <= set(payload):
        raise ValueError(
            f"metric_loss_args.codebook_file {str(path)!r} must hold a dict with 'token_ids' and 'embeddings' "
            "(save it with torch.save({'token_ids': ids, 'embeddings': tensor}, path))"
        )
    return CodebookMetric(list(payload["token_ids"]), payload["embeddings"], distance, tau)


# Key of metric_loss_args that chooses how the trainer computes the head (see parse_fused_head).
FUSED_HEAD_KEY = "fused_head"


def parse_fused_head(value: Any) -> str | bool:
    """``auto`` (default: the fused head where the model supports it), ``true`` (required) or ``false``.

    >>> parse_fused_head("false"), parse_fused_head(None)
    (False, 'auto')
    """
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("auto", "true", "false"):
        return {"auto": "auto", "true": True, "false": False}[value.strip().lower()]
    raise ValueError(f"metric_loss_args.{FUSED_HEAD_KEY} must be auto, true or false; got {value!r}")


def split_metric_args(args: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Separate vocabulary keys (``metrics``, ``value_map``, ``codebook_*``) from loss arguments.

    ``fused_head`` is neither: it tells the trainer how to run the head, and is dropped here.
    """
    args = dict(args or {})
    args.pop(FUSED_HEAD_KEY, None)
    vocab_args = {key: args.pop(key) for key in VOCAB_KEYS if key in args}
    return vocab_args, args


def build_vocab_from_args(tokenizer: Any, vocab_args: Mapping[str, Any]) -> MetricVocab:
    codebook = None
    if "codebook_file" in vocab_args:
        codebook = _load_codebook(
            vocab_args["codebook_file"], vocab_args.get("codebook_distance", "mse"), vocab_args.get("codebook_tau", "auto")
        )
    metrics = vocab_args.get("metrics", ("digits",))
    if isinstance(metrics, str):
        metrics = [metrics]
    return build_metric_vocab(
        tokenizer, metrics=metrics, value_map=vocab_args.get("value_map"), codebook=codebook,
        score_range=vocab_args.get("score_range"), scope=resolve_scope(tokenizer, vocab_args.get("scope")),
    )


class MetricLoss:
    """CE + a metric-token term, callable as a Hugging Face ``compute_loss_func``.

    ``args`` holds the loss arguments (see ``metricsft.losses.get_loss(name).arg_names()``) and
    optionally the vocabulary keys ``metrics`` (``["digits"]``, ``["digits", "loc"]``, ...),
    ``value_map`` (dict or JSON file), ``codebook_file`` / ``codebook_distance`` / ``codebook_tau``,
    ``score_range`` (``[0, 20]``: those whole-number tokens as one ordered group) and ``scope``
    (``all`` | ``last`` | ``{after: TEXT}`` | ``{inside: [OPEN, CLOSE]}``: which numbers get the term).
    Unknown names raise a ValueError that lists the valid ones.
    """

    def __init__(
        self, tokenizer: Any, loss: str = "ntil", args: Mapping[str, Any] | None = None, *, vocab: MetricVocab | None = None
    ) -> None:
        self.loss_name = loss
        self.spec = get_loss(loss)
        self.fused_head = parse_fused_head((args or {}).get(FUSED_HEAD_KEY))
        vocab_args, loss_args = split_metric_args(args)
        check_arguments(loss_args, self.spec.arg_names() + list(VOCAB_KEYS), "metric_loss_args", f" for metric_loss {loss!r}")
        self.args = self.spec.parse_args(loss_args)
        self.vocab_args = vocab_args
        self.vocab = vocab if vocab is not None else build_vocab_from_args(tokenizer, vocab_args)
        self.last_components: dict[str, torch.Tensor] = {}

    def __call__(
        self,
        outputs: Any,
        labels: torch.Tensor,
        num_items_in_batch: int | torch.Tensor | None = None,
        *,
        head: HiddenStateHead | None = None,
        **kwargs: Any,
    ) -> torch.Tensor:
        """The loss; with ``head`` (bypassed during the forward that produced ``outputs``), the
        model returned hidden states and the loss runs the head itself at supervised rows only."""
        logits = outputs.get("logits") if isinstance(outputs, Mapping) else getattr(outputs, "logits", None)
        if logits is None:
            raise ValueError(
                "MetricLoss needs outputs.logits, but the model returned none (Liger's fused linear cross-entropy "
                "skips them: set enable_liger_kernel/use_liger_kernel to false when using a metric loss)"
            )
        shift_labels = kwargs.get("shift_labels")
        position_ids = kwargs.get("position_ids")
        if shift_labels is not None:  # already aligned by the caller (e.g. context parallel)
            labels, shift = shift_labels, False
            if position_ids is not None:
                raise ValueError("pass position_ids already shifted together with shift_labels, or neither")
        else:
            shift = True
        if head is not None and head.active:
            out = metric_token_loss_from_hidden(
                head.hidden_states_of(outputs), head.weight, labels.to(logits.device), self.vocab, self.spec, self.args,
                head_bias=head.bias, num_items_in_batch=num_items_in_batch, position_ids=position_ids, shift=shift,
            )
        else:
            out = metric_token_loss(
                logits, labels.to(logits.device), self.vocab, self.spec, self.args,
                num_items_in_batch=num_items_in_batch, position_ids=position_ids, shift=shift,
            )
        self.last_components = out.components
        return out.loss

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable settings: loss, resolved arguments, vocabulary summary."""
        from dataclasses import asdict

        return {
            "loss": self.loss_name,
            "args": asdict(self.args),
            FUSED_HEAD_KEY: self.fused_head,
            "vocab_args": {k: (str(v) if isinstance(v, Path) else v) for k, v in self.vocab_args.items()},
            "vocabulary": self.vocab.summary(),
        }
