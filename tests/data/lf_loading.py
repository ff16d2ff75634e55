"""Load a converted dataset through LLaMA-Factory's own loader, template and a real tokenizer.

Image templates need a processor; processors hold no weights, so we build each family's real
transformers processor class around the real offline tokenizer (no model hub involved).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

# family -> (LLaMA-Factory template, tokenizer asset)
FAMILY_SETUP = {
    "qwen2_vl": ("qwen2_vl", "qwen2"),
    "qwen2_5_vl": ("qwen2_vl", "qwen2"),
    "llava": ("llava", "llama2"),
    "paligemma": ("paligemma", "gemma_loc"),
    "llama": ("llama3", "llama3"),
}


def build_processor(family: str, tokenizer: Any, min_pixels: int = 3136, max_pixels: int = 12845056) -> Any:
    """The family's real transformers processor around ``tokenizer`` (None for text-only).

    Qwen min/max pixels default to Qwen2.5-VL's released preprocessor_config values.
    """
    if family in ("qwen2_vl", "qwen2_5_vl"):
        from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

        image = Qwen2VLImageProcessor(min_pixels=min_pixels, max_pixels=max_pixels)
        return Qwen2VLProcessor(image_processor=image, tokenizer=tokenizer, video_processor=Qwen2VLVideoProcessor())
    if family == "llava":
        from transformers import CLIPImageProcessor, LlavaProcessor

        tokenizer.add_tokens(["<image>"], special_tokens=True)
        image = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
        return LlavaProcessor(image_processor=image, tokenizer=tokenizer, patch_size=14,
                              vision_feature_select_strategy="default", num_additional_image_tokens=1)
    if family == "paligemma":
        from transformers import PaliGemmaProcessor, SiglipImageProcessor

        image = SiglipImageProcessor(size={"height": 224, "width": 224})
        image.image_seq_length = 256
        return PaliGemmaProcessor(image_processor=image, tokenizer=tokenizer)
    return None


def load_with_llamafactory(dataset_dir: Path, name: str, family: str, tokenizer: Any, tmp_path: Path, **model_kwargs: Any) -> tuple[Any, Any]:
    """(tokenized train dataset, tokenizer) as LLaMA-Factory's SFT stage builds them."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments, ModelArguments
    from transformers import Seq2SeqTrainingArguments

    from tests.assets.build_assets import asset_path

    template_name, asset = FAMILY_SETUP[family]
    tokenizer = copy.deepcopy(tokenizer)  # LLaMA-Factory edits the tokenizer (pad/eos); keep the fixture clean
    processor = build_processor(family, tokenizer)
    model_args = ModelArguments(model_name_or_path=str(asset_path(asset)), **model_kwargs)
    data_args = DataArguments(template=template_name, dataset=name, dataset_dir=str(dataset_dir), cutoff_len=4096, overwrite_cache=True)
    training_args = Seq2SeqTrainingArguments(output_dir=str(tmp_path / "lf_out"), do_train=True, report_to=[])
    if processor is not None:
        from llamafactory.model.patcher import patch_processor

        patch_processor(processor, tokenizer, model_args)  # what LLaMA-Factory's load_tokenizer does
    template = get_template_and_fix_tokenizer(tokenizer, data_args)
    module = get_dataset(template, model_args, data_args, training_args, "sft", tokenizer, processor)
    return module["train_dataset"], tokenizer


def supervised_text(example: dict[str, Any], tokenizer: Any) -> str:
    """The decoded tokens LLaMA-Factory trains on (labels != -100)."""
    return tokenizer.decode([t for t in example["labels"] if t != -100], skip_special_tokens=False)


def run_cli(argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """Run ``metricsft data ...`` through the real dispatcher; returns (exit code, stdout, stderr)."""
    from metricsft.cli import main

    code = main(["data", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
