"""Run in the vLLM environment: seeded samples from the vLLM backend, printed as one JSON object.

    .venv-vllm/bin/python tests/eval/servers/vllm_samples.py MODEL REQUESTS.json

One engine serves every case a test needs (an engine start costs 20 s to minutes on a small CPU):
``all`` (every row, seed 0), ``tail`` (the rows after the first, alone, seed 0), ``nucleus`` (top-p
1e-6: only the most likely token survives) and ``greedy``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))


def main(model: str, requests_file: str) -> None:
    from metricsft.eval.backends import Request
    from metricsft.eval.backends.base import SamplingSpec
    from metricsft.eval.backends.vllm_offline import VLLMBackend

    requests = [Request(**r) for r in json.loads(Path(requests_file).read_text())]
    backend = VLLMBackend(model, dtype="float32", max_model_len=1024)
    spec = SamplingSpec(n=3, temperature=1.0, seed=0)
    out = {
        "all": dict(backend.generate_samples(requests, spec)),
        "tail": dict(backend.generate_samples(requests[1:], spec)),
        "nucleus": dict(backend.generate_samples(requests, SamplingSpec(n=2, top_p=1e-6, seed=0))),
        "greedy": dict(backend.generate(requests)),
    }
    print("RESULT " + json.dumps(out))


if __name__ == "__main__":  # vLLM spawns workers, which re-import this module
    main(*sys.argv[1:])
