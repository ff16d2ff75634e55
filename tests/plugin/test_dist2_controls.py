"""DIST2Loss's controls (one-hot / uniform targets) and the one-group reward-score vocabulary."""

from __future__ import annotations

import math

import pytest
import torch

from metricsft import MetricLoss, build_metric_vocab, metric_token_loss

from .conftest import encode_batch, random_logits


def dense_control_term(logits, labels, vocab, target: str, normalize: str) -> float:
    """sum over metric tokens of KL(target || p) by a loop over tokens (alpha = 1)."""
    group_of = {idx: g for g in vocab.groups for idx in g.token_ids}
    total = 0.0
    for b in range(labels.shape[0]):
        for t in range(labels.shape[1] - 1):
            y = int(labels[b, t + 1])
            if y not in group_of:
                continue
            members = group_of[y].token_ids
            z = logits[b, t].double()
            logq = (torch.log_softmax(z, -1)[members] if normalize == "full" else torch.log_softmax(z[members], -1)).tolist()
            if target == "onehot":
                total += -logq[members.index(y)]
            else:
                total += sum((1 / len(members)) * (math.log(1 / len(members)) - lq) for lq in logq)
    return total


@pytest.mark.parametrize("target", ["onehot", "uniform"])
@pytest.mark.parametrize("normalize", ["metric", "full"])
def test_control_targets_equal_dense_kl(llama3_tokenizer, target, normalize):
    vocab = build_metric_vocab(llama3_tokenizer)
    labels = encode_batch(llama3_tokenizer, ["scores 7, 15 and 3.5 then 1234", "none"])
    logits = random_logits(labels, len(llama3_tokenizer)).detach().double()
    args = {"alpha": 1.0, "target": target, "normalize": normalize}
    out = metric_token_loss(logits, labels, vocab, "dist2", args, num_items_in_batch=1)
    assert float(out.components["kl"]) == pytest.approx(dense_control_term(logits, labels, vocab, target, normalize), rel=1e-9)


def test_score_range_is_one_ordered_group_on_llama3(llama3_tokenizer):
    loss = MetricLoss(llama3_tokenizer, "dist2", {"score_range": [0, 20]})
    groups = {g["name"]: g["size"] for g in loss.describe()["vocabulary"]["groups"]}
    assert groups["scores/0-20"] == 21
    scores = next(g for g in loss.vocab.groups if g.name.startswith("scores"))
    nine, ten = llama3_tokenizer.convert_tokens_to_ids(["9", "10"])
    assert nine in scores.token_ids and ten in scores.token_ids  # "9" and "10" now compete
    for group in loss.vocab.groups:
        if group is not scores:
            assert not set(group.token_ids) & set(scores.token_ids)
    # The DIST2 target of label "15" spreads over the neighbouring scores.
    labels = encode_batch(llama3_tokenizer, ["Score: 15"], prompt_len=1)
    logits = random_logits(labels, len(llama3_tokenizer)).detach()
    out = metric_token_loss(logits, labels, loss.vocab, "dist2", {"alpha": 1.0})
    assert float(out.components["metric_tokens"]) == 1.0 and float(out.components["kl"]) > 0


def test_score_range_refused_where_scores_are_spelled_digit_by_digit(qwen2_tokenizer):
    with pytest.raises(ValueError, match=r"score_range \[0, 20\]: the tokenizer has no single token for \[10, 11"):
        MetricLoss(qwen2_tokenizer, "dist2", {"score_range": [0, 20]})
    with pytest.raises(ValueError, match="score_range must be"):
        MetricLoss(qwen2_tokenizer, "dist2", {"score_range": [5]})
