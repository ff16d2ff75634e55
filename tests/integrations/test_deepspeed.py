"""DeepSpeed ZeRO-2 / ZeRO-3 (data_configs/deepspeed/*.json) on CPU: 2 gloo processes == 1 process.

DeepSpeed runs here on its CPU accelerator. ZeRO-3 partitions every parameter across the ranks;
MetricLoss only reads the logits the model's own forward returns, so nothing needs gathering.
"""

from __future__ import annotations

import pytest

from tests.integrations.conftest import FAST_TRAIN, REPO_ROOT, read_trainer_log, run_metricsft_train, write_yaml
from tests.integrations.test_equivalence import assert_same_update, parameter_update

pytestmark = pytest.mark.slow
pytest.importorskip("deepspeed")


def config(model_dir, data_dir, out_dir, batch: int, deepspeed: str | None) -> dict:
    cfg = {
        **FAST_TRAIN,
        "model_name_or_path": str(model_dir),
        "dataset": "numbers_demo",
        "dataset_dir": str(data_dir),
        "template": "llama3",
        "max_samples": 8,
        "finetuning_type": "full",
        "optim": "sgd",
        "learning_rate": 0.5,
        "max_grad_norm": 0.0,
        "save_strategy": "no",
        "per_device_train_batch_size": batch,
        "output_dir": str(out_dir),
        "metric_loss": "ntil",
        "metric_loss_args": {"gumbel": False},
    }
    if deepspeed:
        cfg["deepspeed"] = str(REPO_ROOT / "data_configs" / "deepspeed" / deepspeed)
    return cfg


@pytest.fixture(scope="module")
def single_process_run(demo_model_dir, numbers_dataset_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds_reference") / "out"
    path = write_yaml(out.parent / "one.yaml", config(demo_model_dir, numbers_dataset_dir, out, 4, None))
    assert run_metricsft_train([str(path)]) == 0
    return out


@pytest.mark.parametrize("deepspeed", ["ds_z2_config.json", "ds_z3_config.json"])
def test_zero_on_two_cpu_processes_equals_one_process(
    deepspeed, single_process_run, demo_model_dir, numbers_dataset_dir, tmp_path, monkeypatch
):
    monkeypatch.setenv("FORCE_TORCHRUN", "1")
    monkeypatch.setenv("NPROC_PER_NODE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "out"
    path = write_yaml(tmp_path / "ds.yaml", config(demo_model_dir, numbers_dataset_dir, out, 2, deepspeed))
    assert run_metricsft_train([str(path)]) == 0

    assert_same_update(parameter_update(demo_model_dir, single_process_run), parameter_update(demo_model_dir, out))
    reference, ours = read_trainer_log(single_process_run), read_trainer_log(out)
    assert len(ours) == len(reference) == 2
    for ref_row, row in zip(reference, ours):
        for key in ("loss", "metricsft/ce", "metricsft/ntil", "metricsft/metric_tokens"):
            assert row[key] == pytest.approx(ref_row[key], rel=1e-5), key
