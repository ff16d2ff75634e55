"""Answers of a trained model on the held-out rows, written as LLaMA-Factory's predictions file:
greedy (`write_predictions`) and minimum-Bayes-risk over sampled answers (`write_mbr_predictions`).

Prompts are encoded by LLaMA-Factory's own template object (the one training used), so the model sees
exactly the training prompt format; the output has LLaMA-Factory's ``generated_predictions.jsonl``
columns (``prompt``, ``predict``, ``label``) and is scored by `metricsft score`. This replaces
LLaMA-Factory's ``do_predict`` (same rows, same greedy decoding), which on a shared 2-core CPU spent
~20-60 s per run on its BLEU/ROUGE metrics and per-batch overheads for a few hundred short answers.

>>> write_predictions(Path("run/model"), rows, Path("run/generated_predictions.jsonl"), "default", 48)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any


@functools.lru_cache(maxsize=1)
def _model(model_dir: Path, template_name: str) -> tuple[Any, Any, Any]:
    """The trained model, its tokenizer and LLaMA-Factory's template; kept for the run's second (MBR) decoding."""
    import torch
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template_name))
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval(), tokenizer, template


def _load(model_dir: Path, rows: list[dict[str, Any]], template_name: str) -> tuple[Any, Any, list[tuple[list[int], str]]]:
    """The trained model, its tokenizer and each row's (prompt ids, gold answer) as training encoded them."""
    model, tokenizer, template = _model(model_dir, template_name)
    prompts = []
    for row in rows:
        user, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        prompt_ids, _ = template.encode_oneturn(tokenizer, [{"role": "user", "content": user},
                                                            {"role": "assistant", "content": answer}])
        prompts.append((prompt_ids, answer))
    return model, tokenizer, prompts


def _answers(model: Any, tokenizer: Any, prompts: list[tuple[list[int], str]], max_new_tokens: int, batch_size: int,
             samples: int = 0, seed: int = 0) -> list[list[str]]:
    """Per prompt: [the greedy answer] (``samples`` = 0) or ``samples`` answers sampled at temperature 1."""
    import torch

    pad = tokenizer.pad_token_id
    sampling = {"do_sample": True, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "num_return_sequences": samples} \
        if samples else {"do_sample": False}
    per_prompt = max(samples, 1)
    special = set(tokenizer.all_special_ids)
    if samples:
        torch.manual_seed(seed)  # one seeded stream for the whole eval set: reruns draw the same samples
    rows_per_call = max(1, batch_size // per_prompt)  # batch_size counts generated sequences
    answers = []
    for start in range(0, len(prompts), rows_per_call):
        chunk = prompts[start:start + rows_per_call]
        width = max(len(ids) for ids, _ in chunk)
        # Left padding: every prompt ends where generation starts.
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids, _ in chunk])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in chunk])
        with torch.no_grad():
            generated = model.generate(input_ids=input_ids, attention_mask=attention, max_new_tokens=max_new_tokens,
                                       eos_token_id=tokenizer.eos_token_id, pad_token_id=pad, **sampling)
        texts = [_decode(tokenizer, special, ids) for ids in generated[:, width:].tolist()]
        answers += [texts[i:i + per_prompt] for i in range(0, len(texts), per_prompt)]
    return answers


def _decode(tokenizer: Any, special: set[int], ids: list[int]) -> str:
    """``tokenizer.decode(ids, skip_special_tokens=True)``, fast: transformers' Python tokenizers (ByT5 here)
    rebuild the special-id list for every token they skip, which made decoding 1,600 sampled answers take
    ~4 minutes; filtering with one precomputed set gives the same text."""
    return tokenizer.decode([i for i in ids if i not in special], skip_special_tokens=False)


def _write(out_file: Path, tokenizer: Any, prompts: list[tuple[list[int], str]], predicted: list[str]) -> Path:
    lines = [json.dumps({"prompt": tokenizer.decode(ids, skip_special_tokens=False), "predict": text, "label": answer},
                        ensure_ascii=False) for (ids, answer), text in zip(prompts, predicted)]
    out_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_file


def write_predictions(model_dir: Path, rows: list[dict[str, Any]], out_file: Path, template_name: str,
                      max_new_tokens: int, batch_size: int = 256) -> Path:
    """Greedy answers as LLaMA-Factory's ``generated_predictions.jsonl``."""
    model, tokenizer, prompts = _load(model_dir, rows, template_name)
    answers = _answers(model, tokenizer, prompts, max_new_tokens, batch_size)
    return _write(out_file, tokenizer, prompts, [texts[0] for texts in answers])


def write_mbr_predictions(model_dir: Path, rows: list[dict[str, Any]], out_file: Path, template_name: str,
                          max_new_tokens: int, batch_size: int, samples: int, seed: int, task: str, rule: str,
                          family: str) -> Path:
    """Minimum-Bayes-risk answers: ``samples`` answers per row at temperature 1, reduced to one by
    `metricsft eval --decode mbr`'s decision rule ``rule`` for ``task`` (e.g. the lower median of the
    numbers, the medoid box); the samples of every row go to ``<out_file>.samples.jsonl``."""
    from metricsft.eval.decoding.task_rules import mbr_rule
    from metricsft.templates import get_codec

    model, tokenizer, prompts = _load(model_dir, rows, template_name)
    answers = _answers(model, tokenizer, prompts, max_new_tokens, batch_size, samples=samples, seed=seed)
    _, decide = mbr_rule(task, rule)
    codec = get_codec(family)
    decisions = [decide(texts, row, codec) for texts, row in zip(answers, rows)]
    with out_file.with_suffix(".samples.jsonl").open("w", encoding="utf-8") as handle:
        for row, texts, decision in zip(rows, answers, decisions):
            handle.write(json.dumps({"id": row["id"], "samples": texts, "chosen": decision.chosen_sample,
                                     "parsed": decision.parsed, "spread": decision.spread}, default=str) + "\n")
    return _write(out_file, tokenizer, prompts, [decision.text for decision in decisions])
