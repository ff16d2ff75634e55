"""Metric vocabularies built from real tokenizers."""

from __future__ import annotations

import json

import pytest
import torch

from metricsft import CodebookMetric, build_metric_vocab, metric_token_loss
from metricsft.vocab import entropy_matched_tau
from tests.plugin.conftest import encode_batch


def group_sizes(vocab):
    return {g.name: len(g) for g in vocab.groups}


def test_qwen2_has_ten_single_digits(qwen2_tokenizer):
    vocab = build_metric_vocab(qwen2_tokenizer)
    assert group_sizes(vocab)["digits/w1"] == 10
    group = vocab.groups[0]
    assert [qwen2_tokenizer.convert_ids_to_tokens(i) for i in group.token_ids] == [str(d) for d in range(10)]


def test_llama3_number_tokens_grouped_by_width_leading_zeros_distinct(llama3_tokenizer):
    vocab = build_metric_vocab(llama3_tokenizer)
    sizes = group_sizes(vocab)
    assert sizes["digits/w1"] == 10 and sizes["digits/w2"] == 100 and sizes["digits/w3"] == 1000
    w3 = next(g for g in vocab.groups if g.name == "digits/w3")
    tokens = dict(zip((llama3_tokenizer.convert_ids_to_tokens(i) for i in w3.token_ids), w3.values))
    assert tokens["007"] == 7.0 and tokens["500"] == 500.0 and w3.unit == 100.0
    w1 = next(g for g in vocab.groups if g.name == "digits/w1")
    assert llama3_tokenizer.convert_tokens_to_ids("7") in w1.token_ids
    assert llama3_tokenizer.convert_tokens_to_ids("007") not in w1.token_ids


def test_llama2_prefixed_digit_pieces_form_their_own_group(llama2_tokenizer):
    vocab = build_metric_vocab(llama2_tokenizer)
    plain = next(g for g in vocab.groups if g.name == "digits/w1")
    assert len(plain) == 10
    prefixed = [g for g in vocab.groups if "'▁'" in g.name]
    for group in prefixed:  # whatever '▁N' pieces exist never compete with bare digits
        assert not set(group.token_ids) & set(plain.token_ids)
        assert all(llama2_tokenizer.convert_ids_to_tokens(i).startswith("▁") for i in group.token_ids)


def test_paligemma_loc_tokens(gemma_loc_tokenizer):
    vocab = build_metric_vocab(gemma_loc_tokenizer, metrics=["digits", "loc"])
    loc = next(g for g in vocab.groups if g.name == "loc")
    assert len(loc) == 1024 and loc.values == [float(i) for i in range(1024)]
    assert gemma_loc_tokenizer.convert_ids_to_tokens(loc.token_ids[517]) == "<loc0517>"


def test_loc_metric_without_loc_tokens_is_a_clear_error(qwen2_tokenizer):
    with pytest.raises(ValueError, match="<loc0000>"):
        build_metric_vocab(qwen2_tokenizer, metrics=["loc"])


def test_unknown_metric_kind(qwen2_tokenizer):
    with pytest.raises(ValueError, match="valid: \\['digits', 'loc'\\]"):
        build_metric_vocab(qwen2_tokenizer, metrics=["digitz"])


def test_tokenizer_without_digits_is_refused():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"<unk>": 0, "a": 1, "1": 2}, unk_token="<unk>")), unk_token="<unk>"
    )
    with pytest.raises(ValueError, match=r"digit\(s\) \[0, 2, 3, 4, 5, 6, 7, 8, 9\].*unknown token '<unk>'"):
        build_metric_vocab(tok)


def test_value_map_from_json(tmp_path, toy_tokenizer):
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"x": 0, "y": 1, "▁a": 4}))
    vocab = build_metric_vocab(toy_tokenizer, metrics=[], value_map=str(path))
    (group,) = vocab.groups
    assert group.values == [0.0, 1.0, 4.0]
    labels = encode_batch(toy_tokenizer, ["x x y ▁a"], prompt_len=1)
    logits = torch.randn(1, 4, len(toy_tokenizer), requires_grad=True)
    out = metric_token_loss(logits, labels, vocab, "dist2")
    assert float(out.components["metric_tokens"]) == 3  # the shifted labels x y ▁a


def test_value_map_errors(tmp_path, toy_tokenizer):
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        build_metric_vocab(toy_tokenizer, value_map={"x": 1, "nope": 2})
    with pytest.raises(ValueError, match=r"value_map\['x'\]"):
        build_metric_vocab(toy_tokenizer, value_map={"x": "high"})
    with pytest.raises(FileNotFoundError, match="missing.json"):
        build_metric_vocab(toy_tokenizer, value_map=str(tmp_path / "missing.json"))


def test_entropy_matched_tau_reproduces_reference_entropy():
    digits = torch.arange(10, dtype=torch.float64)
    reference = (digits[:, None] - digits[None, :]) ** 2
    scaled = reference * 37.0  # same geometry, other units: tau must scale with it
    assert entropy_matched_tau(scaled, reference, 1.0) == pytest.approx(37.0, rel=1e-6)


def test_codebook_metric_soft_target_follows_embedding_distance(toy_tokenizer):
    ids = [toy_tokenizer.convert_tokens_to_ids(t) for t in ["x", "y", "=", ";"]]
    emb = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 0.0], [9.0, 9.0]])
    vocab = build_metric_vocab(toy_tokenizer, metrics=[], codebook=CodebookMetric(ids, emb, "mse", tau=0.5))
    labels = encode_batch(toy_tokenizer, ["x x"], prompt_len=1)  # target 'x' at the first label
    logits = torch.zeros(1, 2, len(toy_tokenizer), requires_grad=True)
    out = metric_token_loss(logits, labels, vocab, "dist2", {"normalize": "metric"})
    # Reference: KL(p_d || uniform over 4) with p_d = softmax(-mse/0.5), mse = |e_i - e_x|^2 / dim
    d = ((emb.double() - emb[0].double()) ** 2).sum(-1) / 2
    p = torch.softmax(-d / 0.5, -1)
    kl = (torch.special.xlogy(p, p) - p * torch.log(torch.tensor(0.25, dtype=torch.float64))).sum()
    assert float(out.components["kl"]) == pytest.approx(float(kl) / 1, rel=1e-5)
