"""Number spans: vectorised metricsft.spans against the loop reference, and each rule by example."""

from __future__ import annotations

from decimal import Decimal

import pytest
import torch

from metricsft import build_metric_vocab, number_spans
from tests.plugin.conftest import REAL_TOKENIZERS, TEXTS, encode_batch
from tests.plugin.reference import ref_numbers


def numbers_of(spans, labels):
    """{first position: (value as Decimal-rounded float, digit count)} from metricsft's spans."""
    ids = spans.number_id.tolist()
    out = {}
    for pos, nid in enumerate(ids):
        if nid >= 0 and nid not in {v[2] for v in out.values()}:
            out[pos] = (float(spans.number_value[nid]), int(spans.number_digits[nid]), nid)
    return {p: v[:2] for p, v in out.items()}


def reference_of(tokenizer, labels, starts):
    out = {}
    for row in range(labels.shape[0]):
        tokens = [None if i == -100 else tokenizer.convert_ids_to_tokens(i) for i in labels[row].tolist()]
        for n in ref_numbers(tokens, starts[row]):
            out[row * labels.shape[1] + n.positions[0]] = (float(n.value), sum(n.widths))
    return out


@pytest.mark.parametrize("tok_name", REAL_TOKENIZERS)
def test_spans_match_reference_on_real_tokenizers(tok_name, request):
    tokenizer = request.getfixturevalue(tok_name)
    vocab = build_metric_vocab(tokenizer)
    labels = encode_batch(tokenizer, TEXTS, prompt_len=0)
    spans = number_spans(labels, vocab)
    starts = [[t == 0 for t in range(labels.shape[1])] for _ in range(labels.shape[0])]
    ours = numbers_of(spans, labels)
    ref = reference_of(tokenizer, labels, starts)
    assert ours.keys() == ref.keys()
    for pos in ref:
        assert ours[pos][1] == ref[pos][1]
        assert ours[pos][0] == pytest.approx(ref[pos][0], rel=1e-12)


def values_in(tokenizer, text, position_ids=None, mask=None):
    vocab = build_metric_vocab(tokenizer)
    labels = encode_batch(tokenizer, [text], prompt_len=0)
    if mask is not None:
        labels[0, mask] = -100
    spans = number_spans(labels, vocab, position_ids)
    seen, out = set(), []
    for nid in spans.number_id.tolist():  # flat [B*T]; one row here
        if nid >= 0 and nid not in seen:
            seen.add(nid)
            # 12 significant digits: the value is rebuilt in float64 from scaled digits
            out.append((float(f"{float(spans.number_value[nid]):.12g}"), int(spans.number_digits[nid])))
    return out


# text -> [(value, digit count)] of each number, the same on every real tokenizer
NUMBER_RULES = {
    "decimal is one number, place value continues": ("x 3.015 y", [(3.015, 4)]),
    "minus sign makes a negative": ("t = -42 ok", [(-42.0, 2)]),
    "a range is two numbers, not a negative": ("at 2-55 ok", [(2.0, 1), (55.0, 2)]),
    "leading zeros count as digits": ("agent 007 here", [(7.0, 3)]),
    "a dotted chain is not a decimal": ("v 1.2.3 ok", [(1.0, 1), (2.0, 1), (3.0, 1)]),
}


@pytest.mark.parametrize("tok_name", REAL_TOKENIZERS)
@pytest.mark.parametrize("rule", list(NUMBER_RULES))
def test_number_rules_on_real_tokenizers(tok_name, rule, request):
    text, expected = NUMBER_RULES[rule]
    assert values_in(request.getfixturevalue(tok_name), text) == expected


def test_multi_digit_tokens_llama3(llama3_tokenizer):
    tokens = llama3_tokenizer.tokenize("12345")
    assert tokens == ["123", "45"]  # the fact the test relies on
    vocab = build_metric_vocab(llama3_tokenizer)
    labels = encode_batch(llama3_tokenizer, ["12345 and 3.015"], prompt_len=0)
    spans = number_spans(labels, vocab)
    assert spans.place[:2].tolist() == [2, 0]
    assert spans.width[:2].tolist() == [3, 2]
    assert spans.digits_right[:2].tolist() == [4, 1]
    assert values_in(llama3_tokenizer, "12345 and 3.015") == [(12345.0, 5), (3.015, 4)]


def test_space_prefixed_digit_starts_a_new_number(toy_tokenizer):
    # "1 2 ▁3 4": '▁3' carries a space, so the run 12 ends and 34 begins.
    assert values_in(toy_tokenizer, "1 2 ▁3 4") == [(12.0, 2), (34.0, 2)]
    # '▁-' is a minus sign too
    assert values_in(toy_tokenizer, "x ▁- 4 2") == [(-42.0, 2)]


def test_number_cut_by_ignore_index(qwen2_tokenizer):
    ids = qwen2_tokenizer.tokenize(" 12345")
    assert ids[-5:] == ["1", "2", "3", "4", "5"]
    masked = len(ids) - 3  # mask the '3'
    assert values_in(qwen2_tokenizer, " 12345", mask=[masked]) == [(12.0, 2), (45.0, 2)]


def test_packed_sequence_boundary_splits_numbers(qwen2_tokenizer):
    labels = encode_batch(qwen2_tokenizer, ["1234"], prompt_len=0)
    assert labels.shape[1] == 4
    position_ids = torch.tensor([[0, 1, 0, 1]])  # a second packed sequence starts at '3'
    vocab = build_metric_vocab(qwen2_tokenizer)
    spans = number_spans(labels, vocab, position_ids)
    assert spans.number_id.tolist() == [0, 0, 1, 1]  # flat [B*T]
    assert float(spans.number_value[0]) == 12.0 and float(spans.number_value[1]) == 34.0


def test_rows_do_not_merge(qwen2_tokenizer):
    labels = encode_batch(qwen2_tokenizer, ["12", "34"], prompt_len=0)
    spans = number_spans(labels, build_metric_vocab(qwen2_tokenizer))
    assert spans.number_id.tolist() == [0, 0, 1, 1]


def test_sixty_digit_run_is_exact_relative_to_its_top_place(qwen2_tokenizer):
    digits = "123456789" * 6 + "987654"
    labels = encode_batch(qwen2_tokenizer, [digits], prompt_len=0)
    spans = number_spans(labels, build_metric_vocab(qwen2_tokenizer))
    assert int(spans.number_digits[0]) == 60 and int(spans.number_top[0]) == 59
    assert float(spans.number_scaled[0]) == pytest.approx(float(Decimal(digits) / Decimal(10) ** 59), rel=1e-12)
    assert torch.isfinite(spans.number_value[0])
