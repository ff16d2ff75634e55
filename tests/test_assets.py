"""The offline test assets are what they claim to be: real tokenizers, a real small model, working tiny VLMs.

Expected ids and splits below are published facts about the original tokenizers (Qwen2-VL's
special-token ids, Llama-2's README example, Llama-3's 1-3 digit pre-tokenizer rule), not values
computed by our builders.
"""

from __future__ import annotations

import multiprocessing
import re

import pytest

from tests.assets.build_assets import ASSETS, asset_path
from tests.assets.cache import build_atomically

NUMERIC_TEXT = "Total: 1234567.89 apples, -42 pears and 3/4 of 2024's 0.5% rate."
TOKENIZER_FIXTURES = ["qwen2_tokenizer", "llama3_tokenizer", "llama2_tokenizer", "gemma_loc_tokenizer"]


@pytest.mark.parametrize("fixture", TOKENIZER_FIXTURES)
def test_tokenizer_round_trips_text_with_numbers(fixture, request):
    tokenizer = request.getfixturevalue(fixture)
    ids = tokenizer(NUMERIC_TEXT, add_special_tokens=False).input_ids
    assert tokenizer.decode(ids) == NUMERIC_TEXT
    assert tokenizer.unk_token_id not in ids


def test_qwen2_digits_are_single_tokens(qwen2_tokenizer):
    pieces = qwen2_tokenizer.tokenize(NUMERIC_TEXT)
    digit_pieces = [p for p in pieces if any(c.isdigit() for c in p)]
    assert digit_pieces == [c for c in NUMERIC_TEXT if c.isdigit()]


def test_qwen2_vl_special_token_ids(qwen2_tokenizer):
    expected = {  # Qwen2-VL's published added-token table
        "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
        "<|object_ref_start|>": 151646, "<|object_ref_end|>": 151647, "<|box_start|>": 151648,
        "<|box_end|>": 151649, "<|quad_start|>": 151650, "<|quad_end|>": 151651,
        "<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|vision_pad|>": 151654,
        "<|image_pad|>": 151655, "<|video_pad|>": 151656,
    }
    assert {t: qwen2_tokenizer.convert_tokens_to_ids(t) for t in expected} == expected
    ids = qwen2_tokenizer("<|box_start|>(12,34),(56,78)<|box_end|>", add_special_tokens=False).input_ids
    assert ids[0] == 151648 and ids[-1] == 151649
    assert qwen2_tokenizer.eos_token == "<|im_end|>" and qwen2_tokenizer.pad_token == "<|endoftext|>"


def test_qwen2_chat_template_places_vision_tokens(qwen2_tokenizer):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where?"}]}]
    text = qwen2_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Where?<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize("number", ["7", "42", "123", "1234", "12345", "1234567", "9876543210"])
def test_llama3_groups_digits_in_threes_from_the_left(llama3_tokenizer, number):
    expected = [number[i:i + 3] for i in range(0, len(number), 3)]
    assert llama3_tokenizer.tokenize(number) == expected


def test_llama2_matches_published_encoding_and_splits_digits(llama2_tokenizer):
    assert llama2_tokenizer("Hello world!").input_ids == [1, 15043, 3186, 29991]  # llama-tokenizer-js README
    assert (llama2_tokenizer.unk_token_id, llama2_tokenizer.bos_token_id, llama2_tokenizer.eos_token_id) == (0, 1, 2)
    assert len(llama2_tokenizer) == 32000
    pieces = llama2_tokenizer.tokenize("In 2023 we had 15 llamas")
    # SentencePiece marks word starts with "▁"; a number's "▁" stays alone because digits never merge.
    assert pieces[:3] == ["▁In", "▁", "2"] and "▁we" in pieces and "▁had" in pieces
    digit_pieces = [p.lstrip("▁") for p in pieces if any(c.isdigit() for c in p)]
    assert digit_pieces == list("202315")


def test_gemma_loc_has_exactly_1024_distinct_loc_ids(gemma_loc_tokenizer):
    loc_vocab = {tok: i for tok, i in gemma_loc_tokenizer.get_vocab().items() if re.fullmatch(r"<loc\d{4}>", tok)}
    assert sorted(loc_vocab) == [f"<loc{i:04d}>" for i in range(1024)]
    assert len(set(loc_vocab.values())) == 1024
    ids = gemma_loc_tokenizer("<loc0000><loc0512><loc1023>", add_special_tokens=False).input_ids
    assert ids == [loc_vocab["<loc0000>"], loc_vocab["<loc0512>"], loc_vocab["<loc1023>"]]


def test_smollm2_loads_and_answers_a_sum(smollm2_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    model = AutoModelForCausalLM.from_pretrained(smollm2_path, dtype=torch.float32)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        logits = model(**inputs).logits
        generated = model.generate(**inputs, max_new_tokens=10, do_sample=False)
    assert logits.shape[-1] == 49152 and torch.isfinite(logits).all()
    answer = tokenizer.decode(generated[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    print(f"SmolLM2 greedy answer: {answer!r}")
    assert "5" in answer


def _one_image():
    import numpy as np
    from PIL import Image

    return Image.fromarray((np.random.default_rng(0).random((150, 200, 3)) * 255).astype("uint8"))


def _vlm_inputs(name: str, processor):
    image = _one_image()
    if name == "tiny_qwen2_vl":
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Box the cat."}]}]
        text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return processor(text=[text + "<|box_start|>(12,34),(56,78)<|box_end|>"], images=[image], return_tensors="pt")
    if name == "tiny_llava":
        return processor(text=["USER: <image>\nHow many cats? ASSISTANT: 12"], images=[image], return_tensors="pt")
    return processor(text=["<image>detect cat"], images=[image], suffix=["<loc0012><loc0034><loc0056><loc0078> cat"],
                     return_tensors="pt")


@pytest.mark.parametrize("name", [
    "tiny_qwen2_vl", "tiny_llava",
    pytest.param("tiny_paligemma", marks=pytest.mark.slow),  # loading Gemma's 263k-token tokenizer: ~10-30 s
])
def test_tiny_vlm_forward_backward_with_one_image(tiny_model_path, name):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = tiny_model_path(name)
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32)
    vocab = model.config.get_text_config().vocab_size
    assert vocab >= len(processor.tokenizer) and vocab % 64 == 0
    inputs = _vlm_inputs(name, processor)
    labels = inputs.pop("labels", None)
    if labels is None:
        labels = inputs["input_ids"]
    image_token_id = model.config.image_token_id
    assert (inputs["input_ids"] == image_token_id).sum() > 1  # the processor expanded the image placeholder
    out = model(**inputs, labels=labels)
    out.loss.backward()
    assert torch.isfinite(out.loss)
    vision_grads = [p.grad for n, p in model.named_parameters() if "vis" in n and p.grad is not None]
    assert vision_grads and any(g.abs().sum() > 0 for g in vision_grads)  # the image reached the loss


def test_tiny_llama3_covers_its_tokenizer(tiny_model_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = tiny_model_path("tiny_llama3")
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    assert model.config.vocab_size >= len(tokenizer) == 128256
    ids = tokenizer("12345 + 678", return_tensors="pt").input_ids
    assert torch.isfinite(model(ids).logits).all()


@pytest.mark.slow
@pytest.mark.parametrize("name,template", [("tiny_qwen2_vl", "qwen2_vl"), ("tiny_llava", "llava"),
                                           ("tiny_paligemma", "paligemma"), ("tiny_llama3", "llama3")])
def test_llamafactory_loads_tiny_model(tiny_model_path, name, template):
    import torch
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, FinetuningArguments, ModelArguments
    from llamafactory.model import load_model, load_tokenizer

    model_args = ModelArguments(model_name_or_path=str(tiny_model_path(name)))
    modules = load_tokenizer(model_args)
    tokenizer, processor = modules["tokenizer"], modules["processor"]
    template_obj = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template))
    model = load_model(tokenizer, model_args, FinetuningArguments(finetuning_type="lora"), is_trainable=True)
    assert any(p.requires_grad for p in model.parameters())
    messages = [{"role": "user", "content": "Where is it?"}, {"role": "assistant", "content": "At 12, 345."}]
    images = []
    if name != "tiny_llama3":
        assert processor is not None, f"LLaMA-Factory found no processor for {name}"
        messages[0]["content"] = "<image>" + messages[0]["content"]
        images = [_one_image()]
        messages = template_obj.mm_plugin.process_messages(messages, images, [], [], processor)
    prompt, response = template_obj.encode_oneturn(tokenizer, messages)
    ids, labels = template_obj.mm_plugin.process_token_ids(
        prompt + response, [-100] * len(prompt) + response, images, [], [], tokenizer, processor)
    assert tokenizer.decode(response).startswith("At 12, 345.")
    batch = template_obj.mm_plugin.get_mm_inputs(images, [], [], [len(images)], [0], [0], [ids], processor)
    batch = {k: torch.as_tensor(v) for k, v in batch.items()}
    if "image_grid_thw" in batch:  # LLaMA-Factory's collator derives M-RoPE inputs from the image tokens
        batch["mm_token_type_ids"] = (torch.tensor([ids]) == model.config.image_token_id).long()
    out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]), **batch)
    assert torch.isfinite(out.loss)


def test_unknown_asset_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="known assets: .*qwen2.*smollm2"):
        asset_path("qwen3")
    assert list(ASSETS)[:2] == ["qwen2", "llama3"]


def _count_and_fill(out, counter):
    with open(counter, "a") as handle:
        handle.write("built\n")
    import time

    time.sleep(0.5)  # long enough for the second process to hit the lock
    (out / "payload.txt").write_text("ok")


def _build_in_child(counter):
    build_atomically("toy", "1", lambda out: _count_and_fill(out, counter))


def test_build_is_atomic_and_locked(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICSFT_ASSETS", str(tmp_path))

    def failing_build(out):
        (out / "half.bin").write_text("partial")
        raise RuntimeError("killed mid-build")

    with pytest.raises(RuntimeError, match="killed mid-build"):
        build_atomically("toy", "1", failing_build)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".locks")) == []

    counter = tmp_path / "counter.txt"
    context = multiprocessing.get_context("fork")
    children = [context.Process(target=_build_in_child, args=(counter,)) for _ in range(2)]
    for child in children:
        child.start()
    for child in children:
        child.join(30)
    assert [c.exitcode for c in children] == [0, 0]
    assert counter.read_text() == "built\n"  # the second process waited and reused the first build
    assert (tmp_path / "toy" / "payload.txt").read_text() == "ok"

    def build_v2(out):
        (out / "payload.txt").write_text("v2")

    path, built, _ = build_atomically("toy", "2", build_v2)
    assert built and (path / "payload.txt").read_text() == "v2"  # a new builder version replaces the old one
