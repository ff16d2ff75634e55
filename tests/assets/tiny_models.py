"""Tiny randomly initialised models of real architectures, paired with the real offline tokenizers.

Each directory loads with ``from_pretrained`` (model, tokenizer and, for VLMs, ``AutoProcessor``) and
with LLaMA-Factory (``model_name_or_path``; templates ``qwen2_vl``, ``llava``, ``paligemma``,
``llama3``). Sizes are chosen so one forward+backward on one small image takes well under a second
on CPU: hidden 32, one or two layers, 112-224 px images, while the vocabulary stays the real one
(rounded up to a multiple of 64, so the embedding is padded past ``len(tokenizer)`` as in real
checkpoints).
"""

from __future__ import annotations

from pathlib import Path

HIDDEN = 32
SEED = 0


def _padded_vocab(tokenizer) -> int:
    return (len(tokenizer) + 63) // 64 * 64


def _tokenizer(name: str):
    from transformers import AutoTokenizer

    from tests.assets.build_assets import asset_path

    return AutoTokenizer.from_pretrained(asset_path(name))


def _save(model, processor_or_tokenizer, out: Path) -> dict:
    model.generation_config.pad_token_id = model.config.get_text_config().pad_token_id
    model.save_pretrained(out)
    processor_or_tokenizer.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "vocab_size": model.config.get_text_config().vocab_size}


def _tiny_text(config_class, tokenizer, **extra):
    return config_class(
        vocab_size=_padded_vocab(tokenizer), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, head_dim=HIDDEN // 2,
        max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, **extra,
    )


def build_tiny_llama3(out: Path) -> dict:
    """``LlamaForCausalLM`` with the Llama-3 tokenizer (128256 tokens, already a multiple of 64)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _tokenizer("llama3")
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(_tiny_text(LlamaConfig, tokenizer, tie_word_embeddings=True))
    return _save(model, tokenizer, out)


def build_tiny_qwen2_vl(out: Path) -> dict:
    """``Qwen2VLForConditionalGeneration`` + ``Qwen2VLProcessor`` on the real Qwen2-VL tokenizer."""
    import torch
    from transformers import (Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessor,
                              Qwen2VLProcessor, Qwen2VLVideoProcessor)

    tokenizer = _tokenizer("qwen2")
    ids = tokenizer.convert_tokens_to_ids
    text = dict(
        vocab_size=_padded_vocab(tokenizer), hidden_size=HIDDEN, intermediate_size=2 * HIDDEN,
        num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
        # M-RoPE splits each head's rotary half (head_dim 16 -> 8 frequencies) over (time, height, width).
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [2, 3, 3]},
        bos_token_id=ids("<|endoftext|>"), eos_token_id=ids("<|im_end|>"), pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(depth=1, embed_dim=HIDDEN, hidden_size=HIDDEN, num_heads=2, mlp_ratio=2,
                  patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    config = Qwen2VLConfig(
        text_config=text, vision_config=vision, tie_word_embeddings=True,
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"),
    )
    torch.manual_seed(SEED)
    model = Qwen2VLForConditionalGeneration(config)
    # At most 224x224 px per image: 16x16 patches of 14 px, merged 2x2 into 64 image tokens.
    pixels = {"min_pixels": 28 * 28, "max_pixels": 224 * 224}
    processor = Qwen2VLProcessor(
        image_processor=Qwen2VLImageProcessor(**pixels, patch_size=14, merge_size=2, temporal_patch_size=2),
        video_processor=Qwen2VLVideoProcessor(**pixels, patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tokenizer, chat_template=tokenizer.chat_template,
    )
    return _save(model, processor, out)


def build_tiny_llava(out: Path) -> dict:
    """``LlavaForConditionalGeneration`` (CLIP tower) + ``LlavaProcessor`` on the Llama-2 tokenizer.

    Like llava-hf/llava-1.5, ``<image>`` (32000) and ``<pad>`` (32001) are added to the Llama-2 vocabulary.
    """
    import torch
    from tokenizers import AddedToken
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    tokenizer = _tokenizer("llama2")
    tokenizer.add_tokens([AddedToken("<image>", normalized=False, special=True)], special_tokens=True)
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    image_size, patch = 112, 14
    vision = CLIPVisionConfig(hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=2,
                              num_attention_heads=2, image_size=image_size, patch_size=patch, projection_dim=HIDDEN)
    image_tokens = (image_size // patch) ** 2  # "default" strategy drops CLIP's CLS token
    config = LlavaConfig(
        vision_config=vision, text_config=_tiny_text(LlamaConfig, tokenizer),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), image_seq_length=image_tokens,
        vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    torch.manual_seed(SEED)
    model = LlavaForConditionalGeneration(config)
    image_processor = CLIPImageProcessor(size={"shortest_edge": image_size},
                                         crop_size={"height": image_size, "width": image_size})
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, image_token="<image>",
        chat_template=tokenizer.chat_template,
    )
    return _save(model, processor, out)


def build_tiny_paligemma(out: Path) -> dict:
    """``PaliGemmaForConditionalGeneration`` (SigLIP tower) + ``PaliGemmaProcessor`` on the gemma_loc tokenizer.

    As in PaliGemma, the image token is ``<image>`` (added here) and images come as a prefix.
    """
    import torch
    from tokenizers import AddedToken
    from transformers import (AutoTokenizer, GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration,
                              PaliGemmaProcessor, SiglipImageProcessor, SiglipVisionConfig)

    from tests.assets.build_assets import asset_path

    # Gemma 3's tokenizer names <image_soft_token> as its image token; PaliGemma (and LLaMA-Factory's
    # paligemma template) use <image>, so the saved copy declares that one instead.
    tokenizer = AutoTokenizer.from_pretrained(asset_path("gemma_loc"))
    tokenizer.add_tokens([AddedToken("<image>", normalized=False, special=True)], special_tokens=True)
    tokenizer = _retag_image_token(tokenizer, out)
    image_size, patch = 112, 14
    image_processor = SiglipImageProcessor(size={"height": image_size, "width": image_size})
    image_processor.image_seq_length = (image_size // patch) ** 2
    # The processor adds PaliGemma's 128 <segNNN> tokens (the <locNNNN> ones exist already), so it is
    # built before the model's vocabulary size is taken from len(tokenizer).
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=tokenizer)
    vision = SiglipVisionConfig(hidden_size=HIDDEN, intermediate_size=2 * HIDDEN, num_hidden_layers=1,
                                num_attention_heads=2, image_size=image_size, patch_size=patch)
    text = _tiny_text(GemmaConfig, processor.tokenizer)
    config = PaliGemmaConfig(
        vision_config=vision, text_config=text, image_token_index=processor.image_token_id,
        vocab_size=text.vocab_size, projection_dim=HIDDEN, hidden_size=HIDDEN,
    )
    config.vision_config.projection_dim = HIDDEN
    torch.manual_seed(SEED)
    model = PaliGemmaForConditionalGeneration(config)
    return _save(model, processor, out)


def _retag_image_token(tokenizer, scratch: Path):
    """Save and reload the tokenizer with ``image_token = "<image>"`` (v5 keeps it in ``extra_special_tokens``)."""
    import json

    from transformers import AutoTokenizer

    tokenizer.save_pretrained(scratch)
    config_path = scratch / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.setdefault("extra_special_tokens", {})["image_token"] = "<image>"
    config["image_token"] = "<image>"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False))
    return AutoTokenizer.from_pretrained(scratch)
