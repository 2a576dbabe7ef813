#!/usr/bin/env bash
# Create .venv and install tsattn with its test tools, idempotently.
# On a machine without an NVIDIA GPU the CPU build of torch is installed first, pinned,
# so that resolving tsattn's `torch` requirement never downloads gigabytes of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then
        .venv/bin/pip install -q torch
    else
        .venv/bin/pip install -q "torch==${TSATTN_TORCH_VERSION:-2.13.0}"
    fi
fi
.venv/bin/pip install -q -e '.[dev]'
