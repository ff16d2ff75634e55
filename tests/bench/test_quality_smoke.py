"""The quality benchmark: its statistics against dense references, its tasks and baselines through the real
codecs and scorer, and (slow) its `--smoke` mode end to end (real LLaMA-Factory training from scratch,
real `metricsft score`). Nothing here asserts which loss is better."""

from __future__ import annotations

import csv
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from bench.quality import analysis, baselines, tasks  # noqa: E402


def test_two_level_bootstrap_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    loss, base = rng.random((5, 30)), rng.random((5, 30))
    loss[1, 4] = np.nan  # a row with no number: left out of that seed's MAE
    got = analysis.two_level_bootstrap(loss, base, "mae", replicates=300, seed=11)

    # Same draws, written as plain loops over replicates and seeds.
    draw = np.random.default_rng(11)
    seed_idx = draw.integers(0, 5, (300, 5))
    row_idx = draw.integers(0, 30, (300, 5, 30))
    samples = []
    for b in range(300):
        per_seed = []
        for k in range(5):
            s, rows = seed_idx[b, k], row_idx[b, k]
            a = [loss[s, r] for r in rows if not math.isnan(loss[s, r])]
            c = [base[s, r] for r in rows]
            per_seed.append(sum(a) / len(a) - sum(c) / len(c))
        samples.append(sum(per_seed) / len(per_seed))
    assert got["ci"] == pytest.approx(tuple(np.percentile(samples, [2.5, 97.5])))


def test_t_interval_and_verdict():
    diffs = [-0.02, -0.01, -0.03, -0.015, -0.025]
    low, high = analysis.t_interval(diffs)
    mean, sd = sum(diffs) / 5, float(np.std(diffs, ddof=1))
    assert (low + high) / 2 == pytest.approx(mean)
    assert (high - low) / 2 == pytest.approx(2.7764451 * sd / math.sqrt(5), rel=1e-6)  # t(0.975, df=4)
    assert analysis.verdict("mae", (-0.03, -0.01)) == "better than ce"
    assert analysis.verdict("mean_iou", (-0.03, -0.01)) == "worse than ce"
    assert analysis.verdict("mae", (-0.03, 0.01)) == "no difference shown"


def _record(task, loss, seed, values):
    rows = [{"id": f"r{i}", "error": v, "ok": v == 0} for i, v in enumerate(values)]
    errors = [abs(v) for v in values]
    return {"task": task, "loss": loss, "size": 64, "seed": seed, "n_eval": len(values), "mae": sum(errors) / len(errors),
            "rmse": math.sqrt(sum(e * e for e in errors) / len(errors)), "exact_match": 0.0,
            "parse_failure_rate": 0.0, "rows": rows, "train_s": 1.0, "eval_s": 1.0}


def test_learned_gate_and_table():
    trivial = {"zero": {"mae": 1.0, "rmse": 1.0, "exact_match": 0.0, "parse_failure_rate": 0.0},
               "mean": {"mae": 0.5, "rmse": 0.6, "exact_match": 0.0, "parse_failure_rate": 0.0},
               "problem_mean": {"mae": 0.4, "rmse": 0.5, "exact_match": 0.0, "parse_failure_rate": 0.0}}
    records = [_record("linreg", "ce", s, [0.2 + 0.01 * s] * 8) for s in range(5)]
    records += [_record("linreg", "dist2", s, [0.1 + 0.01 * s] * 8) for s in range(5)]
    # CE MAE 0.22 <= 0.75 x 0.4: learned, and dist2 is lower on every seed and row.
    summary = analysis.summarise(records, {"linreg": {64: trivial}})
    cell = summary["linreg"][64]
    assert cell["learned"] and cell["best_trivial"] == "problem_mean"
    assert cell["losses"]["dist2"]["vs_ce"]["diff"] == pytest.approx(-0.1)
    assert cell["losses"]["dist2"]["vs_ce"]["verdict"] == "better than ce"
    # CE MAE 0.35 > 0.75 x 0.4: the same difference is not reported as a comparison.
    weak = [dict(r, mae=r["mae"] + 0.15) for r in records if r["loss"] == "ce"] + [r for r in records if r["loss"] != "ce"]
    cell = analysis.summarise(weak, {"linreg": {64: trivial}})["linreg"][64]
    assert not cell["learned"]
    assert cell["losses"]["dist2"]["vs_ce"]["verdict"].startswith("not learned")
    assert "**not learned**" in analysis.markdown({"linreg": {64: cell}})


def test_task_rows_round_trip_through_the_family_codecs():
    from metricsft.templates import get_codec

    for row in tasks.box_rows(random.Random(0), 50, "train"):
        answer = row["messages"][1]["content"]
        parsed = get_codec("qwen2_vl").parse_boxes(f"<|box_start|>{answer}<|box_end|>", tasks.BOX_IMAGE)
        assert parsed.ok and list(parsed.value[0].coords()) == row["meta"]["truth"]["box"]
        size, obj, place_row, place_column = row["messages"][0]["content"].split()
        assert row["meta"]["box_scene"] == {"object": obj, "size": size, "row": place_row, "column": place_column}
        x1, y1, x2, y2 = row["meta"]["truth"]["box"]
        # The centre is the place's centre plus noise (sd 15 grid units; 6 sd + rounding).
        assert abs((x1 + x2) / 2 - tasks.BOX_COLUMNS[place_column]) < 6 * tasks.BOX_CENTRE_NOISE + 1
        assert abs((y1 + y2) / 2 - tasks.BOX_ROWS[place_row]) < 6 * tasks.BOX_CENTRE_NOISE + 1
        # Width / height ~ the object's aspect ratio (each side has log-noise sd 0.08: 6 sd on the ratio).
        ratio = (x2 - x1) / (y2 - y1)
        assert abs(math.log(ratio / tasks.BOX_OBJECTS[obj])) < 6 * math.sqrt(2) * tasks.BOX_SIZE_NOISE + 0.05
    weights = tasks.linreg_weights()
    for row in tasks.linreg_rows(random.Random(0), 200, "train"):
        p = row["meta"]["linreg"]
        w, b = weights[p["problem"]]
        noise = float(row["messages"][1]["content"]) - (w * p["x"] + b)
        assert abs(noise) < 6 * tasks.LINREG_NOISE


def test_baselines_score_through_metricsft_score(tmp_path):
    from bench.quality.run import row_values, score, task_metrics

    train = tasks.linreg_rows(random.Random(1), 400, "train")
    held_out = tasks.linreg_rows(random.Random(2), 60, "eval")
    texts = baselines.baseline_texts("linreg", train, held_out)
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("".join(json.dumps(r) + "\n" for r in held_out))
    maes = {}
    for name, answers in texts.items():
        predictions = tmp_path / f"{name}.jsonl"
        predictions.write_text("".join(json.dumps({"predict": t}) + "\n" for t in answers))
        maes[name] = task_metrics("linreg", row_values("linreg", score("linreg", predictions, eval_file, tmp_path / name)))["mae"]
    # Dense reference for the skyline: per-problem least squares, rounded to two decimals like the answers.
    truth = np.array([float(r["messages"][1]["content"]) for r in held_out])
    ref = []
    for row in held_out:
        same = [t for t in train if t["meta"]["linreg"]["problem"] == row["meta"]["linreg"]["problem"]]
        x = np.array([[t["meta"]["linreg"]["x"], 1.0] for t in same])
        coef = np.linalg.lstsq(x, np.array([float(t["messages"][1]["content"]) for t in same]), rcond=None)[0]
        ref.append(round(float(coef @ [row["meta"]["linreg"]["x"], 1.0]), 2))
    assert maes["least_squares"] == pytest.approx(float(np.abs(np.array(ref) - truth).mean()), abs=1e-9)
    assert maes["least_squares"] < maes["problem_mean"] < maes["zero"]


def test_box_baselines_are_means_of_matching_training_boxes():
    train = tasks.box_rows(random.Random(3), 300, "train")
    held_out = tasks.box_rows(random.Random(4), 20, "eval")
    texts = baselines.box_baselines(train, held_out)
    for row, described, placed in zip(held_out, texts["description_mean"], texts["place_mean"]):
        scene = row["meta"]["box_scene"]
        same = [t["meta"]["truth"]["box"] for t in train if t["meta"]["box_scene"] == scene] or \
            [t["meta"]["truth"]["box"] for t in train]
        mean = [round(sum(b[i] for b in same) / len(same)) for i in range(4)]
        assert described == f"({mean[0]},{mean[1]}),({mean[2]},{mean[3]})"
        here = [t["meta"]["truth"]["box"] for t in train
                if (t["meta"]["box_scene"]["row"], t["meta"]["box_scene"]["column"]) == (scene["row"], scene["column"])]
        assert placed.startswith(f"({round(sum(b[0] for b in here) / len(here))},")


def test_fast_decode_gives_the_tokenizers_own_text():
    from transformers import ByT5Tokenizer

    from bench.quality.generate import _decode

    tokenizer = ByT5Tokenizer()
    special = set(tokenizer.all_special_ids)
    text_ids = tokenizer("(46,90),(352,308) 1.42 ü", add_special_tokens=False)["input_ids"]
    for ids in (text_ids, [tokenizer.pad_token_id] * 3 + text_ids + [tokenizer.eos_token_id, tokenizer.pad_token_id],
                [tokenizer.eos_token_id], tokenizer.convert_tokens_to_ids(["<extra_id_0>"]) + text_ids[:4]):
        assert _decode(tokenizer, special, ids) == tokenizer.decode(ids, skip_special_tokens=True)
    assert _decode(tokenizer, special, text_ids) == "(46,90),(352,308) 1.42 ü"


def test_greedy_vs_mbr_summary_pairs_each_run_with_its_own_greedy_answers():
    records = []
    for seed in range(5):
        record = _record("linreg", "ce", seed, [0.2] * 8)
        record["mbr"] = {**_record("linreg", "ce", seed, [0.1] * 8), "samples": 8, "rule": "median"}
        records.append(record)
    entry = analysis.summarise_mbr(records)["linreg"][64]["ce"]
    assert entry["greedy"] == pytest.approx(0.2) and entry["mbr"] == pytest.approx(0.1)
    assert entry["diff"] == pytest.approx(-0.1) and entry["verdict"] == "better than greedy"
    assert "| linreg (mae) | 64 | ce | 5 | 8, median |" in analysis.mbr_markdown(analysis.summarise_mbr(records))
    assert analysis.summarise_mbr([_record("linreg", "ce", 0, [0.2])]) == {}  # runs without MBR: no table


@pytest.mark.slow
def test_smoke_benchmark_runs_and_writes_finite_results(tmp_path):
    out = tmp_path / "quality-smoke"
    proc = subprocess.run([sys.executable, "-m", "bench.quality.run", "--smoke", "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (out / "runs.csv").open() as handle:
        runs = list(csv.DictReader(handle))
    assert {(r["task"], r["loss"]) for r in runs} == {
        (t, l) for t in ("linreg", "box") for l in ("ce", "ntil", "dist2", "vocab_ce", "uniform_ls")}
    for run in runs:
        assert int(run["steps"]) == 10
        assert math.isfinite(float(run["train_loss"]))
        assert 0.0 <= float(run["parse_failure_rate"]) <= 1.0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["tasks"]) == {"linreg", "box"}
    assert (out / "data_efficiency.png").stat().st_size > 0
    assert "| 64 | ce | 1 |" in (out / "summary.md").read_text()
    assert set(summary["greedy_vs_mbr"]) == {"linreg", "box"}  # every run also decoded with MBR


def test_compositional_skyline_recovers_the_generating_boxes():
    """With many rows the additive fit must land on each description's noise-free box (tasks.box_rows' rule)."""
    import math

    train = tasks.box_rows(random.Random(5), 3000, "train")
    held_out = tasks.box_rows(random.Random(6), 40, "eval")
    texts = baselines.box_baselines(train, held_out)["compositional"]
    for row, text in zip(held_out, texts):
        scene = row["meta"]["box_scene"]
        aspect, side = tasks.BOX_OBJECTS[scene["object"]], tasks.BOX_SIZES[scene["size"]]
        w, h = side * math.sqrt(aspect), side / math.sqrt(aspect)
        cx, cy = tasks.BOX_COLUMNS[scene["column"]], tasks.BOX_ROWS[scene["row"]]
        expected = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        got = [int(v) for v in text.replace("(", "").replace(")", "").split(",")]
        assert all(abs(g - e) <= 4 for g, e in zip(got, expected)), (scene, got, expected)
