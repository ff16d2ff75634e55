"""One big batch == gradient accumulation == data parallel, for the metric losses, with images.

Full fine-tuning of the tiny Qwen2-VL with plain SGD and no clipping: the parameter update is
then exactly -lr * gradient, so any normalisation error (a loss divided by the wrong token count,
a missing accumulation or process factor) shows up in the saved weights. NTIL runs with
`gumbel: false` (the noiseless straight-through estimator) so both runs see the same function.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.integrations.conftest import FAST_TRAIN, read_trainer_log, run_metricsft_train, write_yaml

pytestmark = pytest.mark.slow

LOSSES = {"ntil": {"gumbel": False}, "dist2": {}}


def sgd_config(model_dir: Path, data_dir: Path, out_dir: Path, loss: str, batch: int, accumulation: int) -> dict:
    return {
        **FAST_TRAIN,
        "model_name_or_path": str(model_dir),
        "dataset": "boxes_demo",  # every answer has a box and an area: the metric term is active
        "dataset_dir": str(data_dir),
        "template": "qwen2_vl",
        "image_max_pixels": 112 * 112,
        "max_samples": 4,
        "finetuning_type": "full",
        "optim": "sgd",
        "learning_rate": 0.5,
        "max_grad_norm": 0.0,
        "weight_decay": 0.0,
        "max_steps": 1,
        "save_strategy": "no",
        "per_device_train_batch_size": batch,
        "gradient_accumulation_steps": accumulation,
        "output_dir": str(out_dir),
        "metric_loss": loss,
        "metric_loss_args": LOSSES[loss],
    }


def parameter_update(model_dir: Path, trained_dir: Path) -> dict[str, torch.Tensor]:
    before = load_file(model_dir / "model.safetensors")
    after = load_file(trained_dir / "model.safetensors")
    assert set(after) == set(before)
    return {name: after[name].double() - before[name].double() for name in before}


def assert_same_update(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], rel: float = 1e-5) -> None:
    flat_a = torch.cat([a[n].flatten() for n in sorted(a)])
    flat_b = torch.cat([b[n].flatten() for n in sorted(a)])
    assert flat_a.norm() > 0, "the step changed no parameter"
    difference = (flat_a - flat_b).norm() / flat_a.norm()
    assert difference <= rel, f"updates differ by {difference:.3e} (relative)"


@pytest.fixture(scope="module")
def qwen2_vl_dir(tiny_model_path) -> Path:
    return tiny_model_path("tiny_qwen2_vl")


@pytest.mark.parametrize("loss", list(LOSSES))
def test_gradient_accumulation_equals_one_big_batch(loss, qwen2_vl_dir, multimodal_datasets, tmp_path):
    data_dir, _ = multimodal_datasets
    updates, logs = [], []
    for batch, accumulation in [(4, 1), (1, 4)]:
        out = tmp_path / f"b{batch}x{accumulation}"
        config = sgd_config(qwen2_vl_dir, data_dir, out, loss, batch, accumulation)
        assert run_metricsft_train([str(write_yaml(tmp_path / f"{out.name}.yaml", config))]) == 0
        updates.append(parameter_update(qwen2_vl_dir, out))
        logs.append(read_trainer_log(out)[0])
    assert_same_update(*updates)
    big, accumulated = logs
    assert big["metricsft/metric_term"] > 0
    for key in ("loss", "metricsft/ce", "metricsft/metric_term", "metricsft/metric_tokens"):
        assert accumulated[key] == pytest.approx(big[key], rel=1e-5), key


def test_two_cpu_processes_equal_one(qwen2_vl_dir, multimodal_datasets, tmp_path, monkeypatch):
    """`metricsft train` re-launches itself under torchrun (gloo on CPU); each rank installs the loss."""
    data_dir, _ = multimodal_datasets
    one = tmp_path / "one_process"
    config = sgd_config(qwen2_vl_dir, data_dir, one, "ntil", batch=4, accumulation=1)
    assert run_metricsft_train([str(write_yaml(tmp_path / "one.yaml", config))]) == 0

    two = tmp_path / "two_processes"
    config = sgd_config(qwen2_vl_dir, data_dir, two, "ntil", batch=2, accumulation=1)
    monkeypatch.setenv("FORCE_TORCHRUN", "1")
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert run_metricsft_train([str(write_yaml(tmp_path / "two.yaml", config))]) == 0

    assert_same_update(parameter_update(qwen2_vl_dir, one), parameter_update(qwen2_vl_dir, two))
    single, parallel = read_trainer_log(one)[0], read_trainer_log(two)[0]
    for key in ("loss", "metricsft/ce", "metricsft/ntil", "metricsft/metric_tokens", "metricsft/numbers"):
        assert parallel[key] == pytest.approx(single[key], rel=1e-5), key
