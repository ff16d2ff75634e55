"""vLLM for real, on CPU, in its own environment (`bash .ci/build_vllm_env.sh` builds `.venv-vllm`).

vLLM pins other torch/transformers versions than LLaMA-Factory, so it runs in a subprocess from
that venv; the HF reference runs here. Outputs must be equal token for token in fp32 (greedy).
Each test starts a vLLM engine (~20-80 s on a 2-core machine).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metricsft.eval.backends import Request
from metricsft.eval.backends.hf import HFBackend
from metricsft.eval.backends.openai_compat import OpenAIBackend
from metricsft.eval.runner import EvalArguments, run_eval
from tests.eval.servers.launch import free_loopback_port, running_server
from tests.eval.test_runner import gsm8k_rows, read_jsonl, write_rows

REPO = Path(__file__).resolve().parents[2]
VLLM_VENV = Path(os.environ.get("METRICSFT_VLLM_VENV") or REPO / ".venv-vllm")
# What vLLM needs on a small CPU machine: a small KV cache instead of most of RAM.
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not (VLLM_VENV / "bin" / "metricsft").exists(),
                       reason=f"no vLLM environment at {VLLM_VENV}: run `bash .ci/build_vllm_env.sh` first"),
]


def test_vllm_eval_equals_hf_greedy_on_smollm2(smollm2_path, tmp_path):
    data = write_rows(tmp_path / "gsm8k.jsonl", gsm8k_rows(4))
    common = ["--model", str(smollm2_path), "--data", str(data), "--format", "llama", "--max-new-tokens", "40",
              "--dtype", "float32", "--no-progress", "--json"]
    # The console script (not `python -m`): vLLM spawns workers, which re-import the main module.
    vllm_run = subprocess.run([str(VLLM_VENV / "bin" / "metricsft"), "eval", "gsm8k", "--backend", "vllm",
                               "--out", str(tmp_path / "vllm"), *common],
                              capture_output=True, text=True, timeout=900, env={**os.environ, **VLLM_ENV})
    assert vllm_run.returncode == 0, vllm_run.stderr[-4000:]
    vllm_results = json.loads(vllm_run.stdout)
    assert vllm_results["run"]["backend"]["backend"] == "vllm"
    assert vllm_results["run"]["backend"]["dtype"] == "float32"
    print("vLLM timings (s):", vllm_results["run"]["timing_s"], file=sys.stderr)

    hf_results = run_eval(EvalArguments(task="gsm8k", data=str(data), family="llama", out=str(tmp_path / "hf"),
                                        backend="hf", model=str(smollm2_path), batch_size=4, max_new_tokens=40,
                                        dtype="float32", progress=False))
    answers = lambda out: {c["id"]: c["answer"] for c in read_jsonl(out / "answers.jsonl")}  # noqa: E731
    vllm_answers, hf_answers = answers(tmp_path / "vllm"), answers(tmp_path / "hf")
    assert len(vllm_answers) == 4 and all(a.strip() for a in vllm_answers.values())
    assert vllm_answers == hf_answers
    assert vllm_results["metrics"] == hf_results["metrics"]


def test_openai_client_against_vllm_api_server(smollm2_path):
    port = free_loopback_port()
    command = [str(VLLM_VENV / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server",
               "--model", str(smollm2_path), "--served-model-name", "smollm2", "--host", "127.0.0.1",
               "--port", str(port), "--dtype", "float32", "--enforce-eager", "--max-model-len", "2048"]
    requests = [Request(f"q{i}", [{"role": "user", "content": f"Write the number {i * 7} in words."}],
                        max_new_tokens=16) for i in range(4)]
    with running_server(command, ready_timeout=600, env=VLLM_ENV, base_url=f"http://127.0.0.1:{port}/v1") as url:
        # vLLM's own sampling options, passed through: keep special tokens exactly as the HF backend does.
        client = OpenAIBackend(url, model="smollm2", concurrency=4, timeout=300,
                               extra_body={"skip_special_tokens": False, "spaces_between_special_tokens": False})
        served = list(client.generate(requests))
        client.close()
    assert sorted(row_id for row_id, _ in served) == ["q0", "q1", "q2", "q3"]
    assert dict(served) == dict(HFBackend(str(smollm2_path), dtype="float32", batch_size=4).generate(requests))

