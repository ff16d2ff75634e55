"""A tiny, randomly initialised Llama-style model with a self-built tokenizer, for CPU demos.

It needs no download: the byte-level BPE tokenizer is trained in a second on the bundled
`numbers_demo` dataset (digits split one per token, like Llama-2 / Qwen2), with the Llama-3 chat
special tokens so LLaMA-Factory's `llama3` template applies. It learns nothing useful; it
exists so that `metricsft train data_configs/examples/tiny_cpu_sft.yaml` runs end to end in a
minute on a laptop.

    python -m metricsft.integrations.demo_model .tiny/metricsft-demo-llama
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator, Sequence

LLAMA3_SPECIAL_TOKENS = (
    "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eot_id|>", "<|eom_id|>", "<|pad|>",
)  # fmt: skip
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def demo_dataset_path() -> Path:
    """The bundled `numbers_demo.json` (answers with sums, boxes and clock times)."""
    import metricsft.data_configs

    return Path(metricsft.data_configs.__file__).parent / "examples" / "numbers_demo.json"


def _texts(dataset: Path) -> Iterator[str]:
    for row in json.loads(dataset.read_text(encoding="utf-8")):
        for message in row["messages"]:
            yield message["content"]


def build_demo_tokenizer(vocab_size: int = 512):
    """Byte-level BPE over the demo texts, one token per digit, Llama-3 special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(LLAMA3_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_texts(demo_dataset_path()), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|pad|>",
    )
    fast.chat_template = LLAMA3_CHAT_TEMPLATE
    return fast


def build_demo_model(out_dir: str | Path, hidden_size: int = 64, layers: int = 2, seed: int = 0) -> Path:
    """Write tokenizer + tiny LlamaForCausalLM to `out_dir` and return it.

    >>> build_demo_model("/tmp/metricsft-demo-llama")   # doctest: +SKIP
    PosixPath('/tmp/metricsft-demo-llama')
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = build_demo_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="directory to write the model and tokenizer to")
    args = parser.parse_args(argv)
    path = build_demo_model(args.out_dir)
    print(f"tiny demo model written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
