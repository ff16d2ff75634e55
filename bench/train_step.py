"""One training step (forward + backward) of a real HF model at Qwen2 width and vocabulary:
the model's own CE vs metricsft's logits path vs the fused head, by share of supervised positions.

Model: ``Qwen2ForCausalLM`` (random init, hidden 896, vocabulary 151,936, 2 layers, tied
embeddings: Qwen2-0.5B's head), one 4,096-token sequence whose *last* 2 % / 10 % / 100 %
positions carry labels (a short answer after a long prompt or image, as in VLM grounding SFT),
10 % of those labels digits. Rows:

* ``hf_ce``: ``model(input_ids, labels=labels).loss`` (transformers' own loss: full logits);
* ``logits_ntil``: metricsft before the fused head (``model(input_ids).logits`` + ``MetricLoss``);
* ``fused_ce`` / ``fused_ntil`` / ``fused_dist2``: the head bypassed, ``MetricLoss`` with the head.

Times are medians of interleaved steps in one process (only ratios are meaningful on a shared
machine). Peak memory: on CUDA the allocator's peak during one step; on CPU the RSS high-water
mark of one step in a fresh child process (the model and inputs exist before the mark is reset).
``peak_mib`` includes what is held before the step (weights, inputs; on CPU also the libraries);
``step_mib`` is the peak minus that: the memory the step itself needs (activations, logits, gradients).
``metric_ms``: host time inside metricsft's profiler ranges (metric targets + metric term with its
gradient) in one extra, profiled step; ``metric_share`` = that over the row's median step time. Unlike
the difference of two step times it does not drown in the machine's noise (the term is ~1 ms of a
multi-second CPU step). On CUDA it is the host time that launches the term's small kernels.

    python bench/train_step.py                                  # CPU, fp32 -> bench/results/train_step_cpu.csv
    python bench/train_step.py --device cuda --dtype bfloat16   # -> bench/results/train_step_cuda.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.assets: the cached real Qwen2 tokenizer

ROWS = ["hf_ce", "logits_ntil", "fused_ce", "fused_ntil", "fused_dist2"]
VOCAB, HIDDEN, LAYERS = 151_936, 896, 2


def build_model(device: str, dtype: torch.dtype):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=4864, num_hidden_layers=LAYERS,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=8192, tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config).to(device=device, dtype=dtype)
    model.config.use_cache = False
    return model.train()


def load_tokenizer():
    from transformers import AutoTokenizer

    from tests.assets.build_assets import asset_path

    return AutoTokenizer.from_pretrained(asset_path("qwen2"))


def make_batch(tokenizer, tokens: int, supervised: float, device: str, numeric: float = 0.1, seed: int = 0):
    """[1, T] ids and labels: the last ``supervised`` share labelled, ``numeric`` of those digits."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 20000, (tokens,), generator=gen)
    digits = torch.tensor([tokenizer.convert_tokens_to_ids(d) for d in "0123456789"])
    n_sup = max(2, int(round(supervised * tokens)))
    answer = slice(tokens - n_sup, tokens)
    is_digit = torch.rand(n_sup, generator=gen) < numeric
    ids[answer] = torch.where(is_digit, digits[torch.randint(0, 10, (n_sup,), generator=gen)], ids[answer])
    labels = torch.full_like(ids, -100)
    labels[answer] = ids[answer]
    return ids[None].to(device), labels[None].to(device)


def step_function(row: str, model, tokenizer):
    """A function (ids, labels) -> None doing one forward + backward the way ``row`` trains."""
    from metricsft import MetricLoss
    from metricsft.head_bypass import HiddenStateHead

    if row == "hf_ce":
        def run(ids, labels):
            model(input_ids=ids, labels=labels).loss.backward()

        return run
    mode, loss_name = row.split("_", 1)
    loss_fn = MetricLoss(tokenizer, loss_name, {"gumbel": False} if loss_name == "ntil" else {})
    head = HiddenStateHead(model) if mode == "fused" else None

    def run(ids, labels):
        with head.bypassed() if head is not None else contextlib.nullcontext():
            outputs = model(input_ids=ids)
            loss = loss_fn(outputs, labels, head=head)
        del outputs
        loss.backward()

    return run


def one_step(run, model, ids, labels, device: str) -> float:
    model.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run(ids, labels)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def metric_ms(run, model, ids, labels) -> float:
    """Host milliseconds inside metricsft's own profiler ranges during one step (0 for rows without them)."""
    from metricsft.losses.fused import TARGETS_RANGE, TERM_RANGE

    model.zero_grad(set_to_none=True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run(ids, labels)
    return sum(e.cpu_time_total for e in prof.key_averages() if e.key in (TARGETS_RANGE, TERM_RANGE)) / 1000


def cuda_peak_mib(run, model, ids, labels) -> tuple[float, float]:
    """(peak allocated during one step, memory held before it: weights and inputs), MiB."""
    model.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    run(ids, labels)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20, before / 2**20


def cpu_peak_child(row: str, tokens: int, supervised: float, dtype: str, threads: int) -> tuple[float, float]:
    """(peak RSS during one step in a fresh process, RSS just before it: libraries, weights, inputs), MiB."""
    code = (
        "import sys,json,torch; sys.path.insert(0,%r); import bench.train_step as b; torch.set_num_threads(%d);"
        "from bench.loss_overhead import reset_peak_rss, rss_mib;"
        "m=b.build_model('cpu', getattr(torch,%r)); tok=b.load_tokenizer(); ids,lab=b.make_batch(tok,%d,%r,'cpu');"
        "run=b.step_function(%r,m,tok); reset_peak_rss(); before=rss_mib('VmRSS'); run(ids,lab);"
        "print(json.dumps([rss_mib('VmHWM'), before]))"
    ) % (str(REPO), threads, dtype, tokens, supervised, row)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, before = json.loads(out.stdout.strip().splitlines()[-1])
    return float(peak), float(before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--supervised", type=float, nargs="*", default=[0.02, 0.10, 1.0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", nargs="*", default=ROWS, choices=ROWS)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out_path = args.out or REPO / "bench" / "results" / f"train_step_{args.device}.csv"
    model = build_model(args.device, getattr(torch, args.dtype))
    tokenizer = load_tokenizer()
    records = []
    for share in args.supervised:
        ids, labels = make_batch(tokenizer, args.tokens, share, args.device)
        runs = {row: step_function(row, model, tokenizer) for row in args.rows}
        for run in runs.values():  # warm-up: allocator, kernels, vocabulary tables
            one_step(run, model, ids, labels, args.device)
        samples: dict[str, list[float]] = {row: [] for row in args.rows}
        for _ in range(args.repeats):
            for row, run in runs.items():
                samples[row].append(one_step(run, model, ids, labels, args.device))
        times = {row: statistics.median(v) for row, v in samples.items()}
        metric = {row: metric_ms(run, model, ids, labels) for row, run in runs.items()}
        if args.device == "cuda":
            peaks = {row: cuda_peak_mib(run, model, ids, labels) for row, run in runs.items()}
        else:
            peaks = {row: cpu_peak_child(row, args.tokens, share, args.dtype, args.threads) for row in args.rows}
        base = args.rows[0]
        for row in args.rows:
            (peak, before), (base_peak, base_before) = peaks[row], peaks[base]
            record = {
                "device": args.device, "dtype": args.dtype, "tokens": args.tokens, "supervised": share, "row": row,
                "seconds": round(times[row], 4), "time_vs_" + base: round(times[row] / times[base], 3),
                "peak_mib": round(peak), "memory_vs_" + base: round(peak / base_peak, 3),
                # what the step itself adds over the weights and inputs already held: activations, logits, gradients
                "step_mib": round(peak - before), "step_memory_vs_" + base: round((peak - before) / (base_peak - base_before), 3),
                "metric_ms": round(metric[row], 2), "metric_share": round(metric[row] / 1000 / times[row], 5),
            }
            records.append(record)
            print(json.dumps(record), flush=True)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
