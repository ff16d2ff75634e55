"""data_configs/tasks: one LoRA SFT example per family x task, consistent with the converter and
accepted by LLaMA-Factory's own argument parser and by the metric-loss registry."""

from __future__ import annotations

import json
import shlex

import pytest
import yaml

from metricsft.data.cli import _parser, options_from_args
from metricsft.data.convert import dataset_name
from metricsft.data.writer import dataset_info_entry
from metricsft.data_configs import config_path
from metricsft.templates import FAMILIES, get_codec

IMAGE_TASKS = ("refcoco", "textdet", "clock")
TEXT_TASKS = ("rewardbench", "gsm8k", "arithmetic")
EXPECTED = [(f, t) for f in FAMILIES for t in IMAGE_TASKS + TEXT_TASKS if get_codec(f).has_images or t in TEXT_TASKS]
METRICSFT_KEYS = ("metric_loss", "metric_loss_args")


def load(family: str, task: str) -> tuple[dict, str]:
    path = config_path(f"tasks/{family}_{task}_lora_sft.yaml")
    text = path.read_text()
    return yaml.safe_load(text), text


def test_one_config_per_family_and_task() -> None:
    folder = config_path("tasks")
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(f"{f}_{t}_lora_sft.yaml" for f, t in EXPECTED)
    assert len(EXPECTED) == 4 * 6 + 3


@pytest.mark.parametrize(("family", "task"), EXPECTED)
def test_config_matches_converter_and_dataset_info(family: str, task: str) -> None:
    config, text = load(family, task)
    assert config["template"] == get_codec(family).llamafactory_template
    assert config["metric_loss"] in ("ntil", "dist2")
    # the convert command in the header writes exactly the dataset this config trains on
    command = next(line for line in text.splitlines() if "metricsft data convert" in line)
    argv = shlex.split(command.split("metricsft data", 1)[1])
    options = options_from_args(_parser().parse_args(argv))
    assert (options.task, options.family) == (task, family)
    assert dataset_name(options) == config["dataset"]
    info = json.loads(config_path("dataset_info.json").read_text())
    assert info[config["dataset"]] == dataset_info_entry(f"{config['dataset']}.jsonl", has_images=task in IMAGE_TASKS)
    if family == "qwen2_5_vl" and task in IMAGE_TASKS:
        # LLaMA-Factory must not shrink images before the processor's smart_resize (see the converter's --max-pixels)
        assert config["image_max_pixels"] >= options.max_pixels


@pytest.mark.parametrize(("family", "task"), EXPECTED)
def test_llamafactory_and_metricsft_accept_the_keys(family: str, task: str) -> None:
    from llamafactory.hparams.parser import _TRAIN_ARGS
    from transformers import HfArgumentParser

    from metricsft.losses import get_loss
    from metricsft.metric_loss import split_metric_args

    config, _ = load(family, task)
    ours = {key: config.pop(key) for key in METRICSFT_KEYS}
    config["bf16"] = False  # bf16 needs an accelerator; the key itself is what is checked here
    HfArgumentParser(_TRAIN_ARGS).parse_dict(config, allow_extra_keys=False)
    vocab_args, loss_args = split_metric_args(ours["metric_loss_args"])
    get_loss(ours["metric_loss"]).parse_args(loss_args)
    assert set(vocab_args.get("metrics", ["digits"])) <= {"digits", "loc"}


def test_checked_in_configs_are_the_generator_output() -> None:
    from metricsft.data_configs.task_configs import expected_files, pairs

    assert sorted(pairs()) == sorted(EXPECTED)
    for path, text in expected_files().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} differs from data_configs/task_configs.py; run python -m metricsft.data_configs.task_configs"
        )


@pytest.mark.parametrize(("family", "task"), EXPECTED)
def test_header_describes_the_task_answer(family: str, task: str) -> None:
    _, text = load(family, task)
    numbers = next(line for line in text.splitlines() if line.startswith("# Numbers are written as"))
    geometry = get_codec(family).geometry_syntax
    assert (geometry in numbers) == (task in ("refcoco", "textdet")), numbers


FAMILY_TOKENIZER = {
    "qwen2_vl": "qwen2_tokenizer", "qwen2_5_vl": "qwen2_tokenizer", "llava": "llama2_tokenizer",
    "paligemma": "gemma_loc_tokenizer", "llama": "llama3_tokenizer",
}


@pytest.mark.parametrize("family", sorted(FAMILY_TOKENIZER))
def test_metric_loss_args_build_on_the_family_tokenizer(request, family: str) -> None:
    """Every config's metric_loss_args (metrics, score_range, scope markers) resolve on the real tokenizer."""
    from metricsft import MetricLoss

    tokenizer = request.getfixturevalue(FAMILY_TOKENIZER[family])
    for fam, task in EXPECTED:
        if fam != family:
            continue
        config, _ = load(family, task)
        described = MetricLoss(tokenizer, config["metric_loss"], config["metric_loss_args"]).describe()
        groups = [g["name"] for g in described["vocabulary"]["groups"]]
        if "score_range" in config["metric_loss_args"]:
            assert "scores/0-20" in groups  # the reward scores compete as one ordered group
        if task == "gsm8k":
            assert described["vocabulary"]["scope"] == {"after": "####"}
