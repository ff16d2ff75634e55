"""HF backend on CPU with real model classes: tiny random VLMs with images, real SmolLM2, a LoRA adapter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metricsft.eval.backends import Request
from metricsft.eval.backends.chat import decode_answer
from metricsft.eval.backends.hf import HFBackend


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """Three images of different sizes and contents (sizes differ so batching must pad vision inputs)."""
    from PIL import Image

    folder, rng = tmp_path_factory.mktemp("images"), np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(48, 64), (90, 30), (40, 40)]):
        path = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def same_question_other_images(paths: list[str]) -> list[Request]:
    return [Request(f"r{i}", [{"role": "user", "content": "<image>Describe the picture."}], images=[p], max_new_tokens=8)
            for i, p in enumerate(paths)]


@pytest.mark.parametrize("asset, mode", [("tiny_qwen2_vl", "parts"), ("tiny_llava", "string"), ("tiny_paligemma", "raw")])
def test_vision_batches_equal_one_by_one(tiny_model_path, images, asset, mode):
    backend = HFBackend(str(tiny_model_path(asset)), batch_size=3)
    assert backend.is_vision and backend.renderer.mode == mode
    requests = same_question_other_images(images)
    batched = dict(backend.generate(requests))
    backend.batch_size = 1
    assert dict(backend.generate(requests)) == batched
    assert backend.describe()["prompt_mode"] == mode


def test_each_row_gets_its_own_image(tiny_model_path, images):
    # The tiny LLaVA is image-sensitive: the same question on other images gives other answers, so a
    # batch that mixed up images between rows would not match the rows answered alone.
    backend = HFBackend(str(tiny_model_path("tiny_llava")), batch_size=3)
    requests = same_question_other_images(images)
    batched = dict(backend.generate(requests))
    assert len(set(batched.values())) == 3
    alone = {r.id: dict(backend.generate([r]))[r.id] for r in requests}
    assert alone == batched


def test_qwen2_vl_prompt_places_the_image_where_the_placeholder_is(tiny_model_path, images):
    backend = HFBackend(str(tiny_model_path("tiny_qwen2_vl")))
    request = Request("r", [{"role": "user", "content": "Look: <image> Where is the cat?"}], images=images[:1])
    prompt = backend.prompt_text(request)
    assert "Look: <|vision_start|><|image_pad|><|vision_end|> Where is the cat?" in prompt
    assert prompt.rstrip().endswith("<|im_start|>assistant")


def greedy_by_hand(model, tokenizer, prompt: str, steps: int, stop: set[int]) -> str:
    """Greedy decoding written out: full forward each step, argmax, stop at EOS (no generate, no cache)."""
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    new: list[int] = []
    with torch.inference_mode():
        for _ in range(steps):
            next_id = int(model(input_ids=ids).logits[0, -1].argmax())
            if next_id in stop:
                break
            new.append(next_id)
            ids = torch.cat([ids, torch.tensor([[next_id]])], dim=1)
    return tokenizer.decode(new, skip_special_tokens=False)


def test_smollm2_batched_left_padded_equals_greedy_by_hand(smollm2_path):
    backend = HFBackend(str(smollm2_path), batch_size=2)
    requests = [  # prompts of different lengths: the short one is left-padded in the batch
        Request("short", [{"role": "user", "content": "What is 2+3?"}], max_new_tokens=6),
        Request("long", [{"role": "user", "content": "Natalia sold clips to 48 of her friends in April, and then "
                                                     "she sold half as many clips in May. How many in total?"}],
                max_new_tokens=8),
    ]
    answers = dict(backend.generate(requests))
    for request in requests:
        expected = greedy_by_hand(backend.model, backend.tokenizer, backend.prompt_text(request),
                                  request.max_new_tokens, backend.stop_ids)
        assert answers[request.id] == expected
    assert all(answers[r.id].strip() for r in requests)  # a real model writes something before EOS


def test_answers_keep_box_tokens_and_stop_at_eos(qwen2_tokenizer):
    answer = "<|box_start|>(12,40),(500,999)<|box_end|>"
    ids = qwen2_tokenizer(answer, add_special_tokens=False)["input_ids"]
    eos = qwen2_tokenizer.convert_tokens_to_ids("<|im_end|>")
    tail = [eos, qwen2_tokenizer.pad_token_id, qwen2_tokenizer.pad_token_id]
    assert decode_answer(qwen2_tokenizer, ids + tail, {eos}) == answer


def test_lora_adapter_equals_the_merged_model(tiny_model_path, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base_dir = tiny_model_path("tiny_llama3")
    torch.manual_seed(0)
    # init_lora_weights=False: random A and B, so the adapter really changes the outputs.
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(base_dir),
                                LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")
    peft_model.merge_and_unload().save_pretrained(tmp_path / "merged")
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(tmp_path / "merged")

    requests = [Request(f"q{i}", [{"role": "user", "content": f"Count to {i}"}], max_new_tokens=8) for i in range(3)]
    with_adapter = dict(HFBackend(str(base_dir), adapter=str(tmp_path / "adapter")).generate(requests))
    merged = dict(HFBackend(str(tmp_path / "merged")).generate(requests))
    base = dict(HFBackend(str(base_dir)).generate(requests))
    assert with_adapter == merged
    assert with_adapter != base
