"""Quality benchmark: does NTIL / DIST2Loss beat cross-entropy when fine-tuning a real small model?

    python -m bench.quality.run                      # full benchmark (see README.md for its size)
    python -m bench.quality.run --smoke --out DIR    # 1 seed, few steps, tiny eval (< 10 min on 2 cores)

For every task x loss x seed it
1. writes an ordinary LLaMA-Factory SFT YAML (plus `metric_loss`) and runs `metricsft train` on it in a
   subprocess (the real LLaMA-Factory `run_exp` path);
2. runs `metricsft eval arithmetic --backend hf` (greedy) on the fixed held-out set;
3. appends one line to `runs.csv` and the per-row absolute errors to `rows.jsonl`.
Then `analysis.py` writes `summary.md` / `summary.json` (mean ± std over seeds, paired bootstrap CI of
the MAE difference vs CE) and `errors.png`. A finished run is not redone: rerun the same command
after an interruption and it resumes.

Everything except the loss is identical between runs of one task and seed: data, data order, steps,
learning rate, trainable parameters. The losses use their paper defaults (NTIL lambda 0.3,
alpha = beta = sigma = 0.2; DIST2Loss alpha 0.1, tau 1, squared distance). "ce" is the plain
LLaMA-Factory run of the same YAML (`metric_loss: null`).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from bench.quality.model import LLAMAFACTORY_TEMPLATE, REPO_ROOT, fix_model_files, prepare_model
from bench.quality.tasks import TASKS, TaskData, build_task

LOSSES = ("ce", "ntil", "dist2")
DEFAULT_OUT = REPO_ROOT / "bench" / "out" / "quality"
RUN_FIELDS = (
    "task", "loss", "seed", "n_train", "n_eval", "steps", "exact_match", "mae", "median_ae",
    "parse_failure_rate", "train_loss", "train_s", "eval_s",
)


@dataclass
class BenchConfig:
    """Size of the benchmark. The defaults are the full run (sized for ~60 min on 2 shared CPU cores:
    512 training examples, one epoch of 64 steps; see README.md)."""

    tasks: tuple[str, ...] = TASKS
    losses: tuple[str, ...] = LOSSES
    seeds: tuple[int, ...] = (0, 1, 2)
    n_train: int = 512
    n_eval: int = 300
    epochs: float = 1.0
    max_steps: int = -1  # > 0 overrides epochs
    batch_size: int = 8
    learning_rate: float = 2e-4
    trainable_layers: int = 4  # LLaMA-Factory `finetuning_type: freeze`: the last N decoder layers
    cutoff_len: int = 128
    eval_batch_size: int = 32
    max_new_tokens: int = 8
    threads: int = 1  # per run; 2 runs in parallel (--jobs): steadier than 2 threads on a shared 2-core box
    loss_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # empty: paper defaults

    @classmethod
    def smoke(cls) -> "BenchConfig":
        return cls(seeds=(0,), n_train=32, n_eval=16, max_steps=2, eval_batch_size=16)


def train_yaml(cfg: BenchConfig, data: TaskData, model: Path, loss: str, seed: int, out_dir: Path) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_name_or_path": str(model),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "freeze",
        "freeze_trainable_layers": cfg.trainable_layers,
        "freeze_trainable_modules": "all",
        "dataset": data.train_name,
        "dataset_dir": str(data.dataset_dir),
        "template": LLAMAFACTORY_TEMPLATE,
        "cutoff_len": cfg.cutoff_len,
        "overwrite_cache": True,
        "preprocessing_num_workers": 1,
        "dataloader_num_workers": 0,
        "output_dir": str(out_dir),
        "logging_steps": 5,
        "save_strategy": "no",
        "plot_loss": False,
        "overwrite_output_dir": True,
        "report_to": "none",
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": 1,
        "learning_rate": cfg.learning_rate,
        "num_train_epochs": cfg.epochs,
        "max_steps": cfg.max_steps,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.1,
        "bf16": False,
        "seed": seed,
        "data_seed": seed,
        "metric_loss": None if loss == "ce" else loss,
    }
    if loss != "ce" and cfg.loss_args.get(loss):
        config["metric_loss_args"] = cfg.loss_args[loss]
    return config


def _env(cfg: BenchConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(cfg.threads), MKL_NUM_THREADS=str(cfg.threads), TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_DISABLED="true",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    return env


def _run(cmd: list[str], log: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    with log.open("w") as handle:
        proc = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-30:])
        raise RuntimeError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n--- {log} (tail) ---\n{tail}")
    return time.monotonic() - start


def _train_loss(out_dir: Path) -> tuple[float, int]:
    state = out_dir / "trainer_state.json"
    if not state.exists():
        return float("nan"), 0
    data = json.loads(state.read_text())
    logged = [e["loss"] for e in data.get("log_history", []) if "loss" in e]
    summary = [e["train_loss"] for e in data.get("log_history", []) if "train_loss" in e]
    last = logged[-1] if logged else (summary[-1] if summary else float("nan"))
    return float(last), int(data.get("global_step", 0))


def row_errors(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per eval row: gold, predicted, exact, absolute error (None when nothing parsed)."""
    out = []
    for row in results["per_row"]:
        gold = Fraction(row["gold"])
        predicted = row.get("predicted")
        error = None if predicted is None else float(Fraction(predicted) - gold)
        out.append({"id": row["id"], "gold": float(gold), "error": error, "ok": bool(row["ok"])})
    return out


def run_one(cfg: BenchConfig, data: TaskData, model: Path, loss: str, seed: int, out: Path, keep_models: bool) -> dict[str, Any]:
    run_dir = out / "runs" / f"{data.name}-{loss}-seed{seed}"
    record_path = run_dir / "record.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    model_dir, eval_dir = run_dir / "model", run_dir / "eval"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    config_path = run_dir / "train.yaml"
    config_path.write_text(yaml.safe_dump(train_yaml(cfg, data, model, loss, seed, model_dir), sort_keys=False))
    env = _env(cfg)
    print(f"[bench] {data.name} {loss} seed {seed}: training", flush=True)
    train_s = _run([sys.executable, "-m", "metricsft.cli", "train", str(config_path)], run_dir / "train.log", env)
    train_loss, steps = _train_loss(model_dir)
    # LLaMA-Factory saves the tokenizer / generation config it loaded; pin EOS and template again.
    fix_model_files(model_dir)
    print(f"[bench] {data.name} {loss} seed {seed}: evaluating ({train_s:.0f}s training)", flush=True)
    eval_cmd = [
        sys.executable, "-m", "metricsft.cli", "eval", "arithmetic", "--model", str(model_dir), "--backend", "hf",
        "--data", str(data.eval_file), "--format", "llama", "--out", str(eval_dir), "--dtype", "float32",
        "--batch-size", str(cfg.eval_batch_size), "--max-new-tokens", str(cfg.max_new_tokens), "--no-progress",
    ]
    eval_s = _run(eval_cmd, run_dir / "eval.log", env)
    results = json.loads((eval_dir / "results.json").read_text())
    errors = row_errors(results)
    abs_errors = sorted(abs(r["error"]) for r in errors if r["error"] is not None)
    n = len(errors)
    record = {
        "task": data.name, "loss": loss, "seed": seed, "n_train": data.n_train, "n_eval": n, "steps": steps,
        "exact_match": sum(r["ok"] for r in errors) / n,
        "mae": sum(abs_errors) / len(abs_errors) if abs_errors else float("nan"),
        "median_ae": abs_errors[len(abs_errors) // 2] if abs_errors else float("nan"),
        "parse_failure_rate": sum(r["error"] is None for r in errors) / n,
        "train_loss": train_loss, "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
        "rows": errors,
    }
    if not keep_models:
        for weights in model_dir.glob("*.safetensors"):
            weights.unlink()
    record_path.write_text(json.dumps(record) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1 seed, 2 steps, 16 eval rows per task (CI check)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {DEFAULT_OUT}[-smoke])")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    parser.add_argument("--losses", nargs="+", default=None, help="ce ntil dist2 emd ntl_mse ntl_was")
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-eval", type=int, default=None)
    parser.add_argument("--epochs", type=float, default=None)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--trainable-layers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (each uses --threads cores; default 2)")
    parser.add_argument("--keep-models", action="store_true", help="keep each fine-tuned model's weights (540 MB each)")
    args = parser.parse_args(argv)

    cfg = BenchConfig.smoke() if args.smoke else BenchConfig()
    overrides = {
        "tasks": tuple(args.tasks) if args.tasks else None, "losses": tuple(args.losses) if args.losses else None,
        "seeds": tuple(args.seeds) if args.seeds else None, "n_train": args.n_train, "n_eval": args.n_eval,
        "epochs": args.epochs, "max_steps": args.max_steps, "learning_rate": args.lr,
        "trainable_layers": args.trainable_layers, "threads": args.threads,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    if "ce" not in cfg.losses:
        parser.error("--losses must include ce (the baseline every other loss is compared with)")
    out = args.out or Path(f"{DEFAULT_OUT}{'-smoke' if args.smoke else ''}")
    out.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    model = prepare_model(out / "cache")
    config_path = out / "config.json"
    # Which tasks / losses / seeds to run may change between invocations; how each run is made may not.
    def identity(config: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in config.items() if k not in ("tasks", "losses", "seeds")}

    if config_path.exists() and identity(json.loads(config_path.read_text())["config"]) != identity(json.loads(json.dumps(asdict(cfg)))):
        parser.error(f"{out} holds runs made with another configuration; use another --out")
    datasets = {task: build_task(task, out / "data", cfg.n_train, cfg.n_eval) for task in cfg.tasks}
    config_path.write_text(json.dumps({"config": asdict(cfg), "model": str(model)}, indent=2) + "\n")
    # Seed-major order: if the run has to stop early, the finished part still compares every loss.
    jobs = [(task, loss, seed) for seed in cfg.seeds for task in cfg.tasks for loss in cfg.losses]
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def work(job: tuple[str, str, int]) -> None:
        task, loss, seed = job
        record = run_one(cfg, datasets[task], model, loss, seed, out, args.keep_models)
        with lock:
            records.append(record)
            records.sort(key=lambda r: (r["task"], r["loss"], r["seed"]))
            write_runs(out, records)
            print(
                f"[bench] {task} {loss} seed {seed}: EM {record['exact_match']:.3f} MAE {record['mae']:.3f} "
                f"parse-fail {record['parse_failure_rate']:.3f} ({record['train_s']:.0f}s + {record['eval_s']:.0f}s) "
                f"[{len(records)}/{len(jobs)} at {(time.monotonic() - started) / 60:.1f} min]",
                flush=True,
            )

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for future in [pool.submit(work, job) for job in jobs]:
            future.result()
    wall = time.monotonic() - started

    from bench.quality.analysis import analyse

    summary = analyse(records, out, cfg=asdict(cfg), wall_s=wall)
    print(summary)
    print(f"[bench] wall time {wall / 60:.1f} min; outputs in {out}")
    return 0


def write_runs(out: Path, records: list[dict[str, Any]]) -> None:
    with (out / "runs.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=RUN_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(records)
    with (out / "rows.jsonl").open("w") as handle:
        for record in records:
            for row in record["rows"]:
                handle.write(json.dumps({"task": record["task"], "loss": record["loss"], "seed": record["seed"], **row}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
