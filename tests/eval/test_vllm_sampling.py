"""vLLM's seeded samples for MBR decoding, against themselves and against the HF backend.

vLLM and HF cannot draw the SAME samples: each has its own random stream (vLLM a per-request
generator inside its sampler, HF torch's global RNG, consumed in a different order over a batch of
N sequences), so equal seeds give different, equally valid samples. What must agree, and is checked:
vLLM samples are a function of (seed, row) alone, whatever else is in the batch; and with a nucleus
so small that only the most likely token survives, sampling on BOTH backends reduces to greedy
decoding and gives the HF greedy answer token for token (same prompt, same stopping, same decoding).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict

import pytest

from metricsft.eval.backends import Request
from metricsft.eval.backends.base import SamplingSpec
from metricsft.eval.backends.hf import HFBackend
from tests.eval.test_vllm_backend import REPO, VLLM_ENV, VLLM_VENV

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (VLLM_VENV / "bin" / "metricsft").exists(),
                       reason=f"no vLLM environment at {VLLM_VENV}: run `bash .ci/build_vllm_env.sh` first"),
]


def test_vllm_samples_are_seeded_per_row_and_reduce_to_hf_greedy(smollm2_path, tmp_path):
    requests = [Request(f"q{i}", [{"role": "user", "content": f"What is {i + 3} times 7?"}], max_new_tokens=8)
                for i in range(3)]
    (tmp_path / "requests.json").write_text(json.dumps([asdict(r) for r in requests]))
    probe = subprocess.run(
        [str(VLLM_VENV / "bin" / "python"), str(REPO / "tests" / "eval" / "servers" / "vllm_samples.py"),
         str(smollm2_path), str(tmp_path / "requests.json")],
        capture_output=True, text=True, timeout=1500, env={**os.environ, **VLLM_ENV},
    )
    assert probe.returncode == 0, probe.stderr[-4000:]
    vllm = json.loads(next(line for line in probe.stdout.splitlines() if line.startswith("RESULT "))[len("RESULT "):])

    assert sorted(vllm["all"]) == ["q0", "q1", "q2"] and all(len(s) == 3 for s in vllm["all"].values())
    assert len({tuple(s) for s in vllm["all"].values()}) == 3  # rows get their own seeds
    assert vllm["tail"] == {k: vllm["all"][k] for k in ("q1", "q2")}  # batch mates change nothing

    hf = HFBackend(str(smollm2_path), dtype="float32", batch_size=3)
    greedy = dict(hf.generate(requests))
    assert vllm["greedy"] == greedy
    assert vllm["nucleus"] == {k: [v, v] for k, v in greedy.items()}
    hf_nucleus = dict(hf.generate_samples(requests[:1], SamplingSpec(n=2, top_p=1e-6, seed=0)))
    assert hf_nucleus == {"q0": vllm["nucleus"]["q0"]}
