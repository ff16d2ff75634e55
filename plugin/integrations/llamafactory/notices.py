"""What `metricsft train` tells the user on stderr: the start-up line and the silent-no-op warnings.

A run can be configured so that the metric loss does nothing, and training would still succeed
and look normal: `metric_loss: null` with `metric_loss_args` (plain CE), `metric_loss: ce` with
vocabulary keys (CE ignores the vocabulary), or a dataset whose answers hold no metric token at all
(`metricsft/metric_tokens` stays 0, the run is plain CE). Each gets a warning: at start when the
config or the tokenised dataset already shows it, and otherwise after `NO_METRIC_TOKEN_STEPS`
optimizer steps without a single metric token.

Only the main process prints (RANK 0), so a torchrun job says each thing once.

    >>> ignored_args_warning({"lam": 0.5}, "my.yaml")
    'metric_loss is null (my.yaml), so metric_loss_args {lam: 0.5} are ignored and this run trains plain LLaMA-Factory cross-entropy; set metric_loss (e.g. ntil) to use them, or remove metric_loss_args.'
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

import torch
import yaml

PREFIX = "metricsft train: "
# How many optimizer steps without one metric token before the run is called out as plain CE.
NO_METRIC_TOKEN_STEPS = 50
# Rows of the tokenised training set scanned at start (enough to find numbers in any numeric task).
START_SCAN_ROWS = 1000


def is_main_process(env: Mapping[str, str] | None = None) -> bool:
    """RANK 0 (or no RANK: a single process). Every rank runs the same checks; one of them speaks."""
    env = os.environ if env is None else env
    return env.get("RANK", "0") == "0"


def say(message: str) -> None:
    """One `metricsft train: ...` line on stderr, from the main process only."""
    if is_main_process():
        print(PREFIX + message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    say("warning: " + message)


def yaml_scalar(value: Any) -> str:
    """A value as it is written in a YAML config (true / false / null, numbers and words as is)."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return str(value)


def _flow(mapping: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(mapping), default_flow_style=True, sort_keys=False).strip()


def ignored_args_warning(args: Mapping[str, Any], where: str) -> str:
    """`metric_loss: null` with arguments: the arguments do nothing."""
    return (
        f"metric_loss is null ({where}), so metric_loss_args {_flow(args)} are ignored and this run trains plain "
        "LLaMA-Factory cross-entropy; set metric_loss (e.g. ntil) to use them, or remove metric_loss_args."
    )


def unused_vocabulary_warning(loss: str, vocab_args: Mapping[str, Any], where: str) -> str | None:
    """`metric_loss: ce` with vocabulary keys: CE has no metric term, so they only cost time."""
    if loss != "ce" or not vocab_args:
        return None
    return (
        f"metric_loss ce ({where}) is plain cross-entropy: metric_loss_args {_flow(vocab_args)} select a metric "
        "vocabulary that ce never uses; pick a metric loss (ntil, dist2, ...) or remove them."
    )


def metric_label_count(dataset: Any, token_ids: list[int], max_rows: int = START_SCAN_ROWS) -> int | None:
    """How many supervised label tokens of the first `max_rows` rows are metric tokens.

    None when it cannot be known before training: no dataset, a streaming (iterable) dataset, or
    no `labels` column.
    """
    column_names = getattr(dataset, "column_names", None)
    if dataset is None or not hasattr(dataset, "select") or not column_names or "labels" not in column_names:
        return None
    rows = list(dataset.select(range(min(max_rows, len(dataset))))["labels"])
    if not rows:
        return 0
    labels = torch.cat([torch.as_tensor(row, dtype=torch.long) for row in rows])
    return int(torch.isin(labels, torch.as_tensor(token_ids, dtype=torch.long)).sum())


def no_metric_labels_warning(dataset: Any, vocab: Any, loss: str) -> str | None:
    """The start-of-training warning for a dataset whose labels hold no metric token."""
    token_ids = sorted({i for group in vocab.groups for i in group.token_ids})
    count = metric_label_count(dataset, token_ids)
    if count is None or count > 0:
        return None
    rows = min(START_SCAN_ROWS, len(dataset))
    names = ", ".join(group.name for group in vocab.groups)
    return (
        f"no metric token in the labels of the first {rows} training rows (metric vocabulary: {names}): "
        f"metric_loss {loss} adds nothing there, the run is plain cross-entropy. Check that the answers hold "
        "numbers the vocabulary covers (metric_loss_args.metrics: digits, loc, value_map, ...)."
    )


class MetricTokenWatch:
    """Warns once when `steps` optimizer steps have passed without a single metric token.

    Fed with each training log's `metricsft/metric_tokens` (a per-window sum over processes).

    >>> watch = MetricTokenWatch(steps=2)
    >>> watch.observe(step=1, metric_tokens=0.0) is None
    True
    >>> watch.observe(step=2, metric_tokens=0.0)[:40]
    'no metric token in the labels of the fir'
    """

    def __init__(self, steps: int = NO_METRIC_TOKEN_STEPS) -> None:
        self.steps = steps
        self.seen = 0.0
        self.warned = False

    def observe(self, step: int, metric_tokens: float) -> str | None:
        """Record one log window; return the warning the first time it applies (else None)."""
        self.seen += metric_tokens
        if self.warned or self.seen > 0 or step < self.steps:
            return None
        self.warned = True
        return (
            f"no metric token in the labels of the first {step} optimizer steps (metricsft/metric_tokens is 0): "
            "the metric loss has added nothing, the run is plain cross-entropy so far. Check that the answers "
            "hold numbers the metric vocabulary covers (metric_loss_args.metrics)."
        )


def metric_token_watch(loss: str, train_dataset: Any, vocab: Any) -> MetricTokenWatch | None:
    """Called when the trainer is built: warn now if the tokenised dataset shows no metric token,
    else return the watch that warns after `NO_METRIC_TOKEN_STEPS` steps without one.

    None for `ce` (no metric term to miss) and after a start warning (it would only repeat it).
    """
    if loss == "ce":
        return None
    message = no_metric_labels_warning(train_dataset, vocab, loss)
    if message is not None:
        warn(message)
        return None
    return MetricTokenWatch()
