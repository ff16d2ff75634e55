"""`metricsft train` through the real LLaMA-Factory on the tiny demo model (text, CPU).

Each training run is 2 optimizer steps in this process (LLaMA-Factory imported once per session);
the refusals stop right after LLaMA-Factory parses the arguments.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import pytest
import torch
import yaml

from metricsft.integrations.llamafactory.notices import yaml_scalar
from metricsft.losses import get_loss
from tests.integrations.conftest import (
    EXAMPLES_DIR,
    FAST_TRAIN,
    read_trainer_log,
    run_metricsft_train,
    write_yaml,
)


@pytest.fixture
def text_config(demo_model_dir, numbers_dataset_dir, tmp_path):
    """A plain LLaMA-Factory LoRA SFT config (no metricsft keys) for the demo model."""

    def make(name: str, **overrides):
        config = {
            "model_name_or_path": str(demo_model_dir),
            "dataset": "numbers_demo",
            "dataset_dir": str(numbers_dataset_dir),
            "template": "llama3",
            "max_samples": 8,
            "output_dir": str(tmp_path / name),
            **FAST_TRAIN,
            **overrides,
        }
        return write_yaml(tmp_path / f"{name}.yaml", config), tmp_path / name

    return make


def run_llamafactory_cli_train(argv: list[str]) -> None:
    """The `llamafactory-cli` console entry point, exactly as the shell would call it."""
    from llamafactory.cli import main

    saved = sys.argv
    sys.argv = ["llamafactory-cli", "train", *argv]
    try:
        main()
    finally:
        sys.argv = saved


@pytest.mark.slow
def test_without_metric_loss_equals_llamafactory_cli(text_config):
    config, _ = text_config("base")
    reference_dir = config.parent / "reference"
    run_llamafactory_cli_train([str(config), f"output_dir={reference_dir}"])
    ours_dir = config.parent / "ours"
    assert run_metricsft_train([str(config), f"output_dir={ours_dir}"]) == 0

    reference, ours = read_trainer_log(reference_dir), read_trainer_log(ours_dir)
    assert [r["loss"] for r in ours] == [r["loss"] for r in reference]
    assert len(ours) == 2
    assert not any(k.startswith("metricsft/") for r in ours for k in r)
    assert not (ours_dir / "metricsft_config.json").exists()

    # `metric_loss=null` turns a YAML's metric loss off: plain LLaMA-Factory training again.
    with_metric = write_yaml(
        config.parent / "with_metric.yaml",
        {**yaml.safe_load(config.read_text()), "metric_loss": "ntil", "metric_loss_args": {"lam": 0.5}},
    )
    off_dir = config.parent / "off"
    assert run_metricsft_train([str(with_metric), f"output_dir={off_dir}", "metric_loss=null"]) == 0
    assert [r["loss"] for r in read_trainer_log(off_dir)] == [r["loss"] for r in reference]
    assert not (off_dir / "metricsft_config.json").exists()

    # metric_loss: ce runs through the seam and MetricLoss, and must reproduce LLaMA-Factory's own CE.
    ce_dir = config.parent / "ce"
    assert run_metricsft_train([str(config), f"output_dir={ce_dir}", "metric_loss=ce"]) == 0
    ce_rows = read_trainer_log(ce_dir)
    for ce_row, ref_row in zip(ce_rows, reference, strict=True):
        assert ce_row["loss"] == pytest.approx(ref_row["loss"], rel=1e-5)
        assert ce_row["metricsft/ce"] == pytest.approx(ref_row["loss"], rel=1e-5)
        assert ce_row["metricsft/metric_term"] == 0.0


@pytest.mark.slow
def test_demo_yaml_runs_with_the_metric_loss(demo_model_dir, tmp_path):
    """The README's tiny CPU example (data_configs/examples/tiny_cpu_sft.yaml), shortened to 2 steps."""
    out = tmp_path / "demo_out"
    argv = [
        str(EXAMPLES_DIR / "tiny_cpu_sft.yaml"),
        f"model_name_or_path={demo_model_dir}",
        f"dataset_dir={EXAMPLES_DIR}",
        f"output_dir={out}",
        "max_steps=2",
        "save_steps=2",
        "logging_steps=1",
    ]
    assert run_metricsft_train(argv) == 0
    rows = read_trainer_log(out)
    assert len(rows) == 2
    for row in rows:
        for key in ("loss", "metricsft/ce", "metricsft/ntil", "metricsft/emd", "metricsft/rel", "metricsft/mag"):
            assert math.isfinite(row[key]), (key, row)
        assert row["metricsft/metric_tokens"] > 0
        assert row["metricsft/ntil"] > 0
        # Components are on the scale of `loss`: loss = ce + lam * ntil (lam = 0.3 by default).
        assert row["loss"] == pytest.approx(row["metricsft/ce"] + 0.3 * row["metricsft/ntil"], rel=1e-4)
    assert (out / "checkpoint-2" / "adapter_model.safetensors").is_file()
    record = json.loads((out / "metricsft_config.json").read_text())
    assert record["metric_loss"] == "ntil"
    assert record["resolved"]["args"]["lam"] == 0.3
    assert record["versions"]["llamafactory"] == "0.9.5"
    assert record["resolved"]["vocabulary"]["groups"]


@pytest.mark.slow
def test_dist2_with_arguments_and_tensorboard(text_config):
    config, out = text_config("dist2", report_to="tensorboard", logging_dir=None)
    argv = [str(config), "metric_loss=dist2", "metric_loss_args.alpha=0.5", "metric_loss_args.tau=2.0"]
    assert run_metricsft_train(argv) == 0
    rows = read_trainer_log(out)
    for row in rows:
        assert row["metricsft/kl"] > 0
        assert row["loss"] == pytest.approx(row["metricsft/ce"] + 0.5 * row["metricsft/kl"], rel=1e-4)
    record = json.loads((out / "metricsft_config.json").read_text())
    assert record["resolved"]["args"]["alpha"] == 0.5 and record["resolved"]["args"]["tau"] == 2.0

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    event_files = list(out.rglob("events.out.tfevents.*"))
    assert event_files, "report_to: tensorboard wrote no event file"
    tags = set()
    for path in event_files:
        accumulator = EventAccumulator(str(path))
        accumulator.Reload()
        tags |= set(accumulator.Tags()["scalars"])
    assert {"train/loss", "train/metricsft/ce", "train/metricsft/kl"} <= tags


@pytest.mark.slow
def test_packed_sequences(text_config):
    """neat_packing: the collator's position ids (0 at each packed sequence start) go to MetricLoss."""
    config, out = text_config("packed", packing=True, neat_packing=True, per_device_train_batch_size=1)
    assert run_metricsft_train([str(config), "metric_loss=ntil", "metric_loss_args={gumbel: false}"]) == 0
    for row in read_trainer_log(out):
        assert math.isfinite(row["loss"]) and row["metricsft/ntil"] > 0
        assert row["metricsft/numbers"] >= 2  # several packed answers with numbers in one row


@pytest.mark.slow
def test_predict_with_generate_writes_predictions(text_config):
    config, out = text_config(
        "predict", do_train=False, do_predict=True, predict_with_generate=True, eval_dataset="numbers_demo",
        max_samples=3, max_new_tokens=4, per_device_eval_batch_size=2, finetuning_type="lora",
    )
    assert run_metricsft_train([str(config), "metric_loss=ntil"]) == 0
    rows = [json.loads(line) for line in (out / "generated_predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert all(set(row) == {"prompt", "predict", "label"} for row in rows)
    assert "What is" in rows[0]["prompt"]
    assert (out / "metricsft_config.json").is_file()  # generation ran on the metric-loss trainer


REFUSALS = [
    ({"use_dft_loss": True}, "`use_dft_loss: true` and `metric_loss` both replace the SFT loss"),
    ({"use_eaft_loss": True}, "`use_eaft_loss: true` and `metric_loss` both replace the SFT loss"),
    ({"use_asft_loss": True}, "`use_asft_loss: true` and `metric_loss` both replace the SFT loss"),
    ({"stage": "pt"}, "metric_loss works with `stage: sft` only, got `stage: pt`"),
    ({"stage": "dpo"}, "metric_loss works with `stage: sft` only, got `stage: dpo`"),
    ({"use_hyper_parallel": True}, "`use_hyper_parallel: true` trains with LLaMA-Factory's hyper-parallel"),
    ({"enable_liger_kernel": True}, "`enable_liger_kernel: true` fuses the LM head with cross-entropy"),
]


@pytest.mark.parametrize(("overrides", "message"), REFUSALS, ids=[f"{k}={v}" for o, _ in REFUSALS for k, v in o.items()])
def test_refusals_from_the_config(text_config, capsys, overrides, message):
    config, out = text_config("refused", **overrides)
    assert run_metricsft_train([str(config), "metric_loss=ntil"]) == 2
    assert message in capsys.readouterr().err
    assert not (out / "metricsft_config.json").exists()


@pytest.mark.parametrize("variable", ["USE_V1", "USE_RAY", "USE_MCA"])
def test_refusals_from_the_environment(text_config, capsys, monkeypatch, variable):
    config, _ = text_config("refused_env")
    monkeypatch.setenv(variable, "1")
    assert run_metricsft_train([str(config), "metric_loss=dist2"]) == 2
    assert f"environment variable {variable}=1" in capsys.readouterr().err


def test_the_same_flag_written_as_an_override_is_refused_too(text_config, capsys):
    config, _ = text_config("refused_override")
    assert run_metricsft_train([str(config), "metric_loss=ntil", "use_dft_loss=true"]) == 2
    assert "`use_dft_loss: true` and `metric_loss`" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["metric_loss=ntl"], "unknown metric_loss 'ntl'; choose one of: ce, emd, ntil, dist2, ntl_mse, ntl_was; did you mean 'ntil'?"),
        (["metric_loss=ntil", "metric_loss_args.lambda=0.3"], "unknown metric_loss_args ['lambda'] for metric_loss 'ntil'"),
        (["metric_loss_args.lam=0.3"], "metric_loss_args is set"),
        (["metric_loss=ce", "metric_loss_args.lam=0.5"], "unknown metric_loss_args ['lam'] for metric_loss 'ce'"),
    ],
)
def test_bad_metric_settings(text_config, capsys, extra, message):
    config, _ = text_config("bad")
    assert run_metricsft_train([str(config), *extra]) == 2
    assert message in capsys.readouterr().err


def test_plain_llamafactory_keys_still_rejected_without_metric_loss(text_config):
    """No metric_loss: LLaMA-Factory's own validation applies unchanged (a typo is its error)."""
    config, _ = text_config("typo")
    with pytest.raises(ValueError, match="not used by the HfArgumentParser|unknown"):
        run_metricsft_train([str(config), "lerning_rate=0.1"])


# --- checks before any data or model loading, the start-up line and the no-op warnings ---------
# These configs name a dataset that does not exist: had LLaMA-Factory loaded data before our check,
# its own "Undefined dataset" error would come out instead of ours.
MISSING_DATASET = "no_such_dataset"


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def stderr_until_data_loading(argv: list[str], capsys) -> str:
    """Run until LLaMA-Factory looks for the missing dataset; return what was said on stderr before."""
    with pytest.raises(ValueError, match=f"Undefined dataset {MISSING_DATASET}"):
        run_metricsft_train(argv)
    return capsys.readouterr().err


def startup_line_of(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("metricsft train: metric_loss "))


def test_loc_metric_on_a_tokenizer_without_loc_tokens_is_refused_before_loading(text_config, capsys, demo_model_dir):
    config, out = text_config("no_loc", dataset=MISSING_DATASET)
    assert run_metricsft_train([str(config), "metric_loss=ntil", "metric_loss_args.metrics=[digits,loc]"]) == 2
    error = _last_line(capsys.readouterr().err)
    assert error.startswith(f"metricsft train: error: metric_loss_args ({config}) do not fit the tokenizer of {demo_model_dir}:")
    assert "<loc0000>..<loc1023>" in error and "remove 'loc' from metric_loss_args.metrics" in error
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["metric_loss_args.value_map={'seven': 7}"], "value_map"),
        (["metric_loss_args.metrics=[digitz]"], "unknown metric(s) ['digitz'] in metric_loss_args.metrics"),
    ],
)
def test_vocabulary_arguments_are_checked_against_the_tokenizer_before_loading(text_config, capsys, extra, message):
    config, _ = text_config("bad_vocab", dataset=MISSING_DATASET)
    assert run_metricsft_train([str(config), "metric_loss=dist2", *extra]) == 2
    error = _last_line(capsys.readouterr().err)
    assert error.startswith(f"metricsft train: error: metric_loss_args ({config})") and message in error


def test_startup_line_names_loss_arguments_and_vocabulary(text_config, capsys, demo_model_dir):
    from transformers import AutoTokenizer

    config, _ = text_config("startup", dataset=MISSING_DATASET)
    # The line comes before data loading.
    line = startup_line_of(stderr_until_data_loading([str(config), "metric_loss=dist2", "metric_loss_args.alpha=0.5"], capsys))
    vocab = AutoTokenizer.from_pretrained(demo_model_dir).get_vocab()
    digits = sorted(token for token in vocab if token.isascii() and token.isdigit())
    assert digits == [str(d) for d in range(10)]  # the demo tokenizer: one token per digit, no prefixed forms
    # Every argument of the registered loss, with its default unless set (alpha), in declaration order.
    resolved = {f.name: f.default for f in dataclasses.fields(get_loss("dist2").args_type)} | {"alpha": 0.5}
    args = ", ".join(f"{name}={yaml_scalar(value)}" for name, value in resolved.items())
    assert "tau=1.0" in args and "distance=squared" in args
    assert line == (
        f"metricsft train: metric_loss dist2 ({args}); metric vocabulary: 10 of {len(vocab)} tokens in 1 group(s) "
        "(digits/w1 10)"
    )


@pytest.mark.slow  # loads the 256k-token Gemma tokenizer twice (tokenizer and processor)
def test_startup_line_counts_paligemma_loc_bins(tmp_path, capsys, tiny_model_path):
    config = write_yaml(
        tmp_path / "paligemma.yaml",
        {"model_name_or_path": str(tiny_model_path("tiny_paligemma")), "dataset": MISSING_DATASET,
         "dataset_dir": str(EXAMPLES_DIR), "template": "paligemma", "output_dir": str(tmp_path / "out"), **FAST_TRAIN},  # fmt: skip
    )
    line = startup_line_of(stderr_until_data_loading([str(config), "metric_loss=dist2", "metric_loss_args.metrics=[loc]"], capsys))
    assert line.endswith("tokens in 1 group(s) (loc 1024)") and "metric vocabulary: 1,024 of " in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["bf16=true"], "`bf16: true` ({config}): this machine has no GPU with bf16 support. Set bf16: false"),
        (["fp16=true"], "`fp16: true` ({config}): this machine has no GPU, where fp16 mixed precision does not exist."),
    ],
)
def test_half_precision_on_a_cpu_only_machine_is_refused_in_one_line(text_config, capsys, extra, message):
    config, out = text_config("precision", dataset=MISSING_DATASET)
    assert run_metricsft_train([str(config), "metric_loss=ntil", *extra]) == 2
    err = capsys.readouterr().err
    assert _last_line(err).startswith("metricsft train: error: " + message.format(config=config))
    assert "Traceback" not in err and not out.exists()


def test_null_metric_loss_with_arguments_warns_that_they_are_ignored(text_config, capsys):
    config, _ = text_config("null_args", dataset=MISSING_DATASET, metric_loss="ntil", metric_loss_args={"lam": 0.5})
    err = stderr_until_data_loading([str(config), "metric_loss=null"], capsys)  # plain LLaMA-Factory ran
    assert (
        f"metricsft train: warning: metric_loss is null ({config}), so metric_loss_args {{lam: 0.5}} are ignored and "
        "this run trains plain LLaMA-Factory cross-entropy" in err
    )
    assert not any(line.startswith("metricsft train: metric_loss ") for line in err.splitlines())  # nothing installed


def test_ce_with_vocabulary_keys_warns_that_ce_does_not_use_them(text_config, capsys):
    config, _ = text_config("ce_vocab", dataset=MISSING_DATASET)
    err = stderr_until_data_loading([str(config), "metric_loss=ce", "metric_loss_args.metrics=[digits]"], capsys)
    assert (
        f"metricsft train: warning: metric_loss ce ({config}) is plain cross-entropy: metric_loss_args "
        "{metrics: [digits]} select a metric vocabulary that ce never uses" in err
    )


@pytest.mark.slow
def test_dataset_without_numbers_warns_at_start(demo_model_dir, tmp_path, capsys):
    rows = [
        {"messages": [{"role": "user", "content": f"Say a colour, please ({word})."}, {"role": "assistant", "content": word}]}
        for word in ("red", "green", "blue", "yellow")
    ]
    (tmp_path / "words.json").write_text(json.dumps(rows), encoding="utf-8")
    info = {"words": {"file_name": "words.json", "formatting": "sharegpt", "columns": {"messages": "messages"},
                      "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}  # fmt: skip
    (tmp_path / "dataset_info.json").write_text(json.dumps(info), encoding="utf-8")
    config = write_yaml(
        tmp_path / "words.yaml",
        {"model_name_or_path": str(demo_model_dir), "dataset": "words", "dataset_dir": str(tmp_path), "template": "llama3",
         "output_dir": str(tmp_path / "out"), **FAST_TRAIN, "max_steps": 1},  # fmt: skip
    )
    assert run_metricsft_train([str(config), "metric_loss=ntil"]) == 0
    err = capsys.readouterr().err
    assert (
        "metricsft train: warning: no metric token in the labels of the first 4 training rows (metric vocabulary: "
        "digits/w1): metric_loss ntil adds nothing there, the run is plain cross-entropy." in err
    )
    assert [row["metricsft/metric_tokens"] for row in read_trainer_log(tmp_path / "out")] == [0.0]


def test_torchrun_workers_do_not_repeat_what_the_launcher_said(text_config, capsys, monkeypatch):
    from metricsft.integrations.llamafactory.cli import ANNOUNCED_ENV

    config, _ = text_config("worker", dataset=MISSING_DATASET)
    monkeypatch.setenv(ANNOUNCED_ENV, "1")
    err = stderr_until_data_loading([str(config), "metric_loss=ce", "metric_loss_args.metrics=[digits]"], capsys)
    # (Line starts only: LLaMA-Factory's logger may dump a stack with this test's source into stderr.)
    assert [line for line in err.splitlines() if line.startswith("metricsft train: ")] == []
    # ... but every check still runs in the workers.
    assert run_metricsft_train([str(config), "metric_loss=ntil", "metric_loss_args.metrics=[loc]"]) == 2
