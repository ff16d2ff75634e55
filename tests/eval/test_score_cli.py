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


def _score(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["score", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _converted_refcoco(tmp_path: Path, family: str, n: int) -> Path:
    rows = [{
        "id": f"refcoco/val/{i}", "messages": [{"role": "user", "content": "<image>the cat"}, {"role": "assistant", "content": ""}],
        "meta": {"task": "refcoco", "family": family, "split": "val", "image_size": [1000, 500],
                 "truth": {"box": [100.0, 50.0, 300.0, 150.0], "phrase": "the cat"}},
    } for i in range(n)]
    return _write_jsonl(tmp_path / f"refcoco_{family}.jsonl", rows)


def test_bad_files_are_one_line_errors_naming_file_and_line(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    code, _, err = _score(capsys, "gsm8k", empty)
    assert code == 1 and f"{empty}: no rows" in err

    folder = tmp_path / "predict"
    folder.mkdir()
    _gsm8k_predictions(folder)
    code, _, err = _score(capsys, "gsm8k", folder)
    assert code == 1 and "is a directory" in err and str(folder / "generated_predictions.jsonl") in err

    latin1 = tmp_path / "latin1.jsonl"
    latin1.write_bytes('{"predict": "#### 1", "label": "#### 1"}\n{"predict": "caf\u00e9 #### 2", "label": "#### 2"}\n'.encode("latin-1"))
    code, _, err = _score(capsys, "gsm8k", latin1)
    assert code == 1 and f"{latin1}:2: not UTF-8 (byte 0xe9)" in err

    huge = tmp_path / "huge.jsonl"
    huge.write_text('{"predict": "1", "label": "1"}\n{"predict": "1", "label": "1", "meta": {"x": 1' + "0" * 5000 + "}}\n")
    code, _, err = _score(capsys, "gsm8k", huge)
    assert code == 1 and f"{huge}:2: invalid JSON" in err and len(err.strip().splitlines()) == 1


def test_format_and_task_that_disagree_with_the_rows_are_refused(tmp_path, capsys):
    data = _converted_refcoco(tmp_path, "qwen2_vl", 2)
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "", "label": "", "predict": "<|box_start|>(100,100),(300,300)<|box_end|>"}] * 2)
    code, out, err = _score(capsys, "refcoco", preds, "--data", data, "--format", "paligemma")
    assert code == 1 and out == ""
    assert "row 'refcoco/val/0' was converted for family 'qwen2_vl' but --format is 'paligemma'" in err
    code, _, err = _score(capsys, "gsm8k", preds, "--data", data)
    assert code == 1 and "row 'refcoco/val/0' was converted for task 'refcoco', not 'gsm8k'" in err
    # without --format the rows' own family is used, and the box is the truth exactly
    code, out, _ = _score(capsys, "refcoco", preds, "--data", data, "--json")
    assert code == 0 and json.loads(out)["metrics"]["mean_iou"] == 1.0


def test_predictions_of_the_first_rows_join_with_limit(tmp_path, capsys):
    # LLaMA-Factory's max_samples: 3 predicts the first 3 of the 5 dataset rows
    data = _converted_refcoco(tmp_path, "qwen2_vl", 5)
    answers = ["(100,100),(300,300)", "(100,100),(200,300)", "no idea"]
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "", "label": "", "predict": a} for a in answers])
    code, _, err = _score(capsys, "refcoco", preds, "--data", data)
    assert code == 1 and "pass --limit 3" in err
    code, out, _ = _score(capsys, "refcoco", preds, "--data", data, "--limit", "3", "--json")
    result = json.loads(out)
    assert code == 0 and result["counts"]["rows"] == 3
    assert result["metrics"]["mean_iou"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    with pytest.raises(SystemExit, match="2"):
        main(["score", "refcoco", str(preds), "--data", str(data), "--limit", "0"])
    assert "positive number of rows" in capsys.readouterr().err


def test_text_detection_keeps_the_valid_quads_of_an_answer(tmp_path, capsys):
    quad = "<|quad_start|>({},100),({},100),({},150),({},150)<|quad_end|>"
    label = "".join(quad.format(x, x + 100, x + 100, x) for x in (100, 300, 500))
    predict = (quad.format(100, 200, 200, 100) + "<|quad_start|>(300,100),(400,100)<|quad_end|>"
               + quad.format(500, 600, 600, 500))
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "", "label": label, "predict": predict}])
    code, out, _ = _score(capsys, "textdet", preds, "--format", "qwen2_vl", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["counts"]["matched"] == 2 and result["counts"]["truth_polygons"] == 3
    assert result["counts"]["rejected_regions"] == 1 and result["counts"]["detections"] == 3
    assert result["metrics"]["recall"] == pytest.approx(2 / 3) and result["metrics"]["precision"] == pytest.approx(2 / 3)
    assert result["metrics"]["parse_failure_rate"] == 0.0


def test_results_md_shows_failure_reasons_as_written(tmp_path, capsys):
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "", "label": "<|box_start|>(1,1),(5,5)<|box_end|>", "predict": "none"}])
    code, out, _ = _score(capsys, "refcoco", preds, "--format", "qwen2_vl", "--out", tmp_path / "out")
    assert code == 0
    reasons = [line for line in out.splitlines() if line.startswith("| no box found")]
    assert reasons == ["| no box found (qwen2_vl: expected <\\|box_start\\|>(x1,y1),(x2,y2)<\\|box_end\\|> at character N: "
                       "'none') | 1 |"]
    # no image size in a bare generated_predictions.jsonl: the rule says in which coordinates IoU was taken
    assert "row(s) carry no image size" in out and "integer 0..1000 grid" in out


def test_judge_rules_option(tmp_path, capsys):
    preds = _write_jsonl(tmp_path / "p.jsonl", [{"prompt": "", "label": "[[A]]", "predict": p}
                                                for p in ("[[C]]", "[[A]] or [[B]]")])
    code, out, _ = _score(capsys, "rewardbench", preds, "--json")
    assert code == 0 and json.loads(out)["metrics"]["accuracy"] == pytest.approx((0.5 + 1.0) / 2)
    code, out, _ = _score(capsys, "rewardbench", preds, "--json", "--judge-rules", "strict")
    assert code == 0 and json.loads(out)["metrics"]["accuracy"] == pytest.approx((0.0 + 0.5) / 2)
    with pytest.raises(SystemExit, match="2"):
        main(["score", "gsm8k", str(preds), "--judge-rules", "strict"])
    assert "rewardbench only" in capsys.readouterr().err


@pytest.mark.parametrize("family, tokenizer_fixture", [("qwen2_vl", "qwen2_tokenizer"), ("paligemma", "gemma_loc_tokenizer"),
                                                       ("llava", "llama2_tokenizer"), ("llama", "llama3_tokenizer")])
def test_labels_decoded_like_llamafactory_align_and_a_shuffle_is_refused(tmp_path, capsys, request, family, tokenizer_fixture):
    from metricsft.templates import Box, ImageInfo, get_codec

    tokenizer = request.getfixturevalue(tokenizer_fixture)
    codec, image = get_codec(family), ImageInfo(1000, 500)
    truths = [Box(100, 50, 300, 150, label="the cat"), Box(500, 200, 900, 450, label="a dog")]
    converted, predictions = [], []
    for i, box in enumerate(truths):
        answer = codec.format_boxes([box], image)
        converted.append({"id": f"refcoco/val/{i}", "messages": [{"role": "user", "content": "<image>find it"},
                                                                  {"role": "assistant", "content": answer}],
                          "meta": {"task": "refcoco", "family": family, "image_size": [1000, 500],
                                   "truth": {"box": list(box.coords()), "phrase": box.label}}})
        # LLaMA-Factory writes `label` as the decoded label ids with skip_special_tokens=True
        label = tokenizer.decode(tokenizer(answer, add_special_tokens=False)["input_ids"], skip_special_tokens=True)
        predictions.append({"prompt": "find it", "label": label, "predict": answer})
    data = _write_jsonl(tmp_path / "data.jsonl", converted)
    aligned = _write_jsonl(tmp_path / "aligned.jsonl", predictions)
    code, out, err = _score(capsys, "refcoco", aligned, "--data", data, "--json")
    assert code == 0, err
    assert json.loads(out)["metrics"]["acc@0.5"] == 1.0
    shuffled = _write_jsonl(tmp_path / "shuffled.jsonl", predictions[::-1])
    code, _, err = _score(capsys, "refcoco", shuffled, "--data", data)
    assert code == 1 and "prediction row 0 has the label" in err and "not in the same order" in err


def test_help_lists_every_field_with_its_help(capsys):
    import dataclasses

    from metricsft.eval.score_cli import ScoreArguments

    with pytest.raises(SystemExit):
        main(["score", "--help"])
    # argparse may wrap at a hyphen ("LLaMA- Factory"); compare without whitespace
    help_text = "".join(capsys.readouterr().out.split())
    for spec in dataclasses.fields(ScoreArguments):
        assert "".join(spec.metadata["help"].split()) in help_text, spec.name
    assert "--format{" in help_text and "--json" in help_text and "llamaforclock/rewardbench/gsm8k/arithmetic" in help_text
