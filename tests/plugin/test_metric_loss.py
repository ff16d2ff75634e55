"""MetricLoss as a Hugging Face compute_loss_func, on a real (tiny, random) Llama model."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from metricsft import MetricLoss
from tests.plugin.conftest import TEXTS, encode_batch


@pytest.fixture(scope="module")
def tiny_llama(llama3_tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(llama3_tokenizer) + 64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
    )
    return LlamaForCausalLM(config).eval()


def batch(tokenizer):
    labels = encode_batch(tokenizer, TEXTS, prompt_len=3)
    input_ids = labels.clamp_min(0)
    return input_ids, labels


def test_ce_equals_the_models_own_loss(tiny_llama, llama3_tokenizer):
    """Shifting happens exactly once: MetricLoss('ce') == transformers' causal-LM loss."""
    input_ids, labels = batch(llama3_tokenizer)
    own = tiny_llama(input_ids=input_ids, labels=labels).loss
    outputs = tiny_llama(input_ids=input_ids)
    ours = MetricLoss(llama3_tokenizer, "ce")(outputs, labels)
    assert float(ours) == pytest.approx(float(own), rel=1e-6)
    num_items = int((labels[:, 1:] != -100).sum())
    own_sum = tiny_llama(input_ids=input_ids, labels=labels, num_items_in_batch=torch.tensor(num_items * 2)).loss
    assert float(MetricLoss(llama3_tokenizer, "ce")(outputs, labels, num_items_in_batch=num_items * 2)) == pytest.approx(float(own_sum), rel=1e-6)


@pytest.mark.parametrize("loss", ["ntil", "dist2", "emd", "ntl_mse", "ntl_was"])
def test_components_exposed_and_backward_reaches_the_model(tiny_llama, llama3_tokenizer, loss):
    input_ids, labels = batch(llama3_tokenizer)
    loss_fn = MetricLoss(llama3_tokenizer, loss)
    tiny_llama.zero_grad()
    value = loss_fn(tiny_llama(input_ids=input_ids), labels)
    value.backward()
    comps = loss_fn.last_components
    assert {"ce", "metric_term", "metric_tokens", "numbers"} <= set(comps)
    assert float(comps["metric_term"]) > 0 and float(comps["metric_tokens"]) > 0
    assert float(value) == pytest.approx(float(comps["ce"] + comps["metric_term"]), rel=1e-6)
    assert all(not c.requires_grad for c in comps.values())
    assert tiny_llama.lm_head.weight.grad is not None and torch.isfinite(tiny_llama.lm_head.weight.grad).all()


def test_unknown_names_list_the_valid_ones(llama3_tokenizer):
    with pytest.raises(ValueError, match=r"^unknown metric_loss 'ntl'; choose one of: ce, emd, ntil, dist2, .*; did you mean 'ntil'\?$"):
        MetricLoss(llama3_tokenizer, "ntl")
    with pytest.raises(ValueError, match=r"unknown metric_loss_args \['lambda'\] for metric_loss 'ntil'; valid: \['lam'"):
        MetricLoss(llama3_tokenizer, "ntil", {"lambda": 0.3})
    with pytest.raises(ValueError, match="normalize must be one of"):
        MetricLoss(llama3_tokenizer, "dist2", {"normalize": "partial"})
    with pytest.raises(ValueError, match="gumbel_tau must be > 0"):
        MetricLoss(llama3_tokenizer, "ntil", {"gumbel_tau": 0})


def test_missing_logits_is_refused_not_plain_ce(llama3_tokenizer):
    loss_fn = MetricLoss(llama3_tokenizer, "ntil")
    with pytest.raises(ValueError, match="enable_liger_kernel"):
        loss_fn({"logits": None, "loss": torch.tensor(1.0)}, torch.zeros(1, 3, dtype=torch.long))


def test_describe_is_json_ready(llama3_tokenizer):
    import json

    described = MetricLoss(llama3_tokenizer, "dist2", {"alpha": 0.2, "metrics": ["digits"]}).describe()
    again = json.loads(json.dumps(described))
    assert again["loss"] == "dist2" and again["args"]["alpha"] == 0.2
    assert [g["size"] for g in again["vocabulary"]["groups"]] == [10, 100, 1000]
