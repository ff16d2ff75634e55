"""Generate ``data_configs/tasks/*.yaml`` (one LoRA SFT example per family x task) and ``dataset_info.json``.

The checked-in files are this module's output (a test compares them). Family facts come from the codecs,
task facts from each converter's ``TrainingExample``; after changing one of them or the loss table below,
regenerate:

    python -m metricsft.data_configs.task_configs          # rewrite the files
    python -m metricsft.data_configs.task_configs --check  # exit 1 if they differ

>>> text = render("paligemma", "clock")
>>> [line for line in text.splitlines() if line.startswith("metric_loss")]
['metric_loss: dist2', 'metric_loss_args: {alpha: 0.1, tau: 1.0, metrics: [digits, loc]}']
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from metricsft.data.cli import _parser, options_from_args
from metricsft.data.common import Converter
from metricsft.data.convert import CONVERTERS
from metricsft.data.convert import dataset_name as converted_name
from metricsft.templates import FAMILIES, get_codec

ROOT = Path(__file__).resolve().parent


def _converters() -> dict[str, Converter]:
    """Each task's converter: it says how its data is described, converted and written in a config."""
    return {task: CONVERTERS.load(task) for task in CONVERTERS.names}


NTIL = ("ntil", "{lam: 0.3, alpha: 0.2, beta: 0.2, sigma: 0.2}", "NTIL (paper defaults)")
DIST2 = ("dist2", "{alpha: 0.1, tau: 1.0}", "DIST2Loss (paper defaults)")
DIST2_LOC = ("dist2", "{alpha: 0.1, tau: 1.0, metrics: [digits, loc]}", "DIST2Loss over digits and PaliGemma's <loc> bins")

# Llama-3 writes each score 0-20 as one token, grouped by width: score_range makes them one ordered
# group, as DIST2Loss's reward-model setup wants. The other families spell 10-20 digit by digit, and
# their place-value digits already order the scores (score_range is refused there).
DIST2_SCORES = ("dist2", "{alpha: 0.1, tau: 1.0, score_range: [0, 20]}",
                "DIST2Loss (paper defaults) over the scores 0-20 as one ordered group")
# GSM8k solutions are full of step numbers; the metric term looks only at the final answer.
NTIL_ANSWER = ("ntil", "{lam: 0.3, alpha: 0.2, beta: 0.2, sigma: 0.2, scope: {after: '####'}}",
               "NTIL (paper defaults) on the final answer after '####'")
DIST2_LOC_ANSWER = ("dist2", "{alpha: 0.1, tau: 1.0, metrics: [digits, loc], scope: {after: '####'}}",
                    "DIST2Loss over digits and PaliGemma's <loc> bins, on the final answer after '####'")

#: (task, family) -> (metric_loss, metric_loss_args, how the header names it); the default is NTIL
METRIC_LOSS: dict[tuple[str, str], tuple[str, str, str]] = {
    **{(task, "paligemma"): DIST2_LOC for task in CONVERTERS.names},
    **{("gsm8k", family): NTIL_ANSWER for family in ("qwen2_vl", "qwen2_5_vl", "llava", "llama")},
    ("gsm8k", "paligemma"): DIST2_LOC_ANSWER,
    ("rewardbench", "qwen2_vl"): DIST2,
    ("rewardbench", "qwen2_5_vl"): DIST2,
    ("rewardbench", "llava"): DIST2,
    ("rewardbench", "llama"): DIST2_SCORES,
}

_BODY = """
### method
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 8
lora_target: all

### metricsft
metric_loss: {loss}
metric_loss_args: {loss_args}

### dataset
dataset: {dataset}
dataset_dir: data
template: {template}
cutoff_len: 2048
overwrite_cache: true
preprocessing_num_workers: 16
dataloader_num_workers: 4

### output
output_dir: saves/{family}/lora/{task}_{loss}
logging_steps: 10
save_steps: 500
plot_loss: true
overwrite_output_dir: true
report_to: tensorboard

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
num_train_epochs: 1.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
ddp_timeout: 180000000
# deepspeed: data_configs/deepspeed/ds_z2_config.json  # multi-GPU
"""


def pairs() -> list[tuple[str, str]]:
    """Every (family, task) with a config: text tasks for every family, image tasks for image families."""
    return [(f, t) for f in FAMILIES for t, c in _converters().items() if get_codec(f).has_images or not c.needs_images]


def dataset_name(family: str, task: str) -> str:
    """The name ``metricsft data convert`` gives the config's dataset (parsed from the config's own command)."""
    argv = ["convert", task, *shlex.split(_converters()[task].example.convert_args), "--format", family, "--out", "data"]
    return converted_name(options_from_args(_parser().parse_args(argv)))


def render(family: str, task: str) -> str:
    """The YAML text of ``tasks/<family>_<task>_lora_sft.yaml``."""
    codec, converter = get_codec(family), _converters()[task]
    example = converter.example
    loss, loss_args, loss_words = METRIC_LOSS.get((task, family), NTIL)
    dataset = dataset_name(family, task)
    numbers = example.numbers or codec.geometry_syntax
    lines = [
        f"# LoRA SFT of {codec.display_name} on {example.description}, with {loss_words} added to cross-entropy.",
        f"# Data (writes data/{dataset}.jsonl and its entry in data/dataset_info.json):",
        f"#   metricsft data convert {task} {example.convert_args} --format {family} --out data",
        f"# Numbers are written as {numbers}.",
        f"# Run:  metricsft train data_configs/tasks/{family}_{task}_lora_sft.yaml",
        "# Plain cross-entropy baseline: the same file with `metric_loss: ce`.",
        "",
        "### model",
        f"model_name_or_path: {codec.example_model}",
    ]
    if codec.uses_resize_bounds and converter.needs_images:
        from metricsft.templates.qwen2_5_vl import DEFAULT_MAX_PIXELS, DEFAULT_MIN_PIXELS

        lines += [
            f"# Coordinates were written for smart_resize(min_pixels={DEFAULT_MIN_PIXELS}, max_pixels={DEFAULT_MAX_PIXELS}), the",
            "# processor's defaults; keep LLaMA-Factory from shrinking images before the processor does.",
            f"image_max_pixels: {DEFAULT_MAX_PIXELS}",
        ]
    body = _BODY.format(loss=loss, loss_args=loss_args, dataset=dataset, template=codec.llamafactory_template,
                        family=family, task=task)
    return "\n".join(lines) + "\n" + body


def render_dataset_info() -> str:
    """``dataset_info.json``: the entry ``metricsft data convert`` writes for each config's dataset."""
    from metricsft.data.writer import dataset_info_entry

    info = {}
    for family, task in pairs():
        name = dataset_name(family, task)
        info[name] = dataset_info_entry(f"{name}.jsonl", has_images=_converters()[task].needs_images)
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[Path, str]:
    """Every generated file and its text."""
    files = {ROOT / "tasks" / f"{family}_{task}_lora_sft.yaml": render(family, task) for family, task in pairs()}
    files[ROOT / "dataset_info.json"] = render_dataset_info()
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate data_configs/tasks/*.yaml and dataset_info.json.")
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file differs")
    args = parser.parse_args(argv)
    stale = [path for path, text in expected_files().items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path} differs from the generator's output; run python -m metricsft.data_configs.task_configs")
        return 1 if stale else 0
    for path in stale:
        path.write_text(expected_files()[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
