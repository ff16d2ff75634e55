"""`metricsft eval ... --decode mbr`: sample N answers per row, cache them, choose one per row, score.

    >>> from metricsft.eval.runner import EvalArguments, run_eval
    >>> run_eval(EvalArguments(task="clock", data="clock.jsonl", family="qwen2_vl", out="out/clock", backend="vllm",
    ...                        model="path/to/model", decode="mbr", samples=8, seed=0))   # doctest: +SKIP

Files it adds to `out` (a greedy run's files in the same directory are left alone, so both can live
side by side): `samples.jsonl` (the cache: one `{"id", "answer": [N samples]}` line per row, fsynced
per row; a killed run resumes with the rows it lacks), `mbr_run.json` (the sampling settings the cache
was made with; other settings are refused), `mbr_rows.jsonl` (per row: the chosen answer, its value,
how many samples parsed and their spread), `results_mbr.json`, and `results.md`, which shows greedy
and MBR side by side when both results exist.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

from metricsft.eval.backends import Backend, BackendError, Request, make_backend
from metricsft.eval.backends.base import SamplingSpec
from metricsft.eval.decoding.compare import MBR_RESULTS_FILE, write_results_markdown
from metricsft.eval.decoding.task_rules import Decision, mbr_rule, rule_description
from metricsft.eval.runner import (
    AnswerCache,
    EvalArguments,
    backend_kwargs,
    generate_missing,
    prepare_run,
    run_record,
)
from metricsft.templates import get_codec

SAMPLES_FILE, MBR_RUN_FILE, MBR_ROWS_FILE = "samples.jsonl", "mbr_run.json", "mbr_rows.jsonl"


class SampledBackend:
    """Presents a backend's ``generate_samples`` as ``generate``, so the runner's caching loop is reused."""

    def __init__(self, backend: Backend, spec: SamplingSpec) -> None:
        self.backend, self.spec, self.name = backend, spec, backend.name

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[str, list[str]]]:  # type: ignore[override]
        for row_id, samples in self.backend.generate_samples(requests, self.spec):
            if len(samples) != self.spec.n:
                raise BackendError(f"row {row_id!r}: backend {self.name!r} returned {len(samples)} samples, not {self.spec.n}")
            yield row_id, samples

    def describe(self) -> dict[str, Any]:
        return {**self.backend.describe(), "decoding": "sampling", **dataclasses.asdict(self.spec)}

    def close(self) -> None:
        self.backend.close()


def check_sampling_identity(out: Path, spec: SamplingSpec) -> None:
    """Refuse to extend a sample cache made with other sampling settings (the samples would mix)."""
    identity = dataclasses.asdict(spec)
    path = out / MBR_RUN_FILE
    if path.exists() and (out / SAMPLES_FILE).exists():
        previous = json.loads(path.read_text())
        changed = {k: (previous.get(k), v) for k, v in identity.items() if previous.get(k) != v}
        if changed:
            details = "; ".join(f"{k}: cached {old!r}, now {new!r}" for k, (old, new) in changed.items())
            raise ValueError(f"{out / SAMPLES_FILE} holds samples drawn with other settings ({details}); use a new --out "
                             "or the same --samples/--temperature/--top-p/--seed")
    path.write_text(json.dumps(identity, indent=2) + "\n")


def spread_summary(decisions: Sequence[Decision]) -> dict[str, float]:
    """Mean of each numeric spread measure over the rows that have it (e.g. mean IQR, mean pairwise IoU)."""
    collected: dict[str, list[float]] = {}
    for decision in decisions:
        for name, value in decision.spread.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                collected.setdefault(name, []).append(float(value))
    return {f"mean_{name}": sum(v) / len(v) for name, v in sorted(collected.items())}


def run_mbr_eval(args: EvalArguments, backend_factory: Any = None) -> dict[str, Any]:
    """Sample what is missing, choose one answer per row, score, write the MBR result files."""
    total_start = time.perf_counter()
    # before any generation: an unsupported task fails fast
    rule_name, rule = mbr_rule(args.task, args.mbr_rule, args.judge_rules)
    spec = SamplingSpec(n=args.samples, temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    task, rows, requests, out = prepare_run(args)
    check_sampling_identity(out, spec)
    cache = AnswerCache(out / SAMPLES_FILE)
    cached_before = sum(r.id in cache for r in requests)
    try:
        factory = backend_factory or (lambda: make_backend(args.backend, **backend_kwargs(args)))
        timing = generate_missing(lambda: SampledBackend(factory(), spec), requests, cache, args.progress)
    finally:
        cache.close()

    score_start = time.perf_counter()
    codec = get_codec(args.family)
    decisions = {r.id: rule(cache.answers[r.id], row, codec) for row, r in zip(rows, requests)}
    report = task.score(rows, {row_id: d.text for row_id, d in decisions.items()}, args.family)
    timing["score_s"] = time.perf_counter() - score_start
    with open(out / MBR_ROWS_FILE, "w", encoding="utf-8") as handle:
        for request in requests:
            decision = decisions[request.id]
            handle.write(json.dumps({"id": request.id, **dataclasses.asdict(decision)}, ensure_ascii=False) + "\n")
    no_sample_parsed = sum(d.parsed == 0 for d in decisions.values())
    run = run_record(args, timing, len(requests), cached_before, cache, total_start)
    mbr = {
        "rule": rule_name, "rule_description": rule_description(args.task, rule_name), "sampling": dataclasses.asdict(spec),
        "rows_without_a_parsed_sample": no_sample_parsed,
        "mean_parsed_samples": sum(d.parsed for d in decisions.values()) / (len(decisions) or 1),
        **spread_summary(list(decisions.values())),
    }
    results = {**report.to_json(), "mbr": mbr, "run": run}
    (out / MBR_RESULTS_FILE).write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    write_results_markdown(out)
    return results
