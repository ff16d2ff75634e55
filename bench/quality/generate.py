"""Greedy answers of a trained model on the held-out rows, written as LLaMA-Factory's predictions file.

Prompts are encoded by LLaMA-Factory's own template object (the one training used), so the model sees
exactly the training prompt format; the output has LLaMA-Factory's ``generated_predictions.jsonl``
columns (``prompt``, ``predict``, ``label``) and is scored by `metricsft score`. This replaces
LLaMA-Factory's ``do_predict`` (same rows, same greedy decoding), which on a shared 2-core CPU spent
~20-60 s per run on its BLEU/ROUGE metrics and per-batch overheads for a few hundred short answers.

>>> write_predictions(Path("run/model"), rows, Path("run/generated_predictions.jsonl"), "default", 48)  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_predictions(model_dir: Path, rows: list[dict[str, Any]], out_file: Path, template_name: str,
                      max_new_tokens: int, batch_size: int = 256) -> Path:
    import torch
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template_name))
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    prompts = []
    for row in rows:
        user, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        prompt_ids, _ = template.encode_oneturn(tokenizer, [{"role": "user", "content": user},
                                                            {"role": "assistant", "content": answer}])
        prompts.append((prompt_ids, answer))
    pad = tokenizer.pad_token_id
    lines = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        width = max(len(ids) for ids, _ in chunk)
        # Left padding: every prompt ends where generation starts.
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids, _ in chunk])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids, _ in chunk])
        with torch.no_grad():
            generated = model.generate(input_ids=input_ids, attention_mask=attention, do_sample=False,
                                       max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                                       pad_token_id=pad)
        for (ids, answer), out in zip(chunk, generated[:, width:].tolist()):
            lines.append(json.dumps({
                "prompt": tokenizer.decode(ids, skip_special_tokens=False),
                "predict": tokenizer.decode(out, skip_special_tokens=True),
                "label": answer,
            }, ensure_ascii=False))
    out_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out_file
