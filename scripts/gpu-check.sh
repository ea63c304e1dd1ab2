#!/usr/bin/env bash
# The GPU suite in one call on the device machine (no Swift there):
#   here:   swift build -c release --static-swift-stdlib --product megatron
#           mkdir -p .device && cp "$(swift build -c release --show-bin-path)/megatron" .device/
#           cp ../shared/bench/torch_gpt.py .device/     # the peer, rerun in the same call
#   there:  bash scripts/gpu-check.sh                    (run with carry: [".device"])
# Prints the environment, every kernel against the CPU reference, then the benchmarks, and a
# short table last. Full logs go to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
bin=.device/megatron
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
export MEGATRON_KERNEL_CACHE=${MEGATRON_KERNEL_CACHE:-/tmp/megatron-kernels}
status=0
run() { echo "== $*"; "$@" 2>&1 | tee -a "$out/log.txt"; local rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || status=$rc; }
run nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv
run "$bin" doctor
run "$bin" gpu-check
run "$bin" train --model tiny --mock-data --device cuda --bf16 --train-iters 20 --log-interval 5 --eval-interval 20 --eval-iters 2
run "$bin" bench --model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5 --bench-profile
if [ -f .device/torch_gpt.py ]; then
    run env STEPS=10 python3 .device/torch_gpt.py
fi
echo "== summary"
grep -E "^(FAIL|TORCH|time per|peak)| iteration " "$out/log.txt" | cut -c1-240 | tail -30
echo "checks: $(grep -c '^PASS' "$out/log.txt") passed, $(grep -c '^FAIL' "$out/log.txt") failed"
exit $status
