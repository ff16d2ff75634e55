"""Forward + backward time and peak memory of each metric loss relative to plain cross-entropy.

Shapes: 2,048 label positions, vocabulary 151,936 (Qwen2, logits wider than the
tokenizer as in the real model) and 32,000 (Llama-2), 1 % / 10 % / 30 % numeric positions. Times are
interleaved with the CE baseline in one process (the machine is shared and noisy: only ratios are
meaningful); each peak-memory number comes from a fresh child process (the RSS high-water mark, reset
once the inputs exist), so one measurement cannot hide inside another's high-water mark.

    python bench/loss_overhead.py                       # all rows -> bench/results/loss_overhead.csv
    python bench/loss_overhead.py --vocab 151936 --numeric 0.1 --repeats 3

Reference rows: ``ntloss`` (PyPI, NTL-WAS; ``pip install ntloss``) when importable. The official NTIL
code is not on PyPI; it is never vendored here.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.assets: the cached real tokenizers

# vocabulary width -> (tokenizer asset, model logits width)
VOCABS = {151936: "qwen2", 32000: "llama2"}
LOSSES = [("ntil", {}), ("dist2", {}), ("emd", {}), ("ntl_was", {}), ("ce", {})]


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    from tests.assets.build_assets import asset_path

    return AutoTokenizer.from_pretrained(asset_path(name))


def make_batch(tokenizer, vocab_width: int, tokens: int, numeric: float, seed: int = 0):
    """[1, T] labels where a fraction ``numeric`` are digits (in runs of 1-4), the rest words."""
    generator = torch.Generator().manual_seed(seed)
    digit_ids = [tokenizer.convert_tokens_to_ids(d) for d in "0123456789"]
    labels = torch.randint(1000, 20000, (tokens,), generator=generator)
    numeric_count = int(round(numeric * tokens))
    prompt = 16  # masked like a prompt; numbers go after it
    is_digit = torch.zeros(tokens, dtype=torch.bool)
    while int(is_digit.sum()) < numeric_count:
        start = int(torch.randint(prompt, tokens - 4, (1,), generator=generator))
        run = min(int(torch.randint(1, 5, (1,), generator=generator)), numeric_count - int(is_digit.sum()))
        for position in range(start, start + run):
            labels[position] = digit_ids[int(torch.randint(0, 10, (1,), generator=generator))]
            is_digit[position] = True
    labels[:prompt] = -100
    logits = torch.randn(1, tokens, vocab_width, generator=generator)
    return logits, labels[None]


def loss_runner(name: str, args: dict, tokenizer, vocab: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A function (logits, labels) -> scalar loss for one row of the table."""
    if name == "ce_torch":  # what transformers' ForCausalLMLoss does: shift, flatten, F.cross_entropy
        def run(logits, labels):
            shifted = F.pad(labels[:, 1:], (0, 1), value=-100)
            return F.cross_entropy(logits.float().view(-1, logits.shape[-1]), shifted.view(-1), ignore_index=-100)

        return run
    if name == "ntloss":
        from ntloss import NTLoss

        ntl = NTLoss(tokenizer=tokenizer, vocab_size=vocab)
        ce = loss_runner("ce_torch", {}, tokenizer, vocab)

        def run(logits, labels):
            shifted = F.pad(labels[:, 1:], (0, 1), value=-100)
            return ce(logits, labels) + 0.3 * ntl(logits, shifted)

        return run
    from metricsft import MetricLoss

    metric = MetricLoss(tokenizer, name, args)

    class Outputs:  # the HF ModelOutput attribute MetricLoss reads
        def __init__(self, logits):
            self.logits = logits

    return lambda logits, labels: metric(Outputs(logits), labels)


def forward_backward(run, logits, labels) -> float:
    leaf = logits.detach().requires_grad_(True)
    start = time.perf_counter()
    loss = run(leaf, labels)
    loss.backward()
    elapsed = time.perf_counter() - start
    if not torch.isfinite(loss):
        raise RuntimeError(f"non-finite loss {float(loss)}")
    return elapsed


def time_rows(rows: list[str], tokenizer, vocab: int, tokens: int, numeric: float, repeats: int) -> dict[str, float]:
    """Median seconds per fwd+bwd of each row, interleaved round-robin with the others."""
    logits, labels = make_batch(tokenizer, vocab, tokens, numeric)
    runners = {row: loss_runner(row, dict(LOSSES).get(row, {}), tokenizer, vocab) for row in rows}
    for run in runners.values():  # warm-up (allocator, vocabulary tables)
        forward_backward(run, logits, labels)
    samples: dict[str, list[float]] = {row: [] for row in rows}
    for _ in range(repeats):
        for row, run in runners.items():
            samples[row].append(forward_backward(run, logits, labels))
    return {row: statistics.median(values) for row, values in samples.items()}


def peak_memory_child(row: str, asset: str, vocab: int, tokens: int, numeric: float) -> tuple[float, float]:
    """In a fresh process: (peak RSS MiB of one fwd+bwd, MiB of it above what the inputs held)."""
    code = (
        "import json,sys,torch; sys.path.insert(0, %r); import bench.loss_overhead as b;"
        "torch.set_num_threads(2);"
        "tok=b.load_tokenizer(%r); logits,labels=b.make_batch(tok,%d,%d,%r);"
        "run=b.loss_runner(%r, dict(b.LOSSES).get(%r, {}), tok, %d);"
        "leaf=logits.requires_grad_(True); b.reset_peak_rss(); base=b.rss_mib('VmRSS');"
        "loss=run(leaf,labels); loss.backward();"
        "peak=b.rss_mib('VmHWM'); print(json.dumps([peak, peak-base]))"
    ) % (str(REPO), asset, vocab, tokens, numeric, row, row, vocab)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, extra = json.loads(out.stdout.strip().splitlines()[-1])
    return peak, extra


def reset_peak_rss() -> None:
    """Reset this process's RSS high-water mark (Linux >= 4.0), so the peak excludes set-up."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def rss_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def available_rows() -> list[str]:
    rows = ["ce_torch", "ce", "ntil", "dist2", "emd", "ntl_was"]
    try:
        import ntloss  # noqa: F401  (optional reference row)

        rows.append("ntloss")
    except ImportError:
        print("ntloss not installed: no reference row (pip install ntloss)", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, nargs="*", default=list(VOCABS), choices=list(VOCABS))
    parser.add_argument("--numeric", type=float, nargs="*", default=[0.01, 0.1, 0.3])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-memory", action="store_true", help="skip the per-row child processes")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "loss_overhead.csv")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = available_rows()
    records = []
    for vocab in args.vocab:
        tokenizer = load_tokenizer(VOCABS[vocab])
        for numeric in args.numeric:
            times = time_rows(rows, tokenizer, vocab, args.tokens, numeric, args.repeats)
            memory = {} if args.no_memory else {r: peak_memory_child(r, VOCABS[vocab], vocab, args.tokens, numeric) for r in rows}
            for row in rows:
                record = {
                    "vocab": vocab, "tokens": args.tokens, "numeric": numeric, "loss": row,
                    "seconds": round(times[row], 4), "time_vs_ce": round(times[row] / times["ce_torch"], 3),
                    "peak_mib": round(memory[row][0]) if memory else "",
                    "extra_mib": round(memory[row][1]) if memory else "",
                    "memory_vs_ce": round(memory[row][0] / memory["ce_torch"][0], 3) if memory else "",
                }
                records.append(record)
                print(json.dumps(record), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
