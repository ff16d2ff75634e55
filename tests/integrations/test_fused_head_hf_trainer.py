"""FusedHeadTrainerMixin in a plain transformers.Trainer: the same SGD steps as the logits path.

The demo model (tiny Llama with a tied head) trains 2 steps on the bundled numbers with
`compute_loss_func=MetricLoss(...)` (logits path) and with the mixin (fused head); every
parameter's update and the logged losses must agree. TRL's SFTTrainer is refused by name.
"""

from __future__ import annotations

import pytest
import torch

from metricsft import MetricLoss
from metricsft.integrations.fused_head_trainer import FusedHeadTrainerMixin
from tests.integrations.test_hf_trainer import chats, flat_parameters, relative_difference, sgd_args

pytestmark = pytest.mark.slow


def train(model_dir, tmp_path, name, loss_fn, fused: bool, accumulation: int = 1):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ids = [tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"] for c in chats()]
    trainer_class = type("FusedTrainer", (FusedHeadTrainerMixin, Trainer), {}) if fused else Trainer
    before = flat_parameters(model)
    trainer = trainer_class(
        model=model, args=sgd_args(tmp_path, name, 4 // accumulation, accumulation),
        train_dataset=Dataset.from_dict({"input_ids": ids}),
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False), compute_loss_func=loss_fn,
    )  # fmt: skip
    trainer.train()
    if fused:
        assert trainer._metricsft_head is not None, "the fused head was not used"
    return flat_parameters(model) - before, [row["loss"] for row in trainer.state.log_history if "loss" in row]


@pytest.mark.parametrize(("loss", "args"), [("ntil", {"gumbel": False}), ("ce", {})])
def test_mixin_equals_the_logits_path(demo_model_dir, tmp_path, loss, args):
    from transformers import AutoTokenizer

    loss_fn = MetricLoss(AutoTokenizer.from_pretrained(demo_model_dir), loss, args)
    reference, reference_losses = train(demo_model_dir, tmp_path, "logits", loss_fn, fused=False)
    fused, fused_losses = train(demo_model_dir, tmp_path, "fused", loss_fn, fused=True, accumulation=2)
    assert reference.norm() > 0
    assert relative_difference(reference, fused) <= 1e-5
    assert fused_losses == pytest.approx(reference_losses, rel=1e-5)


def test_mixin_refuses_trl_sft_trainer(demo_model_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(demo_model_dir)
    trainer_class = type("FusedSFT", (FusedHeadTrainerMixin, SFTTrainer), {})
    config = SFTConfig(output_dir=str(tmp_path / "trl"), max_steps=1, report_to="none", use_cpu=True, max_length=128)
    trainer = trainer_class(
        model=AutoModelForCausalLM.from_pretrained(demo_model_dir), args=config, processing_class=tokenizer,
        train_dataset=Dataset.from_dict({"messages": chats()}), compute_loss_func=MetricLoss(tokenizer, "ntil"),
    )  # fmt: skip
    with pytest.raises(TypeError, match="cannot wrap TRL's SFTTrainer"):
        trainer.train()
