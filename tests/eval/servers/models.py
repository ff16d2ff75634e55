"""A tiny randomly initialised Qwen2 text model on the real Qwen2 tokenizer, for fast backend tests.

Its answers are gibberish, but deterministic under greedy decoding, which is all the plumbing
tests (batching, caching, retries) need; quality checks use the real SmolLM2 asset.
"""

from __future__ import annotations

from pathlib import Path


def build_tiny_text_model(tokenizer_dir: Path, out_dir: Path) -> Path:
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    config = transformers.Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.Qwen2ForCausalLM(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
