"""`metricsft score` on LLaMA-Factory-style generated_predictions.jsonl files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from metricsft.cli import main



def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _gsm8k_predictions(tmp_path: Path) -> Path:
    rows = [
        {"prompt": "q0", "predict": "3 + 4 = 7\n#### 7", "label": "Add them.\n#### 7"},
        {"prompt": "q1", "predict": "The answer is 12.", "label": "#### 12"},
        {"prompt": "q2", "predict": "#### 5", "label": "#### 6"},
        {"prompt": "q3", "predict": "#### 1,000", "label": "1000"},
    ]
    return _write_jsonl(tmp_path / "generated_predictions.jsonl", rows)


def test_json_output_is_exactly_one_object_in_a_real_subprocess(tmp_path):
    predictions = _gsm8k_predictions(tmp_path)
    done = subprocess.run([sys.executable, "-m", "metricsft", "score", "gsm8k", str(predictions), "--json"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    # strict: q0, q3 -> 2/4; flexible: q0, q1, q3 -> 3/4
    assert result["metrics"]["strict_match"] == 0.5
    assert result["metrics"]["flexible_extract"] == 0.75
    assert result["family"] == "llama" and result["counts"]["rows"] == 4


def test_markdown_and_out_dir(tmp_path, capsys):
    predictions = _gsm8k_predictions(tmp_path)
    assert main(["score", "gsm8k", str(predictions), "--out", str(tmp_path / "out")]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| gsm8k metric | value | rule |") and "| strict_match | 0.5000 |" in table
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(saved["per_row"]) == 4 and (tmp_path / "out" / "results.md").read_text() == table


def test_bad_input_exits_1_with_a_message(tmp_path, capsys):
    not_predictions = _write_jsonl(tmp_path / "rows.jsonl", [{"messages": []}])
    assert main(["score", "gsm8k", str(not_predictions)]) == 1
    assert "no 'predict' text" in capsys.readouterr().err
    predictions = _gsm8k_predictions(tmp_path)
    assert main(["score", "refcoco", str(predictions)]) == 1
    assert "pass --format" in capsys.readouterr().err
    short_data = _write_jsonl(tmp_path / "data.jsonl", [{"id": "a"}])
    assert main(["score", "gsm8k", str(predictions), "--data", str(short_data)]) == 1
    assert "4 prediction rows but 1 converted rows" in capsys.readouterr().err
    assert main(["score", "gsm8k", str(tmp_path / "missing.jsonl")]) == 1


def test_real_refcoco_boxes_joined_with_converted_data(tmp_path, capsys, shared_data_dir):
    source = (shared_data_dir or Path("<absent>")) / "refcocos" / "refcocos_test.json"
    if not source.exists():
        pytest.skip(f"RefCOCO-style data not present at {source}")
    entries = [e for e in json.loads(source.read_text()) if e["solution"] and not e["categories"]["empty_case"]][:60]
    converted, predictions, expected_ious = [], [], []
    for index, entry in enumerate(entries):
        w, h = entry["width"], entry["height"]
        truth = entry["solution"]
        converted.append({
            "id": f"refcocos/{index}",
            "messages": [{"role": "user", "content": "<image>" + entry["problem"]}, {"role": "assistant", "content": ""}],
            "images": [entry["image"]],
            "meta": {"task": "refcoco", "family": "qwen2_vl", "image_size": [w, h], "truth": {"box": truth}},
        })
        # the dataset's own 0..1000 boxes as the "model answer", every other one shifted right by 80 grid units
        a1, b1, a2, b2 = entry["normalized_solution"]
        shift = 80 if index % 2 else 0
        a1, a2 = min(a1 + shift, 1000), min(a2 + shift, 1000)
        predictions.append({"prompt": entry["problem"], "label": "", "predict": f"<|box_start|>({a1},{b1}),({a2},{b2})<|box_end|>"})
        px = (a1 / 1000 * w, b1 / 1000 * h, a2 / 1000 * w, b2 / 1000 * h)
        iw = max(0.0, min(px[2], truth[2]) - max(px[0], truth[0]))
        ih = max(0.0, min(px[3], truth[3]) - max(px[1], truth[1]))
        union = (px[2] - px[0]) * (px[3] - px[1]) + (truth[2] - truth[0]) * (truth[3] - truth[1]) - iw * ih
        expected_ious.append(iw * ih / union)
    data = _write_jsonl(tmp_path / "refcocos.jsonl", converted)
    preds = _write_jsonl(tmp_path / "generated_predictions.jsonl", predictions)
    assert main(["score", "refcoco", str(preds), "--data", str(data), "--json", "--out", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["family"] == "qwen2_vl"  # taken from the joined rows' meta
    assert result["metrics"]["mean_iou"] == pytest.approx(sum(expected_ious) / len(expected_ious), abs=1e-9)
    assert result["metrics"]["acc@0.5"] == pytest.approx(sum(i >= 0.5 for i in expected_ious) / len(expected_ious))
    assert min(expected_ious[::2]) > 0.9  # the unshifted boxes are the truth up to the grid's rounding
    assert (tmp_path / "out" / "refcoco_iou_hist.png").exists()
