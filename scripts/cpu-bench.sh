#!/usr/bin/env bash
# CPU benchmarks for BENCHMARKS.md, all in one run on one machine:
#  1. fp32 GEMM GFLOP/s at 1024³: the Swift SIMD kernel and the dlopen'd BLAS (if any);
#  2. training throughput at the gpt2-cpu config (6 layers, hidden 384, seq 256, micro batch 8,
#     vocab 50304), swift-megatron against PyTorch (../shared/bench/torch_gpt_cpu.py).
# Usage: scripts/cpu-bench.sh [iterations]   (needs `pip install torch` for the peer)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-5}
swift build -c release --product megatron >/dev/null
bin=$(swift build -c release --show-bin-path)/megatron
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "== GEMM 1024³"
"$bin" bench-gemm --size 1024
echo "== swift-megatron, gpt2-cpu, $iters iterations"
"$bin" bench --model gpt2-cpu --device cpu --bench-warmup 1 --bench-iters "$iters"
if python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch $(python3 -c 'import torch; print(torch.__version__)'), same config"
    STEPS=$iters python3 ../shared/bench/torch_gpt_cpu.py
else
    echo "== PyTorch not installed: peer skipped"
fi
