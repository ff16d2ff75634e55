"""`metricsft train`: the fused head (default) trains exactly like the logits path.

Same machinery as test_equivalence.py: full fine-tuning with plain SGD and no clipping, so the
saved weights differ from the start by exactly -lr * gradient, for every parameter (tied
embeddings, vision towers and projectors included). Each family's tiny model runs one step with
`fused_head: false` (the model's own logits + our fused CE) and with the default (hidden states,
head at supervised rows only); updates and logged losses must agree to 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integrations.conftest import FAST_TRAIN, REPO_ROOT, read_trainer_log, run_metricsft_train, write_yaml
from tests.integrations.test_equivalence import assert_same_update, parameter_update

pytestmark = pytest.mark.slow

FAMILIES = {
    # family: (tiny asset, template, multimodal, metric vocabularies)
    "qwen2_vl": ("tiny_qwen2_vl", "qwen2_vl", True, ["digits"]),
    "llava": ("tiny_llava", "llava", True, ["digits"]),
    "paligemma": ("tiny_paligemma", "paligemma", True, ["digits", "loc"]),
    "llama3": ("tiny_llama3", "llama3", False, ["digits"]),
}
LOSS_ARGS = {"ntil": {"gumbel": False}, "dist2": {}, "ce": {}}


def sgd_config(family, loss, fused_head, tiny_model_path, multimodal_datasets, numbers_dataset_dir, out, **extra):
    asset, template, multimodal, metrics = FAMILIES[family]
    if multimodal:
        data = {"dataset": "boxes_demo", "dataset_dir": str(multimodal_datasets[0]), "image_max_pixels": 112 * 112}
    else:
        data = {"dataset": "numbers_demo", "dataset_dir": str(numbers_dataset_dir)}
    args = {"metrics": metrics, **LOSS_ARGS[loss]}
    if fused_head is not None:
        args["fused_head"] = fused_head
    return {
        **FAST_TRAIN, **data,
        "model_name_or_path": str(tiny_model_path(asset)), "template": template, "cutoff_len": 384,
        "max_samples": 4, "finetuning_type": "full", "optim": "sgd", "learning_rate": 0.5, "max_grad_norm": 0.0,
        "weight_decay": 0.0, "max_steps": 1, "save_strategy": "no", "per_device_train_batch_size": 2,
        "output_dir": str(out), "metric_loss": loss, "metric_loss_args": args, **extra,
    }


def train(tmp_path: Path, name: str, config: dict) -> Path:
    assert run_metricsft_train([str(write_yaml(tmp_path / f"{name}.yaml", config))]) == 0
    return Path(config["output_dir"])


def fused_head_note(out: Path) -> str:
    return json.loads((out / "metricsft_config.json").read_text())["fused_head"]


def assert_same_logs(a: Path, b: Path, keys=("loss", "metricsft/ce", "metricsft/metric_term")) -> None:
    rows_a, rows_b = read_trainer_log(a), read_trainer_log(b)
    assert len(rows_a) == len(rows_b) >= 1
    for row_a, row_b in zip(rows_a, rows_b):
        for key in keys:
            assert row_b[key] == pytest.approx(row_a[key], rel=1e-5), key


@pytest.mark.parametrize(
    "family,loss", [("qwen2_vl", "ntil"), ("llava", "dist2"), ("paligemma", "ntil"), ("llama3", "ce")]
)
def test_fused_head_equals_logits_path(family, loss, tiny_model_path, multimodal_datasets, numbers_dataset_dir, tmp_path):
    common = (tiny_model_path, multimodal_datasets, numbers_dataset_dir)
    logits = train(tmp_path, "logits", sgd_config(family, loss, False, *common, tmp_path / "logits"))
    fused = train(tmp_path, "fused", sgd_config(family, loss, None, *common, tmp_path / "fused"))
    assert fused_head_note(logits).startswith("off") and fused_head_note(fused).startswith("on")
    model_dir = tiny_model_path(FAMILIES[family][0])
    assert_same_update(parameter_update(model_dir, logits), parameter_update(model_dir, fused))
    assert_same_logs(logits, fused)
    if loss != "ce":
        assert read_trainer_log(fused)[0]["metricsft/metric_term"] > 0


def test_fused_head_with_accumulation_and_two_processes(
    tiny_model_path, multimodal_datasets, numbers_dataset_dir, tmp_path, monkeypatch
):
    """Logits path, batch 4 == fused head, batch 1 x 4 accumulation == fused head on 2 torchrun ranks."""
    common = (tiny_model_path, multimodal_datasets, numbers_dataset_dir)
    one = train(tmp_path, "big", sgd_config("qwen2_vl", "ntil", False, *common, tmp_path / "big", per_device_train_batch_size=4))
    accumulated = train(tmp_path, "ga", sgd_config(
        "qwen2_vl", "ntil", True, *common, tmp_path / "ga", per_device_train_batch_size=1, gradient_accumulation_steps=4
    ))
    monkeypatch.setenv("FORCE_TORCHRUN", "1")
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    parallel = train(tmp_path, "ddp", sgd_config("qwen2_vl", "ntil", True, *common, tmp_path / "ddp"))
    model_dir = tiny_model_path("tiny_qwen2_vl")
    reference = parameter_update(model_dir, one)
    for out in (accumulated, parallel):
        assert fused_head_note(out).startswith("on")
        assert_same_update(reference, parameter_update(model_dir, out))
        assert_same_logs(one, out, keys=("loss", "metricsft/ce", "metricsft/ntil"))


@pytest.mark.parametrize("deepspeed,expected", [("ds_z2_config.json", "on"), ("ds_z3_config.json", "logits path")])
def test_fused_head_under_zero(
    deepspeed, expected, demo_model_dir, tiny_model_path, numbers_dataset_dir, tmp_path, monkeypatch
):
    """ZeRO-2: the fused head, equal to one process on the logits path. ZeRO-3 partitions the head
    weight: `auto` falls back to the logits path (and says so). The demo Llama (as in
    test_deepspeed.py): DeepSpeed saves it with the same tensor names as its source checkpoint."""
    pytest.importorskip("deepspeed")
    common = (lambda _asset: demo_model_dir, None, numbers_dataset_dir)
    reference = train(tmp_path, "one", sgd_config("llama3", "ntil", False, *common, tmp_path / "one", per_device_train_batch_size=4))
    monkeypatch.setenv("FORCE_TORCHRUN", "1")
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ds = {"deepspeed": str(REPO_ROOT / "data_configs" / "deepspeed" / deepspeed)}
    out = train(tmp_path, "ds", sgd_config("llama3", "ntil", None, *common, tmp_path / "ds", **ds))
    assert fused_head_note(out).startswith(expected)
    assert_same_update(parameter_update(demo_model_dir, reference), parameter_update(demo_model_dir, out))
    assert_same_logs(reference, out, keys=("loss", "metricsft/ce", "metricsft/ntil"))
