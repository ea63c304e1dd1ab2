#!/usr/bin/env bash
# Multi-GPU checks in one call (device kind nvidia-h100-x2), with the static binary in .device/:
# NCCL all-reduce bus bandwidth, GPT-2 124M on one GPU and data-parallel on two (same call),
# and a short data-parallel training run. NVLink multicast stays off (the machine's rule).
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export MEGATRON_KERNEL_CACHE=${MEGATRON_KERNEL_CACHE:-/tmp/megatron-kernels}
bin=.device/megatron
n=${NPROC:-2}
status=0
run() { echo "== $*"; "$@" 2>&1; local rc=$?; [ "$rc" = 0 ] || status=$rc; }
run nvidia-smi --query-gpu=index,name,memory.total --format=csv
run "$bin" launch --nproc-per-node "$n" -- bench-nccl --bytes 1073741824
run "$bin" bench --model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5
run "$bin" launch --nproc-per-node "$n" -- bench --model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5
run "$bin" launch --nproc-per-node "$n" -- bench --model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5 --overlap-grad-reduce
run "$bin" launch --nproc-per-node "$n" -- bench --model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5 --use-distributed-optimizer
run "$bin" launch --nproc-per-node "$n" -- train --model tiny --mock-data --device cuda --bf16 --train-iters 20 --log-interval 5 --eval-interval 20 --eval-iters 2 --overlap-grad-reduce
# Fault drill: rank 1 stops taking part; rank 0's watchdog must end the run within the timeout
# (expected: an error naming the all-reduce, and launch exiting non-zero).
echo "== fault drill (expect a failure naming the all-reduce within ~10 s)"
start=$(date +%s)
if "$bin" launch --nproc-per-node "$n" -- bench-nccl --bytes 4096 --iterations 5 --timeout-seconds 10 --stall-rank 1 2>&1; then
    echo "FAIL fault drill: the run did not stop"; status=1
else
    echo "fault drill stopped after $(( $(date +%s) - start )) s"
fi
exit $status
