#!/usr/bin/env bash
# Short CUDA check of the training step (about 3 minutes on one recent GPU):
#   1. the CUDA tests of the suite (the backbone on CUDA against the CPU, an autocast training step);
#   2. benchmarks/train_step.py --device cuda: step time in float32, bfloat16 and float16 autocast,
#      FLOP utilisation against a float32 CUDA matmul, and peak CUDA memory per window;
#   3. benchmarks/conv_block.py --device cuda: the encoder blocks against their block size.
# Fails (exit 2) when torch sees no CUDA device instead of falling back to the CPU.
# Usage: bash benchmarks/gpu_check.sh [BATCH]   (default 64 ten-second, 62-channel windows)
set -euo pipefail
cd "$(dirname "$0")/.."
batch="${1:-64}"
python - <<'PY'
import sys

import torch

if not torch.cuda.is_available():
    print("gpu_check.sh: torch reports no CUDA device; nothing was run", file=sys.stderr)
    sys.exit(2)
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
PY
export EMOD_REQUIRE_CUDA=1  # the CUDA tests fail instead of skipping when CUDA is missing
timeout 90 python -m pytest -q -p no:xdist -p no:cacheprovider tests/test_train_efficiency.py -k cuda
timeout 150 python benchmarks/train_step.py --device cuda --batch "$batch" --repeats 3 --skip-previous \
    --precisions bf16,fp16 --memory-batches 8,24 --budget 24
timeout 60 python benchmarks/conv_block.py --device cuda --batch "$batch" --sizes 19,22,24,25,26 --repeats 3
