#!/usr/bin/env bash
# The GPU suite in one call on the device machine (no Swift there):
#   here:   swift build -c release --static-swift-stdlib --product megatron
#           mkdir -p .device && cp "$(swift build -c release --show-bin-path)/megatron" .device/
#           cp ../shared/bench/torch_gpt.py .device/     # the GPT-2 peer, rerun in the same call
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
# Benchmarks, each peer rerun in this same call: GPT-2 124M against ../shared/bench/torch_gpt.py,
# Llama 1B against scripts/peers/torch_llama.py (same shapes and batch as --model llama-1b).
bench() { local name=$1; shift; echo "== $name: $*"; "$@" 2>&1 | tee -a "$out/log.txt" > "$out/$name.txt"; local rc=${PIPESTATUS[0]}; cat "$out/$name.txt"; [ "$rc" = 0 ] || status=$rc; }
bench gpt2 "$bin" bench --model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5 --bench-profile
if [ -f .device/torch_gpt.py ]; then bench torch-gpt2 env STEPS=10 python3 .device/torch_gpt.py; fi
bench llama "$bin" bench --model llama-1b --device cuda --bf16 --bench-warmup 2 --bench-iters 3
bench torch-llama env STEPS=5 NMB=8 MBS=4 python3 scripts/peers/torch_llama.py

ours() { [ -f "$out/$1.txt" ] || return; local t m p
    t=$(grep -o 'tokens/s: [0-9]*' "$out/$1.txt" | tail -1 | cut -d' ' -f2); m=$(grep -o 'MFU: [0-9.]*%' "$out/$1.txt" | cut -d' ' -f2)
    p=$(grep -o 'peak GPU memory: [0-9.]* GiB' "$out/$1.txt" | grep -o '[0-9.]* GiB'); echo "| $2 | swift-megatron | ${t:-failed} | ${m:--} | ${p:--} |"; }
peer() { [ -f "$out/$1.txt" ] || return; local t p
    t=$(grep -o 'tokens/s=[0-9]*' "$out/$1.txt" | cut -d= -f2); p=$(grep -o 'maxmem=[0-9.]*GiB' "$out/$1.txt" | cut -d= -f2)
    echo "| $2 | PyTorch (torch.compile) | ${t:-failed} | - | ${p:--} |"; }
echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%F))"
grep -E "^FAIL" "$out/log.txt" | cut -c1-240
echo "checks: $(grep -c '^PASS' "$out/log.txt") passed, $(grep -c '^FAIL' "$out/log.txt") failed"
echo "| config | run | tokens/s | MFU | peak GPU memory |"
echo "| --- | --- | --- | --- | --- |"
ours gpt2 "GPT-2 124M bf16, mb 16, gbs 64"; peer torch-gpt2 "GPT-2 124M bf16, mb 16, gbs 64"
ours llama "Llama 1B bf16, mb 4, gbs 32"; peer torch-llama "Llama 1B bf16, mb 4, gbs 32"
exit $status
