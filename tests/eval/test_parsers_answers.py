"""GSM8k / arithmetic answer extraction, checked on real model solutions and hand-worked cases."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from metricsft.eval.parsers.answers import (
    final_rational,
    flexible_extract,
    normalize_answer,
    numeric_equal,
    strict_match,
    to_fraction,
)

RUNS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def gsm8k_pairs(shared_data_dir) -> list[tuple[dict, dict]]:
    gsm8k = (shared_data_dir or Path("<absent>")) / "gsm8k"
    solutions, test = gsm8k / "example_model_solutions.jsonl", gsm8k / "test.jsonl"
    if not (solutions.exists() and test.exists()):
        pytest.skip(f"GSM8k real data not present (shared data dir: {shared_data_dir})")
    pairs = list(zip(_read_jsonl(solutions), _read_jsonl(test), strict=True))
    assert all(sol["question"] == ref["question"] for sol, ref in pairs), "files are not row-aligned"
    return pairs


@pytest.mark.parametrize("run", RUNS)
def test_strict_match_reproduces_published_labels_row_for_row(gsm8k_pairs, run):
    # OpenAI's solutions end in "A: N" rather than "#### N": the strict rule with that anchor, commas
    # (and '$', trailing '.') removed, exact string compare with the "#### " gold of test.jsonl.
    disagreements = []
    for index, (solution, reference) in enumerate(gsm8k_pairs):
        gold = strict_match(reference["answer"])
        assert gold.ok, f"test.jsonl row {index} has no '#### ' answer"
        predicted = strict_match(solution[run]["solution"], anchor="A: ")
        correct = predicted.ok and predicted.value == gold.value
        if correct != solution[run]["is_correct"]:
            disagreements.append((index, predicted.value, gold.value, solution[run]["is_correct"]))
    assert disagreements == []
    # the labels are not degenerate: both outcomes occur many times
    labels = [solution[run]["is_correct"] for solution, _ in gsm8k_pairs]
    assert 100 < sum(labels) < len(labels) - 100


def test_normalisation_is_what_makes_the_labels_reproducible(gsm8k_pairs):
    # Without removing commas, "A: 1,600" no longer equals the gold "1600": the labels then disagree.
    import re

    raw = re.compile(r"A: (-?[0-9.,]+)")
    mismatches = 0
    for solution, reference in gsm8k_pairs:
        for run in RUNS:
            match = raw.search(solution[run]["solution"])
            naive = match is not None and match.group(1) == strict_match(reference["answer"]).value
            mismatches += naive != solution[run]["is_correct"]
    assert mismatches > 0


@pytest.mark.parametrize("run", RUNS)
def test_flexible_extract_and_numeric_compare_agree_with_labels(gsm8k_pairs, run):
    for index, (solution, reference) in enumerate(gsm8k_pairs):
        gold = strict_match(reference["answer"]).value
        flexible = flexible_extract(solution[run]["solution"])
        assert (flexible.value == gold) == solution[run]["is_correct"], f"row {index}"
        assert numeric_equal(strict_match(solution[run]["solution"], anchor="A: ").value, gold) == solution[run][
            "is_correct"
        ], f"row {index}"


def test_strict_takes_first_match_and_normalises():
    assert strict_match("#### 1,234.\nlater #### 5").value == "1234"
    assert strict_match("#### -7").value == "-7"
    assert strict_match("####7").reason is not None  # the space after #### is part of the rule
    assert not strict_match("The answer is 7").ok


def test_flexible_takes_last_number_like_run():
    # (-?[$0-9.,]{2,}) wins where it matches; single digits come from the second group
    assert flexible_extract("I have $12.50 and 3 apples").value == "3"
    assert flexible_extract("total: $1,050.").value == "1050"
    assert flexible_extract("answer -4").value == "-4"
    assert flexible_extract("so 18.").value == "18"
    assert not flexible_extract("no digits here").ok


def test_normalize_removes_only_one_trailing_dot():
    assert normalize_answer("5..") == "5."
    assert normalize_answer("$5") == "5"


def test_numeric_compare_and_fractions():
    assert numeric_equal("18.00", "18")
    assert numeric_equal("0.5", "1/2")
    assert not numeric_equal("18.01", "18")
    assert not numeric_equal("[invalid]", "18")
    assert to_fraction("-3/4") == Fraction(-3, 4)
    assert to_fraction("1/0") is None
    assert to_fraction("1e999999999") is None  # would take minutes to build; never accepted


def test_final_rational_for_arithmetic():
    assert final_rational("(-3/4) * 2 = -3/2").value == Fraction(-3, 2)
    assert final_rational("The answer is 12.").value == 12
    assert final_rational("= 1,000").value == 1000
    assert not final_rational("I cannot tell").ok


def test_numbers_beyond_the_digit_cap_are_reasons_not_exceptions():
    from metricsft.eval.parsers import parse_named_scores, parse_rating

    huge = "9" * 5000  # over Python's 4,300-digit int() limit
    assert to_fraction(huge) is None and to_fraction(f"1/{huge}") is None
    assert not numeric_equal(huge, huge)  # not a readable number, so never "equal"
    assert final_rational(f"so it is {huge}").reason.startswith("a number with 5000 digits")
    assert strict_match(f"#### {huge}").value == huge  # the harness's string rules need no conversion
    for parse in (parse_rating, parse_named_scores):
        assert parse(f"Rating: {huge}").reason == "a number with 5000 digits (parsers read at most 64)"
