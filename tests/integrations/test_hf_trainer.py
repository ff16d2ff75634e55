"""`compute_loss_func=MetricLoss(...)` in a plain transformers.Trainer and in TRL's SFTTrainer.

References are the trainers' own losses (the model's cross-entropy): MetricLoss("ce") must give
the same SGD update, and a metric loss must give the same update with or without gradient
accumulation.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from metricsft import MetricLoss
from tests.integrations.conftest import EXAMPLES_DIR


def chats() -> list[list[dict[str, str]]]:
    rows = json.loads((EXAMPLES_DIR / "numbers_demo.json").read_text())
    return [row["messages"] for row in rows[:8]]


def sgd_args(tmp_path, name: str, batch: int, accumulation: int, **extra):
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(tmp_path / name), per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
        max_steps=2, learning_rate=0.5, optim="sgd", max_grad_norm=0.0, weight_decay=0.0, lr_scheduler_type="constant",
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=True, seed=0, data_seed=0, **extra,
    )  # fmt: skip


def flat_parameters(model) -> torch.Tensor:
    return torch.cat([p.detach().double().flatten() for p in model.parameters()])


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / a.norm())


def train_plain(model_dir, tmp_path, name, batch, accumulation, loss_fn=None):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = [tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"] for c in chats()]
    dataset = Dataset.from_dict({"input_ids": ids})
    before = flat_parameters(model)
    trainer = Trainer(
        model=model, args=sgd_args(tmp_path, name, batch, accumulation), train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False), compute_loss_func=loss_fn,
    )  # fmt: skip
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    return flat_parameters(model) - before, losses


def test_plain_trainer_ce_equals_the_model_loss(demo_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    reference, reference_losses = train_plain(demo_model_dir, tmp_path, "model_loss", 4, 1)
    ours, our_losses = train_plain(demo_model_dir, tmp_path, "metric_ce", 4, 1, MetricLoss(tokenizer, "ce"))
    assert reference.norm() > 0
    assert relative_difference(reference, ours) <= 1e-5
    assert our_losses == pytest.approx(reference_losses, rel=1e-5)


@pytest.mark.parametrize(("loss", "args"), [("ntil", {"gumbel": False}), ("dist2", {"alpha": 0.5})])
def test_plain_trainer_accumulation_equals_big_batch(demo_model_dir, tmp_path, loss, args):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    loss_fn = MetricLoss(tokenizer, loss, args)
    big, big_losses = train_plain(demo_model_dir, tmp_path, "big", 4, 1, loss_fn)
    assert loss_fn.last_components["metric_term"] > 0
    accumulated, accumulated_losses = train_plain(demo_model_dir, tmp_path, "accumulated", 2, 2, loss_fn)
    assert relative_difference(big, accumulated) <= 1e-5
    assert accumulated_losses == pytest.approx(big_losses, rel=1e-5)


def train_trl(model_dir, tmp_path, name, loss_fn=None):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    before = flat_parameters(model)
    config = SFTConfig(
        output_dir=str(tmp_path / name), per_device_train_batch_size=4, max_steps=2, learning_rate=0.5, optim="sgd",
        max_grad_norm=0.0, lr_scheduler_type="constant", logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=True, seed=0, data_seed=0, max_length=256,
    )  # fmt: skip
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=Dataset.from_dict({"messages": chats()}),
        processing_class=tokenizer, compute_loss_func=loss_fn,
    )  # fmt: skip
    trainer.train()
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    return flat_parameters(model) - before, losses


def test_trl_sft_trainer(demo_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    reference, reference_losses = train_trl(demo_model_dir, tmp_path, "trl_own_loss")
    ours, our_losses = train_trl(demo_model_dir, tmp_path, "trl_metric_ce", MetricLoss(tokenizer, "ce"))
    assert reference.norm() > 0
    assert relative_difference(reference, ours) <= 1e-5
    assert our_losses == pytest.approx(reference_losses, rel=1e-5)

    dist2 = MetricLoss(tokenizer, "dist2", {"alpha": 0.5})
    update, losses = train_trl(demo_model_dir, tmp_path, "trl_dist2", dist2)
    assert all(math.isfinite(v) for v in losses)
    assert dist2.last_components["kl"] > 0
    assert relative_difference(reference, update) > 1e-3  # the metric term changed the step
