"""`--decode mbr` end to end: seeded samples (real HF backend), sample cache and resume, scoring, side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metricsft.eval.backends import Request
from metricsft.eval.backends.base import SamplingSpec
from metricsft.eval.backends.hf import HFBackend
from metricsft.eval.decoding.task_rules import mbr_rule
from metricsft.eval.runner import EvalArguments, run_eval
from metricsft.eval.tasks import get_task
from metricsft.templates import get_codec
from tests.assets.build_assets import asset_path
from tests.eval.servers.models import build_tiny_text_model
from tests.eval.test_backends_hf import images, same_question_other_images  # noqa: F401 (fixture)
from tests.eval.test_runner import read_jsonl, write_rows


@pytest.fixture(scope="module")
def tiny_text_model(tmp_path_factory) -> Path:
    return build_tiny_text_model(asset_path("qwen2"), tmp_path_factory.mktemp("tiny_qwen2"))


def clock_rows(n: int) -> list[dict]:
    return [{
        "id": f"clock/{i}",
        "messages": [{"role": "user", "content": f"Clock {i}: what time does it show? Answer H:MM."},
                     {"role": "assistant", "content": f"{i + 1}:{5 * i:02d}"}],
        "meta": {"task": "clock", "family": "llama", "truth": {"hour": i + 1, "minute": 5 * i}},
    } for i in range(n)]


@pytest.mark.slow  # a real 135M model: ~20 s on 2 idle cores, minutes on a busy machine
def test_smollm2_samples_are_seeded_per_row(smollm2_path):
    backend = HFBackend(str(smollm2_path), dtype="float32")
    requests = [Request(f"q{i}", [{"role": "user", "content": f"What is {i + 3} times 7?"}], max_new_tokens=4)
                for i in range(2)]
    spec = SamplingSpec(n=3, temperature=1.0, seed=0)
    both = dict(backend.generate_samples(requests, spec))
    assert all(len(samples) == 3 for samples in both.values())
    # the same seed gives the same samples, whether the row runs alone or after another row
    assert dict(backend.generate_samples(requests[1:], spec)) == {"q1": both["q1"]}
    # a nucleus so small that only the top token survives is greedy decoding: every sample equals the
    # greedy answer, so prompt building, stopping and decoding are those of the greedy path
    nucleus = dict(backend.generate_samples(requests[:1], SamplingSpec(n=2, top_p=1e-6, seed=0)))
    assert nucleus["q0"] == [dict(backend.generate(requests[:1]))["q0"]] * 2


def test_mbr_run_scores_the_chosen_answers_resumes_and_sits_next_to_greedy(tiny_text_model, tmp_path):
    rows = clock_rows(4)
    data = write_rows(tmp_path / "clock.jsonl", rows)
    base = dict(task="clock", data=str(data), family="llama", out=str(tmp_path / "out"), backend="hf",
                model=str(tiny_text_model), max_new_tokens=5, progress=False)
    mbr = dict(base, decode="mbr", samples=3, seed=7)

    first = run_eval(EvalArguments(**mbr, limit=2))
    assert (first["run"]["generated_now"], first["counts"]["rows"]) == (2, 2)
    kept = {r["id"]: r["answer"] for r in read_jsonl(tmp_path / "out" / "samples.jsonl")}
    second = run_eval(EvalArguments(**mbr))  # a resumed run draws only the missing rows
    assert (second["run"]["generated_now"], second["run"]["from_cache"]) == (2, 2)
    samples = {r["id"]: r["answer"] for r in read_jsonl(tmp_path / "out" / "samples.jsonl")}
    assert len(samples) == 4 and all(samples[k] == v for k, v in kept.items())
    assert all(len(v) == 3 for v in samples.values())

    # the samples are exactly the backend's seeded samples (not reordered, not mixed between rows)
    task = get_task("clock")
    requests = [task.request(r, "llama") for r in rows]
    for r in requests:
        r.max_new_tokens = 5
    spec = SamplingSpec(n=3, seed=7)
    backend = HFBackend(str(tiny_text_model))
    assert dict(backend.generate_samples(requests, spec)) == samples
    assert dict(backend.generate_samples(requests, SamplingSpec(n=3, seed=8))) != samples  # the seed matters

    # scoring = the task's own scoring of the answers the rule chose, recomputed here
    decide = mbr_rule("clock")[1]
    chosen = {r["id"]: decide(samples[r["id"]], r, get_codec("llama")) for r in rows}
    assert second["metrics"] == task.score(rows, {k: d.text for k, d in chosen.items()}, "llama").to_json()["metrics"]
    assert second["mbr"]["rule"] == "circular_median" and second["mbr"]["sampling"]["n"] == 3
    per_row = read_jsonl(tmp_path / "out" / "mbr_rows.jsonl")
    assert [p["text"] for p in per_row] == [chosen[r["id"]].text for r in rows]
    assert [p["parsed"] for p in per_row] == [chosen[r["id"]].parsed for r in rows]

    # other sampling settings on the same cache are refused instead of mixing samples
    with pytest.raises(ValueError, match=r"other settings \(seed: cached 7, now 8\)"):
        run_eval(EvalArguments(**{**mbr, "seed": 8}))

    greedy = run_eval(EvalArguments(**base))
    markdown = (tmp_path / "out" / "results.md").read_text()
    assert "## Greedy vs MBR decoding" in markdown and "MBR (circular_median, N=3, T=1, top-p 1, seed 7)" in markdown
    accuracy_line = next(line for line in markdown.splitlines() if line.startswith("| accuracy |"))
    assert accuracy_line == (f"| accuracy | {greedy['metrics']['accuracy']:.4f} | {second['metrics']['accuracy']:.4f} "
                             f"| {second['metrics']['accuracy'] - greedy['metrics']['accuracy']:+.4f} |")
    assert json.loads((tmp_path / "out" / "results_mbr.json").read_text())["metrics"] == second["metrics"]


def test_textdet_is_refused_before_any_generation(tmp_path):
    args = EvalArguments(task="textdet", data=str(tmp_path / "missing.jsonl"), family="qwen2_vl", out=str(tmp_path),
                         backend="hf", model="unused", decode="mbr")
    with pytest.raises(ValueError, match="textdet is not supported"):
        run_eval(args)
    assert not any(tmp_path.iterdir())


def test_cli_flags_reach_the_run_and_errors_are_one_line(tmp_path, capsys):
    from metricsft.eval.eval_cli import build_parser, eval_main

    common = ["--model", "m", "--backend", "hf", "--data", str(tmp_path / "d.jsonl"), "--format", "llama",
              "--out", str(tmp_path / "out")]
    values = vars(build_parser().parse_args(["gsm8k", *common, "--decode", "mbr", "--samples", "5",
                                             "--temperature", "0.7", "--top-p", "0.9", "--seed", "3",
                                             "--mbr-rule", "median"]))
    assert {k: values[k] for k in ("decode", "samples", "temperature", "top_p", "seed", "mbr_rule")} == {
        "decode": "mbr", "samples": 5, "temperature": 0.7, "top_p": 0.9, "seed": 3, "mbr_rule": "median"}
    assert eval_main(["clock", *common, "--decode", "mbr", "--mbr-rule", "medoid"]) == 1
    assert capsys.readouterr().err.strip() == ("metricsft eval: error: --mbr-rule 'medoid' does not apply to clock; "
                                               "choose one of: circular_median")


@pytest.mark.parametrize("asset", ["tiny_qwen2_vl", "tiny_llava", "tiny_paligemma"])
def test_vlm_samples_expand_the_image_inputs(tiny_model_path, images, asset):
    # num_return_sequences repeats pixel_values / image_grid_thw per sample; a wrong expansion fails or
    # conditions samples on another image, and then the top-token-only samples would not be the greedy answer
    backend = HFBackend(str(tiny_model_path(asset)))
    requests = same_question_other_images(images[:2])
    spec = SamplingSpec(n=2, seed=0)
    samples = dict(backend.generate_samples(requests, spec))
    assert dict(backend.generate_samples(requests[1:], spec)) == {"r1": samples["r1"]}
    greedy = dict(backend.generate(requests))
    nucleus = dict(backend.generate_samples(requests, SamplingSpec(n=2, top_p=1e-6, seed=0)))
    assert nucleus == {k: [v, v] for k, v in greedy.items()}
