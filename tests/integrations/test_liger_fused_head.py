"""Liger kernels + the fused head: Liger's RMSNorm / RoPE / SwiGLU stay on, the head is ours.

Liger's fused linear cross-entropy only skips the logits when labels reach the model; HF's
Trainer pops ``labels`` when ``compute_loss_func`` is set, so Liger's forward calls
``self.lm_head(hidden_states)`` — which the bypass turns into the hidden states. This checks, on
a GPU (Liger's kernels are Triton), that a Liger-patched Qwen2 / Llama trained through the
bypass gives the loss and every parameter gradient of the plain model on the logits path.
Skipped without CUDA or ``liger-kernel``.
"""

from __future__ import annotations

import pytest
import torch

from metricsft import MetricLoss
from metricsft.head_bypass import HiddenStateHead

liger = pytest.importorskip("liger_kernel.transformers")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="Liger's kernels need a GPU")


def tiny(family: str, vocab: int):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    config_class, model_class = {"qwen2": (Qwen2Config, Qwen2ForCausalLM), "llama": (LlamaConfig, LlamaForCausalLM)}[family]
    config = config_class(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    torch.manual_seed(0)
    return model_class(config).cuda().train()


def step(model, loss_fn, ids, labels, head=None):
    model.zero_grad(set_to_none=True)
    with head.bypassed() if head is not None else torch.enable_grad():
        loss = loss_fn(model(input_ids=ids), labels, num_items_in_batch=int((labels[:, 1:] != -100).sum()), head=head)
    loss.backward()
    return float(loss), {n: p.grad.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("family", ["qwen2", "llama"])
def test_liger_patched_model_with_fused_head_equals_plain_logits_path(family, qwen2_tokenizer):
    import copy

    vocab = 151_936
    plain = tiny(family, vocab)
    patched = copy.deepcopy(plain)
    getattr(liger, f"apply_liger_kernel_to_{family}")(model=patched)  # rope, rms_norm, swiglu, fused linear CE
    assert "Liger" in repr(patched.model.norm), "Liger did not patch the model"
    loss_fn = MetricLoss(qwen2_tokenizer, "ntil", {"gumbel": False})
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 20000, (2, 256), generator=gen)
    digits = torch.tensor([qwen2_tokenizer.convert_tokens_to_ids(d) for d in "0123456789"])
    ids[:, 200::3] = digits[torch.randint(0, 10, ids[:, 200::3].shape, generator=gen)]
    labels = torch.full_like(ids, -100)
    labels[:, 192:] = ids[:, 192:]
    ids, labels = ids.cuda(), labels.cuda()
    ref_loss, ref_grads = step(plain, loss_fn, ids, labels)
    loss, grads = step(patched, loss_fn, ids, labels, HiddenStateHead(patched))
    assert float(loss_fn.last_components["metric_term"]) > 0
    # Liger's kernels are not bit-identical to the eager modules: fp32, but reordered reductions.
    assert loss == pytest.approx(ref_loss, rel=1e-4)
    for name, ref in ref_grads.items():
        difference = float((grads[name] - ref).norm() / ref.norm().clamp_min(1e-30))
        assert difference <= 1e-3, f"{name}: relative difference {difference:.2e}"
