"""The benchmark's model: a small Llama (`LlamaForCausalLM`) initialised at random, trained from scratch.

Why from scratch: fine-tuning a pretrained model (SmolLM2-135M, the first version of this benchmark)
for the few steps a shared CPU allows left it worse than trivial baselines, so the losses were
compared in a regime where nothing was learned. A 0.33 M-parameter model (hidden 96, 2 layers) sees
16,000 examples per run (500 steps of 32); a run takes ~30-80 s on one core, so the 110 runs of the grid
fit in about an hour on 2 cores (see README.md for whether CE learned each task at that budget).

Why the ByT5 byte tokenizer (transformers' ``ByT5Tokenizer``, 384 tokens, the vocabulary of Google's
ByT5 models; it needs no files): on CPU the output layer dominates the step time, and at this model size
a step with the Llama-2 vocabulary (32,000) cost about 5x one with 384 tokens (measured: 0.36 s vs
0.08 s per step, batch 16 x 40 tokens, one thread). Digits are single
tokens in both, so numbers are spelled digit by digit exactly as with Llama-2 / Qwen2, and `metricsft`
finds the same ten-token digit group. (Special strings such as ``<|box_start|>`` would be plain bytes here; see `tasks.box_answer`.)

Every seed gets its own initial weights (`init-seedN`), shared by all losses of that seed, so the
comparison between losses is paired: same init, same data order, only the loss differs.

>>> path = build_init_model(Path("/tmp/q"), seed=0)          # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LLAMAFACTORY_TEMPLATE = "default"  # "Human: {prompt}</s>\nAssistant:{answer}</s>": no special tokens needed
VERSION = "1"


@dataclass(frozen=True)
class ModelSize:
    hidden: int = 96
    layers: int = 2
    heads: int = 4
    intermediate: int = 384


def build_init_model(cache_dir: Path, seed: int, size: ModelSize = ModelSize()) -> Path:
    """`cache_dir/init-seed{seed}`: tokenizer + randomly initialised Llama (built once per seed and size)."""
    import torch
    from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM

    target = cache_dir / f"init-seed{seed}"
    marker = target / "bench_model.json"
    identity = {"version": VERSION, "seed": seed, **size.__dict__}
    if marker.exists() and json.loads(marker.read_text()) == identity:
        return target
    tokenizer = ByT5Tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=size.hidden, intermediate_size=size.intermediate,
        num_hidden_layers=size.layers, num_attention_heads=size.heads, num_key_value_heads=size.heads,
        max_position_embeddings=256, bos_token_id=None, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    tmp = cache_dir / f".init-seed{seed}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "bench_model.json").write_text(json.dumps(identity) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    return target


def parameter_count(model_dir: Path) -> int:
    from transformers import AutoModelForCausalLM

    return sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model_dir).parameters())
