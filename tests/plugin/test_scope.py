"""``metric_loss_args.scope``: the metric term sees only the chosen numbers, CE sees everything.

Each scope is checked on real tokenizers against the tokens a reader would pick by hand, and the
scoped term against the unscoped term on labels where the out-of-scope part is masked."""

from __future__ import annotations

import pytest
import torch

from metricsft import MetricLoss, build_metric_vocab, metric_token_loss
from metricsft.losses.functional import shift_for_next_token
from metricsft.losses.targets import gather_metric_targets
from metricsft.scope import resolve_scope

from .conftest import encode_batch, random_logits

GSM8K = "Step 1: 3 + 4 = 7\nStep 2: 7 * 2 = 14\n#### 14"
BOX = "the cat <|box_start|>(12,34),(560,780)<|box_end|> and 3 more cats"


def metric_text(tokenizer, labels, scope_spec) -> list[str]:
    """The label tokens that the scoped metric term sees, decoded (one string per row)."""
    vocab = build_metric_vocab(tokenizer, scope=resolve_scope(tokenizer, scope_spec))
    shifted, _ = shift_for_next_token(labels)
    rows = gather_metric_targets(shifted, vocab).rows
    flat = shifted.reshape(-1)
    per_row = [[] for _ in range(labels.shape[0])]
    for r in rows.tolist():
        per_row[r // labels.shape[1]].append(int(flat[r]))
    return [tokenizer.decode(ids) for ids in per_row]


@pytest.mark.parametrize("tok", ["qwen2_tokenizer", "llama3_tokenizer"])
@pytest.mark.parametrize(("scope", "expected"), [("all", "13472721414"), ("last", "14"), ({"after": "####"}, "14")])
def test_gsm8k_scopes(request, tok, scope, expected):
    tokenizer = request.getfixturevalue(tok)
    labels = encode_batch(tokenizer, [GSM8K], prompt_len=0)
    labels = torch.cat([torch.full((1, 1), -100), labels], 1)  # a prompt token, so every label survives the shift
    assert metric_text(tokenizer, labels, scope) == [expected]


def test_box_scope_on_qwen2(qwen2_tokenizer):
    labels = torch.cat([torch.full((1, 1), -100), encode_batch(qwen2_tokenizer, [BOX], prompt_len=0)], 1)
    inside = {"inside": ["<|box_start|>", "<|box_end|>"]}
    assert metric_text(qwen2_tokenizer, labels, inside) == ["123456078" + "0"]
    assert metric_text(qwen2_tokenizer, labels, "all") == ["12345607803"]


def test_last_is_per_response_and_packed_sequence(llama3_tokenizer):
    first = llama3_tokenizer("a 5 b 17", add_special_tokens=False)["input_ids"]
    second = llama3_tokenizer("c 2 d 940", add_special_tokens=False)["input_ids"]
    # one row: prompt, response 1, prompt, response 2 (two supervised spans)
    labels = torch.tensor([[-100] + first + [-100, -100] + second])
    assert metric_text(llama3_tokenizer, labels, "last") == ["17940"]


@pytest.mark.parametrize("loss,args", [("ntil", {"gumbel": False}), ("dist2", {}), ("emd", {"sigma": 0.2})])
def test_scoped_term_equals_the_term_on_masked_labels(qwen2_tokenizer, loss, args):
    labels = encode_batch(qwen2_tokenizer, [GSM8K, "x #### 250 then 7", "no numbers"], prompt_len=1)
    logits = random_logits(labels, len(qwen2_tokenizer)).detach().double()
    scoped = MetricLoss(qwen2_tokenizer, loss, {**args, "scope": {"after": "####"}})
    out = metric_token_loss(logits, labels, scoped.vocab, loss, args, num_items_in_batch=50)
    # Reference: hide everything up to and including "####" from the (unscoped) term.
    masked = labels.clone()
    for row in range(labels.shape[0]):
        ids = labels[row].tolist()
        marker = [i for i, idx in enumerate(ids) if idx != -100 and "####" in qwen2_tokenizer.decode([idx])]
        masked[row, : (marker[0] + 1 if marker else len(ids))] = -100
    reference = metric_token_loss(logits, masked, build_metric_vocab(qwen2_tokenizer), loss, args, num_items_in_batch=50)
    assert float(out.components["metric_term"]) == pytest.approx(float(reference.components["metric_term"]), rel=1e-12)
    plain = metric_token_loss(logits, labels, build_metric_vocab(qwen2_tokenizer), loss, args, num_items_in_batch=50)
    assert float(out.components["ce"]) == float(plain.components["ce"])  # CE is untouched by the scope
    assert float(out.components["metric_term"]) < float(plain.components["metric_term"])


@pytest.mark.parametrize("spec", ["first", {"after": ""}, {"inside": ["<|box_start|>"]}, {"before": "x"}])
def test_bad_scope_names_the_field(qwen2_tokenizer, spec):
    with pytest.raises(ValueError, match="metric_loss_args.scope"):
        MetricLoss(qwen2_tokenizer, "ntil", {"scope": spec})


def test_describe_shows_the_scope(qwen2_tokenizer):
    loss = MetricLoss(qwen2_tokenizer, "ntil", {"scope": {"after": "####"}})
    assert loss.describe()["vocabulary"]["scope"] == {"after": "####"}
