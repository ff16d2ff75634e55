"""Window arithmetic of the logged loss components, checked against hand computations."""

from __future__ import annotations

import json

import pytest
import torch

from metricsft.integrations.llamafactory.component_logging import ComponentWindow, MetricLogCallback


def t(x: float) -> torch.Tensor:
    return torch.tensor(x)


def test_sum_over_micro_batches_mean_over_steps():
    window = ComponentWindow()
    # steps 3 and 4 (0-based global_step during their micro-batches), 2 micro-batches each
    for step, ce in [(3, 1.0), (3, 2.0), (4, 0.5), (4, 0.25)]:
        window.add({"ce": t(ce), "kl": t(10 * ce)}, step=step)
    out = window.pop_means(step=5)
    assert out == pytest.approx({"metricsft/ce": (3.0 + 0.75) / 2, "metricsft/kl": (30.0 + 7.5) / 2})
    assert window.pop_means(step=5) == {}  # reset after logging


def test_component_missing_in_some_micro_batches_counts_as_zero():
    window = ComponentWindow()
    window.add({"ce": t(1.0)}, step=0)  # a batch without numbers has no "rel"
    window.add({"ce": t(1.0), "rel": t(0.4)}, step=1)
    out = window.pop_means(step=2, names=["ce", "rel", "mag"])
    assert out == pytest.approx({"metricsft/ce": 1.0, "metricsft/rel": 0.2, "metricsft/mag": 0.0})


def test_loss_scale_and_counts_under_data_parallel():
    # Two ranks; HF multiplies each rank's loss by 2 (token counts summed across devices) and
    # averages over ranks. Counts must come out as the global sum.
    ranks = []
    for ce, tokens in [(0.75, 3.0), (0.25, 5.0)]:  # each rank: local CE sum / global token count
        window = ComponentWindow()
        window.add({"ce": t(ce), "metric_tokens": t(tokens)}, step=0, loss_scale=2.0, processes=2)
        ranks.append(window)
    sums = [torch.stack([w._sums["ce"], w._sums["metric_tokens"]]) for w in ranks]
    mean = torch.stack(sums).mean(0)
    out = ranks[0].pop_means(step=1, names=["ce", "metric_tokens"], mean_over_processes=lambda _: mean)
    assert out == pytest.approx({"metricsft/ce": 0.75 + 0.25, "metricsft/metric_tokens": 8.0})


def test_log_callback_adds_components_to_trainer_log(tmp_path):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), report_to="none")
    state = TrainerState()
    state.max_steps = 2
    callback = MetricLogCallback()
    callback.on_train_begin(args, state, TrainerControl())
    for step, (loss, ce) in enumerate([(2.5, 2.0), (1.5, 1.25)], start=1):
        state.global_step = step
        state.log_history.append({"loss": loss, "metricsft/ce": ce, "learning_rate": 0.1, "step": step})
        callback.on_log(args, state, TrainerControl())
    callback.on_train_end(args, state, TrainerControl())
    rows = [json.loads(line) for line in (tmp_path / "trainer_log.jsonl").read_text().splitlines()]
    assert [(r["loss"], r["metricsft/ce"], r["current_steps"]) for r in rows] == [(2.5, 2.0, 1), (1.5, 1.25, 2)]
