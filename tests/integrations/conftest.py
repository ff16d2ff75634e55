"""Helpers for the LLaMA-Factory integration tests: configs, datasets, running `metricsft train`.

Runs go through the real CLI function (`train_main`) in this process: LLaMA-Factory's import
costs ~8 s, paid once per test session instead of once per run.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = REPO_ROOT / "data_configs" / "examples"

# Small but complete: 2 optimizer steps, a checkpoint at step 2, logs every step.
FAST_TRAIN = {
    "stage": "sft",
    "do_train": True,
    "finetuning_type": "lora",
    "lora_rank": 4,
    "lora_target": "all",
    "cutoff_len": 256,
    "overwrite_cache": True,
    "preprocessing_num_workers": 1,
    "dataloader_num_workers": 0,
    "logging_steps": 1,
    "save_steps": 2,
    "max_steps": 2,
    "plot_loss": False,
    "overwrite_output_dir": True,
    "report_to": "none",
    "per_device_train_batch_size": 2,
    "gradient_accumulation_steps": 1,
    "learning_rate": 1.0e-3,
    "lr_scheduler_type": "constant",
    "bf16": False,
    "seed": 42,
    "disable_shuffling": True,
    "disable_gradient_checkpointing": True,  # tiny models: recomputation only costs time
}


def write_yaml(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def read_trainer_log(output_dir: Path) -> list[dict[str, Any]]:
    """Training lines of LLaMA-Factory's trainer_log.jsonl (the ones that carry `loss`)."""
    lines = (output_dir / "trainer_log.jsonl").read_text(encoding="utf-8").splitlines()
    return [row for row in map(json.loads, lines) if "loss" in row]


def run_metricsft_train(argv: list[str]) -> int:
    from metricsft.integrations.llamafactory.cli import train_main

    return train_main(argv)


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory) -> Path:
    """The tiny text model `python -m metricsft.integrations.demo_model` builds (no download)."""
    from metricsft.integrations.demo_model import build_demo_model

    return build_demo_model(tmp_path_factory.mktemp("demo_model") / "metricsft-demo-llama")


@pytest.fixture(scope="session")
def numbers_dataset_dir() -> Path:
    """The bundled text dataset (sums, boxes, clock times) and its dataset_info.json."""
    return EXAMPLES_DIR


def _draw_image(path: Path, seed: int) -> None:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (56, 56), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    x, y = 4 + 3 * (seed % 7), 6 + 2 * (seed % 5)
    draw.rectangle([x, y, x + 20 + seed % 9, y + 18 + seed % 11], fill=(30 * (seed % 8), 90, 160))
    image.save(path)


def write_multimodal_datasets(root: Path, shared_data_dir: Path | None) -> list[str]:
    """Write `boxes_demo` (images + answers with boxes and numbers) and, when the shared data
    is present, a copy of LLaMA-Factory's `mllm_demo`; return the dataset names."""
    images = root / "boxes_images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(8):
        _draw_image(images / f"{i}.png", i)
        x1, y1, x2, y2 = 100 + 37 * i, 120 + 29 * i, 480 + 41 * i, 530 + 23 * i
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"<image>Where is the blue box {i}? Answer with its corners."},
                    {"role": "assistant", "content": f"The box is at ({x1},{y1}),({x2},{y2}); area {(x2 - x1) * (y2 - y1)}."},
                ],
                "images": [f"boxes_images/{i}.png"],
            }
        )
    (root / "boxes_demo.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    mm_columns = {"messages": "messages", "images": "images"}
    tags = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}
    info = {"boxes_demo": {"file_name": "boxes_demo.json", "formatting": "sharegpt", "columns": mm_columns, "tags": tags}}
    names = ["boxes_demo"]
    demo = shared_data_dir / "llamafactory_demo" if shared_data_dir is not None else None
    if demo is not None and (demo / "mllm_demo.json").is_file():
        shutil.copy(demo / "mllm_demo.json", root / "mllm_demo.json")
        shutil.copytree(demo / "mllm_demo_data", root / "mllm_demo_data", dirs_exist_ok=True)
        info["mllm_demo"] = {"file_name": "mllm_demo.json", "formatting": "sharegpt", "columns": mm_columns, "tags": tags}
        names.insert(0, "mllm_demo")
    (root / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return names


@pytest.fixture(scope="session")
def multimodal_datasets(tmp_path_factory, shared_data_dir) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("mm_data")
    return root, write_multimodal_datasets(root, shared_data_dir)
