"""What MBR decoding costs: N samples per row vs one greedy answer, per row, on the vLLM and HF backends.

Both backends load SmolLM2-135M-Instruct once; then greedy and N-sample generation alternate over the
same rows (real GSM8k questions when ../shared/data is present, else fixed arithmetic questions),
`--repeats` times, and the median wall time per row is reported. vLLM gets all N samples of a row in
one request (`SamplingParams(n=N)`); HF uses
`num_return_sequences=N`, one row per call so each row's samples keep their own seed. Answers are cut at
`--max-new-tokens`; sampled answers usually run longer than greedy ones (a greedy answer stops at its
first EOS, N samples run until the LAST of them stops), which is part of the real cost and is reported
as tokens per row. Only ratios measured side by side in one process mean anything on a shared machine.

vLLM rows also show the cost with `share_prompt_prefill` (one extra prefill pass so that the samples
read the prompt from the prefix cache).
Run it from the vLLM environment (it has transformers too, for the HF rows):

    VLLM_CPU_KVCACHE_SPACE=1 .venv-vllm/bin/python bench/mbr_cost.py   # -> bench/results/mbr_cost_cpu.json

On an overloaded machine one engine step can exceed vLLM's 300 s RPC limit: raise
VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def questions(count: int) -> list[str]:
    source = REPO.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
    if source.exists():
        lines = source.read_text().splitlines()[:count]
        return [json.loads(line)["question"] for line in lines]
    return [f"A shop sells {3 + i} boxes of {7 + 2 * i} pencils. How many pencils is that?" for i in range(count)]


def token_count(tokenizer, answers: dict) -> float:
    """Generated tokens per row (a row's samples summed)."""
    texts = [t for v in answers.values() for t in (v if isinstance(v, list) else [v])]
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts) / len(answers)


def measure(backend, requests, passes: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds per row of each named pass, interleaved `repeats` times (drifting load hits all alike).

    vLLM's prefix cache is emptied before every pass: a pass must not reuse the prompts an earlier one
    prefilled.
    """
    seconds: dict[str, list[float]] = {name: [] for name in passes}
    tokens: dict[str, float] = {}
    outputs: dict[str, dict] = {}
    for _ in range(repeats):
        for name, generate in passes.items():
            if hasattr(backend, "llm"):
                backend.llm.reset_prefix_cache()
            start = time.perf_counter()
            answers = dict(generate(requests))
            seconds[name].append((time.perf_counter() - start) / len(requests))
            tokens[name], outputs[name] = token_count(backend.tokenizer, answers), answers
    greedy = statistics.median(seconds["greedy"])
    sampled = [name for name in passes if name != "greedy"]
    return {
        **{name: {"s_per_row": round(statistics.median(v), 3), "x_greedy": round(statistics.median(v) / greedy, 2),
                  "tokens_per_row": round(tokens[name], 1)} for name, v in seconds.items()},
        # the sampling variants must draw the very same samples (same seeds; only the KV cache's origin differs)
        "sampling_variants_equal": all(outputs[name] == outputs[sampled[0]] for name in sampled),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(REPO / ".assets" / "smollm2"))
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backends", default="vllm,hf")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "mbr_cost_cpu.json"))
    args = parser.parse_args()

    import torch

    from metricsft.eval.backends import Request, make_backend
    from metricsft.eval.backends.base import SamplingSpec

    requests = [Request(f"q{i}", [{"role": "user", "content": q}], max_new_tokens=args.max_new_tokens)
                for i, q in enumerate(questions(args.rows))]
    spec = SamplingSpec(n=args.samples, temperature=1.0, top_p=1.0, seed=0)
    results = {
        "model": Path(args.model).name, "rows": len(requests), "samples": args.samples,
        "max_new_tokens": args.max_new_tokens, "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(), "machine": platform.machine(), "backends": {},
    }
    for name in args.backends.split(","):
        kwargs = {"model": args.model, "dtype": "float32"}
        kwargs.update({"max_model_len": 2048} if name == "vllm" else {"batch_size": len(requests)})
        start = time.perf_counter()
        backend = make_backend(name, **kwargs)
        load_s = time.perf_counter() - start
        list(backend.generate(requests[:1]))  # warm-up (first-call allocations are not per-row cost)
        passes = {"greedy": backend.generate, f"mbr_n{spec.n}": lambda rs: backend.generate_samples(rs, spec)}
        if name == "vllm":
            def prefilled_first(rs):
                backend.share_prompt_prefill = True
                try:
                    yield from backend.generate_samples(rs, spec)
                finally:
                    backend.share_prompt_prefill = False

            passes[f"mbr_n{spec.n}_prompts_prefilled_first"] = prefilled_first
        results["backends"][name] = {"load_s": round(load_s, 1), **measure(backend, requests, passes, args.repeats)}
        print(name, json.dumps(results["backends"][name]), file=sys.stderr, flush=True)
        backend.close()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":  # vLLM spawns workers that re-import this module
    main()
