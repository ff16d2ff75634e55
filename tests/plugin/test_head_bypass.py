"""The head bypass on real transformers model classes: hidden states out, exact loss and gradients.

The model-level check: one training step of a real (tiny, random) Llama-3 through the bypassed
head + fused loss gives the same loss and the same gradient for *every* parameter as the model's
own logits + MetricLoss; the embedding is tied to the head, so its gradient has both parts.
"""

from __future__ import annotations

import pytest
import torch

from metricsft import MetricLoss
from metricsft.head_bypass import FusedHeadUnsupported, HiddenStateHead, fused_head_unsupported, resolve_fused_head
from tests.plugin.conftest import TEXTS


@pytest.fixture(scope="module")
def tiny_llama(tiny_model_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_model_path("tiny_llama3")
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), AutoTokenizer.from_pretrained(path)


def batch(tokenizer):
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS[:3]]
    length = max(map(len, ids))
    input_ids = torch.full((len(ids), length), tokenizer.pad_token_id or 0)
    labels = torch.full((len(ids), length), -100)
    for row, seq in enumerate(ids):
        input_ids[row, : len(seq)] = torch.tensor(seq)
        labels[row, 3 : len(seq)] = torch.tensor(seq[3:])  # a 3-token "prompt" without labels
    return input_ids, (input_ids != (tokenizer.pad_token_id or 0)).long(), labels


def gradients(model, loss_fn, input_ids, attention_mask, labels, head=None):
    model.zero_grad()
    with head.bypassed() if head is not None else torch.enable_grad():
        outputs = model(input_ids=input_ids, attention_mask=attention_mask)
        loss = loss_fn(outputs, labels, num_items_in_batch=23, head=head)
    loss.backward()
    return float(loss.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("loss,args", [("ce", {}), ("dist2", {}), ("ntil", {"gumbel": False})])
def test_bypassed_training_step_equals_the_logits_path(tiny_llama, loss, args):
    model, tokenizer = tiny_llama
    model.train()
    assert model.config.tie_word_embeddings and fused_head_unsupported(model) is None
    loss_fn = MetricLoss(tokenizer, loss, args)
    input_ids, attention_mask, labels = batch(tokenizer)
    dense_loss, dense = gradients(model, loss_fn, input_ids, attention_mask, labels)
    fused_loss, fused = gradients(model, loss_fn, input_ids, attention_mask, labels, HiddenStateHead(model))
    assert fused_loss == pytest.approx(dense_loss, rel=1e-6)
    assert set(fused) == set(dense)
    for name, grad in dense.items():
        difference = float((fused[name] - grad).norm() / grad.norm().clamp_min(1e-30))
        assert difference <= 1e-5, f"{name}: relative difference {difference:.2e}"
    # The bypass is gone after the block: the model computes logits again.
    assert model(input_ids=input_ids).logits.shape[-1] == model.config.vocab_size


def test_bypassed_forward_returns_the_final_hidden_states(tiny_llama):
    model, tokenizer = tiny_llama
    input_ids, attention_mask, _ = batch(tokenizer)
    head = HiddenStateHead(model)
    with torch.no_grad(), head.bypassed():
        outputs = model(input_ids=input_ids, attention_mask=attention_mask)
        hidden = head.hidden_states_of(outputs)
    with torch.no_grad():
        expected = model.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    torch.testing.assert_close(hidden, expected, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="not return its output head's result"):
        head.hidden_states_of(outputs)  # outside the block there is nothing to vouch for


def gemma2_with_softcapping():
    from transformers import Gemma2Config, Gemma2ForCausalLM

    config = Gemma2Config(vocab_size=128, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                          num_attention_heads=2, num_key_value_heads=1, head_dim=8, final_logit_softcapping=30.0)
    return Gemma2ForCausalLM(config)


def test_logit_softcapping_is_refused_by_name_and_caught_at_runtime():
    model = gemma2_with_softcapping()
    reason = fused_head_unsupported(model)
    assert "Gemma2ForCausalLM" in reason and "final_logit_softcapping=30.0" in reason
    assert resolve_fused_head(model, "auto")[0] is None
    with pytest.raises(FusedHeadUnsupported, match="Gemma2ForCausalLM transforms its logits"):
        resolve_fused_head(model, True)
    # Even past the config check, the per-step check sees that the model changed the head's output.
    head = HiddenStateHead(model)
    with torch.no_grad(), head.bypassed():
        outputs = model(input_ids=torch.tensor([[1, 2, 3]]))
        with pytest.raises(RuntimeError, match="Gemma2ForCausalLM did not return"):
            head.hidden_states_of(outputs)


def test_peft_wrapped_head_is_refused(tiny_llama):
    from peft import LoraConfig, get_peft_model

    model, _ = tiny_llama
    import copy

    as_target = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["q_proj", "lm_head"]))
    assert "not a plain torch.nn.Linear" in fused_head_unsupported(as_target)
    saved = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["q_proj"], modules_to_save=["lm_head"]))
    assert "modules_to_save" in fused_head_unsupported(saved)
    plain_lora = get_peft_model(copy.deepcopy(model), LoraConfig(r=2, target_modules=["q_proj"]))
    assert fused_head_unsupported(plain_lora) is None
    assert resolve_fused_head(plain_lora, False)[0] is None  # the switch turns it off


def test_lora_model_through_the_bypass_equals_the_logits_path(tiny_llama):
    """PEFT calls the transformers model's forward directly: the per-step check must still pass."""
    import copy

    from peft import LoraConfig, get_peft_model

    base, tokenizer = tiny_llama
    model = get_peft_model(copy.deepcopy(base), LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    model.train()
    loss_fn = MetricLoss(tokenizer, "dist2")
    input_ids, attention_mask, labels = batch(tokenizer)
    dense_loss, dense = gradients(model, loss_fn, input_ids, attention_mask, labels)
    head = resolve_fused_head(model, "auto")[0]
    assert head is not None
    fused_loss, fused = gradients(model, loss_fn, input_ids, attention_mask, labels, head)
    assert fused_loss == pytest.approx(dense_loss, rel=1e-6)
    trained = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in name for name in trained)
    for name in trained:
        difference = float((fused[name] - dense[name]).norm() / dense[name].norm().clamp_min(1e-30))
        assert difference <= 1e-5, f"{name}: relative difference {difference:.2e}"
