"""`results.md` of a run directory, with greedy and MBR results side by side when both exist.

A greedy run writes `results.json`, an MBR run `results_mbr.json`; whichever finishes last rebuilds
`results.md` from both files, so the comparison never depends on the order the runs were made in.

    >>> greedy = {"task": "clock", "metrics": {"accuracy": 0.25}, "counts": {"rows": 4}}
    >>> mbr = {"task": "clock", "metrics": {"accuracy": 0.5}, "counts": {"rows": 4},
    ...        "mbr": {"rule": "circular_median", "sampling": {"n": 8, "temperature": 1.0, "top_p": 1.0, "seed": 0}}}
    >>> print(side_by_side_markdown(greedy, mbr).splitlines()[2])
    | accuracy | 0.2500 | 0.5000 | +0.2500 |
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from metricsft.eval.report import Report
from metricsft.eval.runner import run_markdown

GREEDY_RESULTS_FILE, MBR_RESULTS_FILE, MARKDOWN_FILE = "results.json", "results_mbr.json", "results.md"


def _shown(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.4f}"


def side_by_side_markdown(greedy: dict[str, Any], mbr: dict[str, Any]) -> str:
    """One table: each metric under greedy and under MBR, and the difference (MBR - greedy)."""
    sampling = mbr["mbr"]["sampling"]
    header = (f"MBR ({mbr['mbr']['rule']}, N={sampling['n']}, T={sampling['temperature']:g}, "
              f"top-p {sampling['top_p']:g}, seed {sampling['seed']})")
    lines = [f"| {greedy['task']} metric | greedy | {header} | MBR - greedy |", "|---|---:|---:|---:|"]
    names = list(greedy["metrics"]) + [name for name in mbr["metrics"] if name not in greedy["metrics"]]
    for name in names:
        a, b = greedy["metrics"].get(name), mbr["metrics"].get(name)
        both = all(isinstance(v, (int, float)) and not math.isnan(v) for v in (a, b))
        lines.append(f"| {name} | {_shown(a)} | {_shown(b)} | {f'{b - a:+.4f}' if both else 'n/a'} |")
    rows_a, rows_b = greedy["counts"].get("rows"), mbr["counts"].get("rows")
    lines.append(f"| rows | {rows_a} | {rows_b} | |")
    if rows_a != rows_b:
        lines.append("")
        lines.append(f"**Not comparable:** greedy scored {rows_a} rows and MBR {rows_b} (different --limit).")
    return "\n".join(lines) + "\n"


def _section(results: dict[str, Any]) -> str:
    """A run's own tables (metrics with rules, counts, failure reasons, run settings), from its JSON."""
    report = Report(results["task"], results["metrics"], results["counts"], results["failure_reasons"],
                    results["per_row"], results.get("rules", {}))
    text = report.to_markdown().rstrip() + "\n\n" + run_markdown(results["run"])
    mbr = results.get("mbr")
    if mbr:
        spread = ", ".join(f"{k} {v:.4g}" for k, v in mbr.items() if k.startswith("mean_") and isinstance(v, float))
        text += (f"\n\nMBR rule `{mbr['rule']}`: {mbr['rule_description']}. Rows where no sample parsed: "
                 f"{mbr['rows_without_a_parsed_sample']}; parsed samples per row: {mbr['mean_parsed_samples']:.2f}"
                 + (f"; spread: {spread}" if spread else "") + ".")
    return text


def write_results_markdown(out: str | Path) -> Path:
    """Rebuild ``out/results.md`` from the result files present; one run alone keeps its plain layout."""
    out = Path(out)
    found = {name: json.loads((out / name).read_text()) for name in (GREEDY_RESULTS_FILE, MBR_RESULTS_FILE)
             if (out / name).exists()}
    greedy, mbr = found.get(GREEDY_RESULTS_FILE), found.get(MBR_RESULTS_FILE)
    if greedy and mbr:
        text = "\n\n".join([
            "## Greedy vs MBR decoding\n\n" + side_by_side_markdown(greedy, mbr).rstrip(),
            "## Greedy\n\n" + _section(greedy), "## MBR\n\n" + _section(mbr),
        ])
    elif greedy or mbr:
        text = _section(greedy or mbr)  # type: ignore[arg-type]
    else:
        raise FileNotFoundError(f"{out}: neither {GREEDY_RESULTS_FILE} nor {MBR_RESULTS_FILE} to write results.md from")
    path = out / MARKDOWN_FILE
    path.write_text(text.rstrip() + "\n")
    return path
