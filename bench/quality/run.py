"""Quality benchmark: does NTIL / DIST2Loss beat cross-entropy where cross-entropy itself learns?

    python -m bench.quality.run                      # full grid (see README.md); resumable
    python -m bench.quality.run --smoke --out DIR    # 1 seed, 1 size, 10 steps, tiny eval (CI; ~1 min on 2 idle cores)

For every task x training-set size x loss x seed it writes an ordinary LLaMA-Factory SFT YAML (plus
`metric_loss`) that trains a small Llama from scratch (`model.py`) and runs it with `metricsft train`;
then it answers the held-out set greedily (`generate.py`: LLaMA-Factory's prompt template and
predictions format) and scores `generated_predictions.jsonl` with `metricsft score` (refcoco rules for
boxes, arithmetic rules for numbers). One record per run lands in `runs/*/record.json`; a finished run is never redone,
so rerunning the same command after an interruption resumes. `analysis.py` then writes the table,
the statistics and the plot.

Runs are executed by `--jobs` worker processes (one thread each); each takes the next pending run and
calls `metricsft train`'s entry point in-process: importing LLaMA-Factory once per worker instead of once
per run saves 15-50 s per run on a busy 2-core machine.

Everything except the loss is identical between runs of one (task, size, seed): initial weights, data,
data order, steps, learning rate. "ce" is the plain LLaMA-Factory run (`metric_loss: null`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from bench.quality.generate import write_mbr_predictions, write_predictions
from bench.quality.model import LLAMAFACTORY_TEMPLATE, REPO_ROOT, ModelSize, build_init_model
from bench.quality.tasks import SCORER, TASKS, TaskData, build_task, read_jsonl

DEFAULT_OUT = REPO_ROOT / "bench" / "out" / "quality"
# bench name -> (metric_loss, metric_loss_args). The last two are the DIST2Loss paper's controls: CE over the
# metric vocabulary only ("vocab baseline") and uniform label smoothing over it; a gain of dist2 over
# them is a gain from the *distance*, not from the extra weight on number tokens.
LOSS_SPECS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "ce": (None, {}),
    "ntil": ("ntil", {}),
    "dist2": ("dist2", {}),
    "vocab_ce": ("dist2", {"target": "onehot", "normalize": "metric"}),
    "uniform_ls": ("dist2", {"target": "uniform"}),
}
MAIN_LOSSES = ("ce", "ntil", "dist2")
CONTROL_LOSSES = ("vocab_ce", "uniform_ls")


@dataclass
class BenchConfig:
    """Size of the benchmark; the defaults are the full run (see README.md for its wall time)."""

    tasks: tuple[str, ...] = TASKS
    losses: tuple[str, ...] = MAIN_LOSSES + CONTROL_LOSSES
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    sizes: tuple[int, ...] = (128, 512, 2048)
    control_size: int = 512  # the controls run at this training-set size only
    # Per-task cuts of the grid (none by default).
    sizes_by_task: dict[str, tuple[int, ...]] = field(default_factory=dict)
    seeds_by_task: dict[str, tuple[int, ...]] = field(default_factory=dict)
    control_tasks: tuple[str, ...] = TASKS
    n_eval: int = 200
    max_steps: int = 500  # the same number of steps (16,000 examples seen) at every size: a larger size only adds data
    batch_size: int = 32
    learning_rate: float = 4e-3
    model: ModelSize = field(default_factory=ModelSize)
    cutoff_len: int = 96
    eval_batch_size: int = 200
    max_new_tokens: int = 24  # answers are at most 20 tokens with the end-of-sequence token
    # MBR decoding next to greedy (0 = greedy only): this many answers sampled at temperature 1, reduced by
    # `metricsft eval --decode mbr`'s rule per task (MAE -> lower median; IoU -> medoid box)
    mbr_samples: int = 8
    mbr_rules: dict[str, str] = field(default_factory=lambda: {"linreg": "median", "box": "medoid"})
    threads: int = 1  # per worker

    @classmethod
    def smoke(cls) -> "BenchConfig":
        return cls(tasks=TASKS, seeds=(0,), sizes=(64,), control_size=64, n_eval=16, max_steps=10, eval_batch_size=16,
                   sizes_by_task={}, seeds_by_task={}, control_tasks=TASKS)

    def jobs(self) -> list[tuple[str, int, str, int]]:
        """(task, size, loss, seed): the main grid first, then the controls; each seed-major, so a run
        stopped early still pairs every loss with ce on the seeds it finished."""
        main = [(task, size, loss, seed) for seed in self.seeds for size in self.sizes for task in self.tasks
                for loss in self.losses if loss in MAIN_LOSSES and size in self.sizes_by_task.get(task, self.sizes)
                and seed in self.seeds_by_task.get(task, self.seeds)]
        controls = [(task, self.control_size, loss, seed) for seed in self.seeds for task in self.tasks
                    for loss in self.losses if loss not in MAIN_LOSSES and task in self.control_tasks]
        return main + controls


def run_name(task: str, size: int, loss: str, seed: int) -> str:
    return f"{task}-n{size}-{loss}-seed{seed}"


def train_yaml(cfg: BenchConfig, data: TaskData, model: Path, size: int, loss: str, seed: int, out_dir: Path) -> dict[str, Any]:
    metric_loss, loss_args = LOSS_SPECS[loss]
    config: dict[str, Any] = {
        "model_name_or_path": str(model),
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "full",
        "dataset": data.train_names[size],
        "dataset_dir": str(data.dataset_dir),
        "template": LLAMAFACTORY_TEMPLATE,
        "cutoff_len": cfg.cutoff_len,
        "overwrite_cache": True,
        "preprocessing_num_workers": None,
        "dataloader_num_workers": 0,
        "output_dir": str(out_dir),
        "logging_steps": 25,
        "save_strategy": "no",
        "plot_loss": False,
        "overwrite_output_dir": True,
        "report_to": "none",
        "disable_tqdm": True,
        "per_device_train_batch_size": cfg.batch_size,
        "gradient_accumulation_steps": 1,
        "learning_rate": cfg.learning_rate,
        "max_steps": cfg.max_steps,
        "lr_scheduler_type": "cosine",
        "warmup_ratio": 0.05,
        "bf16": False,
        "seed": seed,
        "data_seed": seed,
        "metric_loss": metric_loss,
    }
    if loss_args:
        config["metric_loss_args"] = loss_args
    return config


def score(task: str, predictions: Path, eval_file: Path, out_dir: Path) -> dict[str, Any]:
    """`metricsft score` (in-process) on LLaMA-Factory's predictions; returns its results.json."""
    from metricsft.eval.score_cli import score_main

    scorer, family = SCORER[task]
    with contextlib.redirect_stdout(io.StringIO()):
        code = score_main([scorer, str(predictions), "--format", family, "--data", str(eval_file), "--out", str(out_dir)])
    if code != 0:
        raise RuntimeError(f"metricsft score {scorer} {predictions} failed (exit {code}); see stderr above")
    return json.loads((out_dir / "results.json").read_text())


def row_values(task: str, results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per eval row the value the statistics use: linreg the signed error (None = no number), box the IoU
    (None = no box; counted as IoU 0, as the refcoco rules do)."""
    rows = []
    for row in results["per_row"]:
        if task == "box":
            rows.append({"id": row["id"], "iou": row["iou"]})
        else:
            predicted = row.get("predicted")
            error = None if predicted is None else float(Fraction(predicted) - Fraction(row["gold"]))
            rows.append({"id": row["id"], "error": error, "ok": bool(row["ok"])})
    return rows


def task_metrics(task: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    """The table's metrics from per-row values (the same function scores the trivial baselines)."""
    n = len(rows)
    if task == "box":
        ious = [r["iou"] or 0.0 for r in rows]
        return {
            "mean_iou": sum(ious) / n, "acc50": sum(i >= 0.5 for i in ious) / n,
            "parse_failure_rate": sum(r["iou"] is None for r in rows) / n,
        }
    errors = [abs(r["error"]) for r in rows if r["error"] is not None]
    return {
        "mae": sum(errors) / len(errors) if errors else math.nan,
        "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)) if errors else math.nan,
        "exact_match": sum(r.get("ok", False) for r in rows) / n,
        "parse_failure_rate": sum(r["error"] is None for r in rows) / n,
    }


def _train_log(out_dir: Path) -> tuple[float, int]:
    state = out_dir / "trainer_state.json"
    data = json.loads(state.read_text())
    # The last logged step's loss; a run shorter than logging_steps only has the trainer's mean train_loss.
    logged = [e["loss"] for e in data.get("log_history", []) if "loss" in e]
    logged += [] if logged else [e["train_loss"] for e in data.get("log_history", []) if "train_loss" in e]
    return (float(logged[-1]) if logged else math.nan), int(data.get("global_step", 0))


def run_one(cfg: BenchConfig, data: TaskData, model: Path, size: int, loss: str, seed: int, out: Path) -> dict[str, Any]:
    """Train + predict (one `metricsft train` call) and score one run; cached in record.json."""
    from metricsft.integrations.llamafactory.cli import train_main

    run_dir = out / "runs" / run_name(data.name, size, loss, seed)
    record_path = run_dir / "record.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    model_dir = run_dir / "model"
    config_path = run_dir / "train.yaml"
    config_path.write_text(yaml.safe_dump(train_yaml(cfg, data, model, size, loss, seed, model_dir), sort_keys=False))
    started = time.monotonic()
    code = train_main([str(config_path)])
    if code != 0:
        raise RuntimeError(f"metricsft train {config_path} exited with {code}")
    train_s = time.monotonic() - started
    predictions = write_predictions(model_dir, read_jsonl(data.eval_file), model_dir / "generated_predictions.jsonl",
                                    LLAMAFACTORY_TEMPLATE, cfg.max_new_tokens, cfg.eval_batch_size)
    results = score(data.name, predictions, data.eval_file, run_dir / "score")
    rows = row_values(data.name, results)
    mbr: dict[str, Any] = {}
    if cfg.mbr_samples:
        scorer, family = SCORER[data.name]
        mbr_predictions = write_mbr_predictions(
            model_dir, read_jsonl(data.eval_file), model_dir / "mbr_predictions.jsonl", LLAMAFACTORY_TEMPLATE,
            cfg.max_new_tokens, cfg.eval_batch_size, cfg.mbr_samples, seed, scorer, cfg.mbr_rules[data.name], family)
        mbr_rows = row_values(data.name, score(data.name, mbr_predictions, data.eval_file, run_dir / "score-mbr"))
        mbr = {"mbr": {"samples": cfg.mbr_samples, "rule": cfg.mbr_rules[data.name],
                       **task_metrics(data.name, mbr_rows), "rows": mbr_rows}}
    eval_s = time.monotonic() - started - train_s
    train_loss, steps = _train_log(model_dir)
    record = {
        "task": data.name, "loss": loss, "size": size, "seed": seed, "n_eval": len(rows), "steps": steps,
        "train_loss": train_loss, "train_s": round(train_s, 1), "eval_s": round(eval_s, 1), **task_metrics(data.name, rows), "rows": rows, **mbr,
    }
    for weights in model_dir.glob("*.safetensors"):
        weights.unlink()  # 4 MB each; the record and predictions are what the analysis needs
    record_path.write_text(json.dumps(record) + "\n")
    return record


def _env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", WANDB_DISABLED="true",
        DISABLE_VERSION_CHECK="1", LLAMAFACTORY_VERBOSITY="WARN",
        PYTHONPATH=os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(REPO_ROOT)])),
    )
    return env


def _claim(claims: Path, name: str) -> bool:
    """Atomically take run `name` for this worker (the first worker to create the file wins)."""
    try:
        os.close(os.open(claims / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def worker_main(out: Path, claims: Path) -> int:
    """One worker process: take the next unclaimed pending run until none is left (see the module docstring)."""
    import torch

    state = json.loads((out / "config.json").read_text())
    cfg = config_from_json(state["config"])
    torch.set_num_threads(cfg.threads)
    data = {task: task_data_from_json(blob) for task, blob in state["data"].items()}
    for task, size, loss, seed in cfg.jobs():
        name = run_name(task, size, loss, seed)
        if (out / "runs" / name / "record.json").exists() or not _claim(claims, name):
            continue
        started = time.monotonic()
        record = run_one(cfg, data[task], Path(state["models"][str(seed)]), size, loss, seed, out)
        primary = f"MAE {record['mae']:.4f}" if task == "linreg" else f"mIoU {record['mean_iou']:.3f}"
        print(f"[bench] {name}: {primary} parse-fail {record['parse_failure_rate']:.3f} "
              f"({time.monotonic() - started:.0f}s)", flush=True)
    return 0


def config_from_json(blob: dict[str, Any]) -> BenchConfig:
    blob = dict(blob)
    blob["model"] = ModelSize(**blob["model"])
    for key in ("tasks", "losses", "seeds", "sizes", "control_tasks"):
        blob[key] = tuple(blob[key])
    for key in ("sizes_by_task", "seeds_by_task"):  # (mbr_rules: task -> rule name, kept as JSON gives it)
        blob[key] = {task: tuple(values) for task, values in blob[key].items()}
    return BenchConfig(**blob)


def task_data_from_json(blob: dict[str, Any]) -> TaskData:
    return TaskData(blob["name"], Path(blob["dataset_dir"]), {int(k): v for k, v in blob["train_names"].items()},
                    blob["eval_name"], Path(blob["eval_file"]), blob["n_eval"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="1 seed, 1 size (64 rows), 10 steps, 16 eval rows (CI)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default {DEFAULT_OUT}[-smoke])")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    parser.add_argument("--losses", nargs="+", choices=tuple(LOSS_SPECS), default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None)
    parser.add_argument("--sizes", nargs="+", type=int, default=None, help="training-set sizes (default 128 512 2048)")
    parser.add_argument("--max-steps", type=int, default=None, help="optimizer steps per run (default 500)")
    parser.add_argument("--jobs", type=int, default=4, help="worker processes (one thread each; default 4)")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)  # internal: the claims folder
    args = parser.parse_args(argv)
    out = args.out or Path(f"{DEFAULT_OUT}{'-smoke' if args.smoke else ''}")
    if args.worker is not None:
        return worker_main(out, args.worker)

    cfg = BenchConfig.smoke() if args.smoke else BenchConfig()
    for key in ("tasks", "losses", "seeds", "sizes"):
        if getattr(args, key):
            setattr(cfg, key, tuple(getattr(args, key)))
    if args.sizes:
        cfg.control_size = args.sizes[len(args.sizes) // 2]
        cfg.sizes_by_task = {}
    if args.seeds:
        cfg.seeds_by_task = {}
    if args.max_steps:
        cfg.max_steps = args.max_steps
    if "ce" not in cfg.losses:
        parser.error("--losses must include ce (the baseline every other loss is compared with)")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    config_path = out / "config.json"

    def identity(config: dict[str, Any]) -> dict[str, Any]:  # which runs to do may change; how each is made may not
        return {k: v for k, v in config.items() if k not in ("tasks", "losses", "seeds", "control_tasks")}

    if config_path.exists() and identity(json.loads(config_path.read_text())["config"]) != identity(json.loads(json.dumps(asdict(cfg)))):
        parser.error(f"{out} holds runs made with another configuration; use another --out")
    datasets = {task: build_task(task, out / "data", cfg.sizes, cfg.n_eval) for task in cfg.tasks}
    models = {seed: build_init_model(out / "cache", seed, cfg.model) for seed in cfg.seeds}
    config_path.write_text(json.dumps({
        "config": asdict(cfg),
        "data": {t: {**asdict(d), "dataset_dir": str(d.dataset_dir), "eval_file": str(d.eval_file)} for t, d in datasets.items()},
        "models": {str(s): str(p) for s, p in models.items()},
    }, indent=2, default=str) + "\n")

    pending = [job for job in cfg.jobs() if not (out / "runs" / run_name(*job) / "record.json").exists()]
    print(f"[bench] {len(cfg.jobs())} runs, {len(pending)} to do, {args.jobs} worker(s)", flush=True)
    claims = out / ".claims"  # which worker runs what; fresh for every invocation (a stopped run is redone)
    shutil.rmtree(claims, ignore_errors=True)
    claims.mkdir()
    workers = []
    for index in range(max(1, min(args.jobs, len(pending)))):
        cmd = [sys.executable, "-m", "bench.quality.run", "--out", str(out), "--worker", str(claims)]
        log = (out / f"worker{index}.log").open("a")
        workers.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(cfg.threads), cwd=REPO_ROOT), log))
    failed = [index for index, (proc, log) in enumerate(workers) if proc.wait() != 0]
    for _, log in workers:
        log.close()
    if failed:
        tail = "".join((out / f"worker{failed[0]}.log").read_text(errors="replace").splitlines(keepends=True)[-40:])
        print(f"[bench] worker(s) {failed} failed; finished runs are kept, rerun to resume.\n{tail}", file=sys.stderr)
        return 1
    wall = time.monotonic() - started
    with (out / "invocations.jsonl").open("a") as handle:  # the total wall time spans every resumed part
        handle.write(json.dumps({"wall_s": round(wall, 1), "runs_done": len(pending), "jobs": args.jobs}) + "\n")

    from bench.quality.analysis import analyse, load_records

    print(analyse(load_records(out), out, cfg=asdict(cfg)))
    print(f"[bench] wall time of this invocation {wall / 60:.1f} min; outputs in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
