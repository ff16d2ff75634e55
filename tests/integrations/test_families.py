"""Each model family's example YAML x {ce, ntil, dist2} through `metricsft train` on tiny models.

The example configs in data_configs/examples/ are used as they are, with the model swapped for a
tiny random one (real tokenizer and processor), the data for a small local set and the schedule
cut to 2 optimizer steps.
"""

from __future__ import annotations

import math

import pytest
import yaml

from tests.integrations.conftest import EXAMPLES_DIR, FAST_TRAIN, read_trainer_log, run_metricsft_train, write_yaml

pytestmark = pytest.mark.slow

FAMILIES = {
    # family: (tiny asset, multimodal)
    "qwen2_vl": ("tiny_qwen2_vl", True),
    "llava": ("tiny_llava", True),
    "paligemma": ("tiny_paligemma", True),
    "llama3": ("tiny_llama3", False),
}
METRIC_COMPONENT = {"ntil": "ntil", "dist2": "kl"}


def family_config(family, loss, tiny_model_path, multimodal_datasets, numbers_dataset_dir, out_dir):
    asset, multimodal = FAMILIES[family]
    config = yaml.safe_load((EXAMPLES_DIR / f"{family}_lora_sft.yaml").read_text())
    assert config.pop("metric_loss")  # every example carries the metric loss line
    example_args = config.pop("metric_loss_args", None) or {}
    if multimodal:
        data_dir, names = multimodal_datasets
        names = ["boxes_demo"] + [n for n in names if n != "boxes_demo"]
        data = {"dataset": ",".join(names), "dataset_dir": str(data_dir), "image_max_pixels": 112 * 112}
    else:
        data = {"dataset": "numbers_demo", "dataset_dir": str(numbers_dataset_dir)}
    config.update(FAST_TRAIN)
    config.update(data)
    config.update(
        model_name_or_path=str(tiny_model_path(asset)),
        output_dir=str(out_dir),
        cutoff_len=384,
        max_samples=1,  # per dataset: step 1 = a row with boxes, step 2 = an mllm_demo row when present
        per_device_train_batch_size=1,
    )
    config["metric_loss"] = loss
    vocab_args = {k: v for k, v in example_args.items() if k == "metrics"}
    if loss != "ce":
        config["metric_loss_args"] = {**vocab_args, **({"gumbel": False} if loss == "ntil" else {})}
    return config


@pytest.mark.parametrize("loss", ["ce", "ntil", "dist2"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_family_trains_with_metric_loss(
    family, loss, tiny_model_path, multimodal_datasets, numbers_dataset_dir, tmp_path
):
    out = tmp_path / "out"
    config = family_config(family, loss, tiny_model_path, multimodal_datasets, numbers_dataset_dir, out)
    assert run_metricsft_train([str(write_yaml(tmp_path / "train.yaml", config))]) == 0

    rows = read_trainer_log(out)
    assert len(rows) == 2
    assert rows[0]["metricsft/metric_tokens"] > 0, "step 1 trains on answers with boxes and numbers"
    for row in rows:
        assert math.isfinite(row["loss"]) and row["loss"] > 0
        assert math.isfinite(row["metricsft/ce"]) and row["metricsft/ce"] > 0
        assert row["loss"] == pytest.approx(row["metricsft/ce"] + row["metricsft/metric_term"], rel=1e-4)
        if loss == "ce" or row["metricsft/metric_tokens"] == 0:
            assert row["metricsft/metric_term"] == 0.0  # exactly zero, never NaN, without numbers
        else:
            assert row["metricsft/metric_term"] > 0
            assert math.isfinite(row[f"metricsft/{METRIC_COMPONENT[loss]}"])
    assert (out / "checkpoint-2" / "adapter_model.safetensors").is_file()
    assert (out / "metricsft_config.json").is_file()
