"""RefCOCO / RefCOCO+ / RefCOCOg referring-expression grounding, the whole task: converter (one grounding
row per expression), scorer (one box per expression), MBR rules, prompt. Its truth, ``BoxTruth``, is
shared with the generic row builder ``metricsft.data.grounding`` and lives in ``metricsft.templates.rows``.

Two layouts are read:

* the official one (``refer`` toolkit): a folder with ``refs(unc).p`` (or ``refs(umd).p`` /
  ``refs(google).p``) and ``instances.json``, images in ``--images`` (COCO train2014). The
  pickle is only opened with ``--allow-pickle`` (see ``safe_pickle``).
* records in JSON / JSONL / Parquet with a phrase, a box and an image: ``bbox`` is COCO
  ``[x, y, w, h]``; ``solution`` / ``bbox_xyxy`` are ``[x1, y1, x2, y2]``; the size comes from
  ``width``/``height`` (checked against the image file) or from the image itself.

    metricsft data convert refcoco --src refcoco/ --images coco/train2014 --allow-pickle --split val --format qwen2_vl --out data
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from metricsft.data.common import ConversionError, Converter, Invalid, TrainingExample, require_image_family
from metricsft.data.grounding import RefCOCOOptions, grounding_row
from metricsft.data.readers import iter_records
from metricsft.data.refcoco_official import convert_official, find_refs_pickle
from metricsft.eval.decoding import rules
from metricsft.eval.decoding.task_rules import Decision, MbrRules, RowRule, nothing_parsed
from metricsft.eval.metrics.grounding import grounding_scores
from metricsft.eval.metrics.iou import box_iou_single
from metricsft.eval.parsers.geometry import parse_boxes
from metricsft.eval.report import IOU_HISTOGRAM
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Box, Codec
from metricsft.templates.rows import BoxTruth


# -- truth and prompt -----------------------------------------------------------------------------

truth_from_json = BoxTruth.from_json

#: default prompt per key (``codec.prompt(key, ...)``); a family may reword one in templates/prompts.yaml
PROMPTS: dict[str, str] = {
    "refcoco": "Please provide the bounding box coordinate of the region this sentence describes: {phrase}.",
}


# -- converter ------------------------------------------------------------------------------------

PHRASE_KEYS = ("phrase", "sentence", "sentences", "expression", "expressions", "referring_expression", "normal_caption", "caption")
XYWH_KEYS = ("bbox",)
XYXY_KEYS = ("bbox_xyxy", "solution")
IMAGE_KEYS = ("image", "image_path", "img_path", "file_name")
ID_KEYS = ("id", "ref_id", "ann_id", "question_id")


def _numbers(value: Any, count: int) -> list[float] | None:
    if isinstance(value, (list, tuple)) and len(value) == count and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return [float(v) for v in value]
    return None


def _record_box(record: dict[str, Any], layout: str) -> list[float] | str:
    """[x1, y1, x2, y2] from a record, or why not."""
    keys = XYWH_KEYS if layout == "xywh" else XYXY_KEYS if layout == "xyxy" else XYWH_KEYS + XYXY_KEYS
    for key in keys:
        if key in record:
            if record[key] is None:
                return f"'{key}' is null (no target box)"
            numbers = _numbers(record[key], 4)
            if numbers is None:
                return f"'{key}' must be 4 numbers, got {str(record[key])[:60]}"
            if key in XYWH_KEYS and layout != "xyxy":
                x, y, w, h = numbers
                return [x, y, x + w, y + h]
            return numbers
    return f"no box field (one of {', '.join(keys)})"


def _phrases(record: dict[str, Any]) -> list[str] | None:
    for key in PHRASE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value.strip():
            return [value.strip()]
        if isinstance(value, list) and value:
            texts = [v.get("sent") or v.get("raw") if isinstance(v, dict) else v for v in value]
            if all(isinstance(t, str) and t.strip() for t in texts):
                return [t.strip() for t in texts]
    return None


def _image_path(record: dict[str, Any], image_root: Path, out_dir: Path) -> Path | None:
    for key in IMAGE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and value:
            return image_root / value
        if isinstance(value, dict) and value.get("bytes"):
            # Parquet exports embed the image; store it once under OUT/images, named by content.
            data = value["bytes"]
            suffix = Path(value.get("path") or "x.jpg").suffix or ".jpg"
            target = out_dir / "images" / (hashlib.sha1(data).hexdigest()[:16] + suffix)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            return target
        if isinstance(value, dict) and value.get("path"):
            return image_root / value["path"]
    return None


def _declared_size(record: dict[str, Any]) -> tuple[int, int] | None:
    for wkey, hkey in (("width", "height"), ("image_width", "image_height")):
        if isinstance(record.get(wkey), int) and isinstance(record.get(hkey), int):
            return (record[wkey], record[hkey])
    size = record.get("image_size")
    if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
        return (size[0], size[1])
    return None


def _convert_records(src: Path, options: RefCOCOOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    if options.layout not in {"auto", "xywh", "xyxy"}:
        raise ConversionError(f"refcoco --layout must be auto, xywh or xyxy (or official), got {options.layout!r}")
    image_root = Path(options.images) if options.images else (src if src.is_dir() else src.parent)
    for index, (where, record) in enumerate(iter_records(src)):
        if isinstance(record, Invalid):
            yield record
            continue
        split = str(record.get("split") or options.split or src.stem)
        if options.split and record.get("split") and record["split"] != options.split:
            continue
        phrases = _phrases(record)
        if phrases is None:
            yield Invalid(where, "malformed row", f"no referring expression (one of {', '.join(PHRASE_KEYS)})")
            continue
        box = _record_box(record, options.layout)
        if isinstance(box, str):
            yield Invalid(where, "no box" if "null" in box or "no box" in box else "malformed row", box)
            continue
        image_path = _image_path(record, image_root, Path(options.out))
        if image_path is None:
            yield Invalid(where, "malformed row", f"no image field (one of {', '.join(IMAGE_KEYS)})")
            continue
        record_id = next((str(record[k]) for k in ID_KEYS if record.get(k) is not None), f"#{index}")
        for k, phrase in enumerate(phrases):
            yield grounding_row(
                codec=codec, options=options, where=where, row_id=f"refcoco/{split}/{record_id}-{k}", split=split,
                phrase=phrase, box_xyxy=box, image_path=image_path, declared_size=_declared_size(record),
            )


def convert(options: RefCOCOOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    require_image_family(codec, "refcoco")
    src = Path(options.src)
    refs = find_refs_pickle(src)
    if refs is not None or options.layout == "official":
        if refs is None:
            raise ConversionError(f"{src}: no refs(*).p file found for --layout official")
        yield from convert_official(refs, options, codec)
    else:
        yield from _convert_records(src, options, codec)


CONVERTER = Converter(RefCOCOOptions, convert, TrainingExample("RefCOCO referring-expression grounding",
                      "--src refcoco/ --images coco/train2014 --allow-pickle --split train", None))


# -- scorer ---------------------------------------------------------------------------------------

BoxCoords = tuple[float, float, float, float]


class RefCOCOTask(Task[BoxCoords]):
    name = "refcoco"
    max_new_tokens = 64
    rules = {
        "acc@0.5": "share of expressions whose FIRST valid predicted box has IoU >= 0.5 with the truth box (pixels of "
        "the original image); malformed boxes (x2 < x1, out of range) are skipped and counted in rejected_boxes; a "
        "zero-area box scores IoU 0; an unparseable answer is a miss",
        "mean_iou": "mean IoU over all expressions, unparseable answers counted as 0",
        "parse_failure_rate": "share of rows where no box could be read (family codec, then lenient fallbacks)",
    }

    plots = (IOU_HISTOGRAM,)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> BoxCoords:
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return truth.box  # type: ignore[union-attr]
        label = parse_boxes(self.label(row, rid), codec, self.image_info(row))
        if not label.ok or label.rejected:
            why = label.reason or label.rejected[0]
            raise ValueError(f"row {rid!r}: the reference answer is not a {codec.family} box: {why}")
        return label.value[0].coords()  # type: ignore[index]

    def parse(self, text: str, gold: BoxCoords, row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        parsed = parse_boxes(text, codec, self.image_info(row))
        return parsed, parsed.reason

    def score_one(self, gold: BoxCoords, value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        iou = box_iou_single(value.value[0].coords(), gold) if reason is None else None
        return {"iou": iou, "reason": reason, "rejected_boxes": list(value.rejected) if value is not None else [],
                "_several_boxes": reason is None and len(value.value) > 1}

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        ious = [entry["iou"] for entry in entries]
        counts = {"parsed": sum(i is not None for i in ious),
                  "answers_with_several_boxes": sum(entry["_several_boxes"] for entry in entries),
                  "rejected_boxes": sum(len(entry["rejected_boxes"]) for entry in entries)}
        sizeless = sum(not (row.get("meta") or {}).get("image_size") for row in rows)
        return Aggregate(grounding_scores(ious), counts, rules=self._rules_without_image_size(sizeless, codec) if sizeless else {})

    def _rules_without_image_size(self, sizeless: int, codec: Codec) -> dict[str, str]:
        """Rows without ``meta.image_size`` are not compared in original pixels: say so in the rule."""
        where = (f"{sizeless} row(s) carry no image size, so their boxes are compared in the family's written "
                 f"coordinates ({codec.space.description}) of a stand-in image; IoU is the same as in original "
                 "pixels because every family maps pixels to written numbers linearly per axis")
        return {"acc@0.5": self.rules["acc@0.5"].replace("(pixels of the original image)", f"({where})")}


TASK = RefCOCOTask


# -- MBR decoding ---------------------------------------------------------------------------------

Found = list[tuple[int, Box]]  # (sample index, its first box) for the samples with a readable box


def _first_boxes(samples: Sequence[str], row: dict, codec: Codec) -> Found:
    """(sample index, first box) of every sample with a readable box; the task scores the first box."""
    image = Task.image_info(row)
    found = []
    for index, text in enumerate(samples):
        parsed = parse_boxes(text, codec, image)
        if parsed.ok and parsed.value:
            found.append((index, parsed.value[0]))
    return found


def _box_spread(boxes: list[tuple[float, ...]]) -> dict[str, Any]:
    return {"mean_pairwise_iou": rules.mean_pairwise_iou(boxes)}


def _box_rule(choose: Callable[[Sequence[str], Found, list[BoxCoords], dict, Codec], Decision]) -> RowRule:
    """A rule over the samples' first boxes; a row where no sample has one keeps its first sample."""
    def rule(samples: Sequence[str], row: dict, codec: Codec) -> Decision:
        found = _first_boxes(samples, row, codec)
        if not found:
            return nothing_parsed(samples)
        return choose(samples, found, [box.coords() for _, box in found], row, codec)

    return rule


def _box_medoid(samples: Sequence[str], found: Found, coords: list[BoxCoords], row: dict, codec: Codec) -> Decision:
    chosen = rules.box_medoid(coords)
    return Decision(samples[found[chosen][0]], list(coords[chosen]), len(found), found[chosen][0], _box_spread(coords))


def _box_coordinate_median(samples: Sequence[str], found: Found, coords: list[BoxCoords], row: dict, codec: Codec) -> Decision:
    median = rules.box_coordinate_median(coords)
    label = found[rules.box_medoid(coords)][1].label  # the phrase, as the most typical sample wrote it
    text = codec.format_boxes([Box(*median, label=label)], Task.image_info(row))
    return Decision(text, list(median), len(found), None, _box_spread(coords))


MBR = MbrRules(
    {"medoid": _box_rule(_box_medoid), "coordinate_median": _box_rule(_box_coordinate_median)},
    {"medoid": "the sample whose first box has the highest mean IoU with the other samples' first boxes",
     "coordinate_median": "the median of each box coordinate over the samples' first boxes, written by the family codec"},
)
