"""Scene-text detection (ICDAR2015, MSRA-TD500, CTW1500, Total-Text), the whole task: truth, converter (one
row per image), scorer (ICDAR 2015 style: polygons, do-not-care regions, dataset-level P/R/hmean),
prompt; MBR decoding is not supported (see ``MBR``).

``--src`` is the folder of annotation files (``gt_img_N.txt``, ``IMG_N.gt``, ``0001.txt``);
images are looked up by name (``gt_`` prefix dropped) in ``--images`` (default: ``--src``).
The answer lists the legible regions (polygon + transcription as the label); do-not-care
regions stay out of the answer but are kept in ``meta.truth`` with ``dont_care: true`` so
that scoring can ignore detections inside them. An image with no legible region is skipped
as ``no legible text`` (the answer would be empty).

    metricsft data convert textdet --src ch4_test_gt --images ch4_test_images --format qwen2_vl --out data
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from metricsft.data.common import ConversionError, Converter, ImageOptions, Invalid, TrainingExample, find_image, image_info, make_row, require_image_family
from metricsft.data.textdet_formats import PARSERS, detect_layout
from metricsft.eval.decoding.task_rules import MbrRules
from metricsft.eval.metrics.textdet import TruthRegion, detection_scores, match_image
from metricsft.eval.parsers.geometry import parse_boxes, parse_polygons
from metricsft.eval.report import IOU_HISTOGRAM
from metricsft.eval.tasks.base import Aggregate, Task
from metricsft.templates import Codec, Polygon
from metricsft.templates.rows import DONT_CARE_TEXT, TextRegion, Truth, image_meta, truth_field


# -- truth and prompt -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TextDetTruth(Truth):
    """Scene-text detection: every region of the image, do-not-care ones included."""

    polygons: tuple[TextRegion, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> "TextDetTruth":
        polygons = truth_field(data, "polygons", (list, tuple), where)
        return cls(tuple(TextRegion.from_json(p, where) for p in polygons))


truth_from_json = TextDetTruth.from_json

#: default prompt per key (``codec.prompt(key, ...)``); a family may reword one in templates/prompts.yaml
PROMPTS: dict[str, str] = {
    "textdet": "Detect every text region in the image and give its polygon and transcription.",
}


# -- converter ------------------------------------------------------------------------------------

ANNOTATION_SUFFIXES = (".txt", ".gt")


@dataclass
class TextDetOptions(ImageOptions):
    layout: str = field(default="auto", metadata={"help": "icdar2015, td500, ctw1500, totaltext or auto (detect)"})


def _annotation_files(src: Path) -> list[Path]:
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise ConversionError(f"{src}: no such folder of annotation files")
    files = sorted(p for p in src.iterdir() if p.suffix.lower() in ANNOTATION_SUFFIXES and p.is_file())
    if not files:
        raise ConversionError(f"{src}: no .txt / .gt annotation files")
    return files


def _inside(region: TextRegion, width: int, height: int) -> bool:
    return all(0 <= x <= width and 0 <= y <= height for x, y in region.points)


def convert(options: TextDetOptions, codec: Codec) -> Iterator[dict[str, Any] | Invalid]:
    require_image_family(codec, "textdet")
    if options.layout != "auto" and options.layout not in PARSERS:
        raise ConversionError(f"textdet --layout must be auto or one of {', '.join(PARSERS)}, got {options.layout!r}")
    src = Path(options.src)
    image_root = Path(options.images) if options.images else (src if src.is_dir() else src.parent)
    split = options.split or (src.name if src.is_dir() else src.parent.name)
    for path in _annotation_files(src):
        text = path.read_text(encoding="utf-8-sig")
        layout = options.layout if options.layout != "auto" else detect_layout(path.suffix, text)
        stem = path.stem[3:] if path.stem.startswith("gt_") else path.stem
        image_path = find_image(image_root, stem)
        if image_path is None:
            yield Invalid(str(path), "missing image", f"no image named {stem}.jpg/.png/... in {image_root} (set --images)")
            continue
        info = image_info(image_path, options, codec)
        regions, bad = [], None
        for number, parsed in PARSERS[layout](text):
            if isinstance(parsed, str):
                bad = Invalid(f"{path}:{number}", "malformed row", f"{parsed} ({layout} layout)")
                break
            if not _inside(parsed, info.width, info.height):
                bad = Invalid(f"{path}:{number}", "box outside image", f"polygon {list(parsed.points)} leaves the {info.width}x{info.height} image {image_path.name}")
                break
            regions.append(parsed)
        if bad is not None:
            yield bad
            continue
        legible = [Polygon(r.points, label=codec.clean_label(r.text)) for r in regions if not r.dont_care]
        if not legible:
            yield Invalid(str(path), "no legible text", "every region is do-not-care (or there are none): nothing to answer")
            continue
        try:
            answer = codec.format_polygons(legible, info)
        except ValueError as err:
            yield Invalid(str(path), "polygon not writable", str(err))
            continue
        yield make_row(
            row_id=f"textdet/{split}/{stem}", codec=codec, prompt=codec.prompt("textdet"), answer=answer,
            task="textdet", split=split, images=[image_path], meta={**image_meta(info), "layout": layout}, truth=TextDetTruth(tuple(regions)),
        )


CONVERTER = Converter(TextDetOptions, convert, TrainingExample("scene-text detection (ICDAR2015-style polygons)",
                      "--src icdar2015/train_gt --images icdar2015/train_images --split train", None))


# -- scorer ---------------------------------------------------------------------------------------

class TextDetTask(Task[list[TruthRegion]]):
    name = "textdet"
    max_new_tokens = 1024
    rules = {
        "precision": "matched / detections not ignored, summed over the dataset; a detection > 50% inside one "
        "do-not-care ('###') region is ignored; a malformed region (fewer than 3 points, a coordinate out of range) "
        "is dropped, counted in rejected_regions and as a detection that matches nothing",
        "recall": "matched / cared-for ground-truth polygons, summed over the dataset",
        "hmean": "2PR / (P + R); matching is one-to-one, greedy in index order, at polygon IoU > 0.5 "
        "(ICDAR 2015 script)",
        "parse_failure_rate": "share of images whose answer held no readable polygon or box (scored as no "
        "detections); boxes are read as rectangles; an answer with some valid regions is not a failure",
    }

    plots = (IOU_HISTOGRAM,)

    def gold(self, row: Mapping[str, Any], rid: str, codec: Codec) -> list[TruthRegion]:
        truth = self.typed_truth(row, rid)
        if truth is not None:
            return [TruthRegion(list(region.points), region.dont_care) for region in truth.polygons]  # type: ignore[union-attr]
        parsed = parse_polygons(self.label(row, rid), codec, self.image_info(row))
        if not parsed.ok or parsed.rejected:  # a dropped truth region would silently raise recall
            why = parsed.reason or parsed.rejected[0]
            raise ValueError(f"row {rid!r}: the reference answer is not {codec.family} polygons: {why}")
        return [TruthRegion(p.points, p.label == DONT_CARE_TEXT) for p in parsed.value]  # type: ignore[union-attr]

    @staticmethod
    def _detections(text: str, codec: Codec, row: dict) -> tuple[list, str | None, bool, tuple[str, ...]]:
        """Polygons from the answer; boxes are accepted as rectangles (Qwen2.5-VL spots text with
        ``bbox_2d``), so a box-writing model is scored rather than failed.
        Returns (points, reason, as_boxes, why each malformed region was dropped)."""
        image = Task.image_info(row)
        polygons = parse_polygons(text, codec, image)
        if polygons.ok:
            return [p.points for p in polygons.value], None, False, polygons.rejected  # type: ignore[union-attr]
        boxes = parse_boxes(text, codec, image)
        if boxes.ok:
            rectangles = [((b.x1, b.y1), (b.x2, b.y1), (b.x2, b.y2), (b.x1, b.y2)) for b in boxes.value]  # type: ignore[union-attr]
            return rectangles, None, True, boxes.rejected
        return [], polygons.reason, False, polygons.rejected

    def parse(self, text: str, gold: list[TruthRegion], row: Mapping[str, Any], codec: Codec) -> tuple[Any, str | None]:
        detections, reason, as_boxes, rejected = self._detections(text, codec, row)
        return (detections, as_boxes, rejected), reason

    def score_one(self, gold: list[TruthRegion], value: Any, reason: str | None, row: Mapping[str, Any]) -> dict[str, Any]:
        detections, as_boxes, rejected = value if value is not None else ([], False, ())
        match = match_image(gold, detections, malformed=len(rejected))
        return {
            "matched": match.matched, "truths": match.truths, "detections": match.detections,
            "ignored_detections": match.ignored_detections, "iou": list(match.match_ious), "reason": reason,
            "rejected_regions": list(rejected), "_match": match, "_as_boxes": as_boxes,
        }

    def aggregate(self, entries: list[dict[str, Any]], failure_rate: float, codec: Codec, rows: Sequence[Mapping[str, Any]]) -> Aggregate:
        images = [entry["_match"] for entry in entries]
        read_as_boxes = sum(entry["_as_boxes"] for entry in entries)
        metrics = detection_scores(images)
        metrics["parse_failure_rate"] = failure_rate
        counts = {
            "matched": sum(m.matched for m in images),
            "truth_polygons": sum(m.truths for m in images),
            "detections": sum(m.detections for m in images),
            "ignored_detections": sum(m.ignored_detections for m in images),
            "answers_read_as_boxes": read_as_boxes,
            "rejected_regions": sum(len(entry["rejected_regions"]) for entry in entries),
        }
        return Aggregate(metrics, counts)


TASK = TextDetTask


# -- MBR decoding ---------------------------------------------------------------------------------

# an answer is a set of regions, and choosing among sets needs a region matching across samples that is not built
MBR = MbrRules.none(
    "MBR decoding of textdet is not supported: an answer is a set of polygons, and choosing among sets "
    "needs region matching across samples; evaluate it with --decode greedy"
)
