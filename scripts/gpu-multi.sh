#!/usr/bin/env bash
# Multi-GPU checks and benchmarks in one call (device kinds nvidia-h100-x2 / -x4 / -x8), with the
# static binary gzipped in .devz/megatron.gz (or .device/megatron), the peers in scripts/peers/
# and .devz/ (mcore_gpt.py), and megatron-core's wheel in .whl/:
#   nccl   NCCL all-reduce bus bandwidth on every GPU and the fault drill
#   dp     GPT-2 124M on one GPU and data-parallel on two (same call), a short DP training run
#   curves the bf16 loss curves of TP/SP/DP layouts against one GPU's (gpu-check --parallel)
#   tp     a 1.3B GPT with TP=2 (± sequence parallel) against megatron-core's TP=2 and our
#          one-GPU figure
#   pp     the same GPT on 2 pipeline stages for m = 4, 8, 16 micro-batches against one GPU:
#          per-GPU throughput and the measured bubble beside the theoretical 1/(m + 1)
#   scale  a 7B GPT (32 layers, hidden 4096, 32 heads, seq 4096, bf16, distributed optimizer)
#          at each TPxPP of LAYOUTS (DP = GPUs / (TP·PP)), ours then megatron-core's
#          (scripts/peers/mcore_gpt_3d.py, selective recompute) at the same layout; SP=1 adds
#          --sequence-parallel to ours (megatron-core's local spec refuses it without Apex/TE)
#   weak   weak scaling of GPT-2 124M data parallelism over 1, 2, 4 … NPROC GPUs (64
#          sequences per GPU, distributed optimizer with both overlaps)
# PARTS selects (default: all); NPROC is the GPU count (default 2). NVLink multicast stays off
# (the machine's rule). A summary table comes last.
set -uo pipefail
cd "$(dirname "$0")/.."
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export MEGATRON_KERNEL_CACHE=${MEGATRON_KERNEL_CACHE:-/tmp/megatron-kernels}
if [ -f .devz/megatron.gz ]; then
    gunzip -c .devz/megatron.gz >/tmp/megatron && chmod +x /tmp/megatron && bin=/tmp/megatron
else
    bin=.device/megatron
fi
peers=${PEERS:-.devz}
n=${NPROC:-2}
parts=${PARTS:-nccl dp curves tp pp scale weak}
out=${OUT:-/tmp/gpu-multi}
mkdir -p "$out"
status=0
# run NAME CMD…: runs CMD, keeps its output in $out/NAME.txt and shows it.
run() { local name=$1; shift; echo "== $name: $*"; "$@" >"$out/$name.txt" 2>&1; local rc=$?; cat "$out/$name.txt"
        [ "$rc" = 0 ] || { status=$rc; echo "(exit $rc)"; }; }
want() { [[ " $parts " == *" $1 "* ]]; }
field() { grep -o "$2" "$out/$1.txt" 2>/dev/null | tail -1 | grep -o '[0-9.]*$'; }
nvidia-smi --query-gpu=index,name,memory.total --format=csv

if want nccl; then
    run nccl "$bin" launch --nproc-per-node "$n" -- bench-nccl --bytes 1073741824
    # Fault drill: rank 1 stops taking part; rank 0's watchdog must end the run within the timeout.
    echo "== fault drill (expect a failure naming the all-reduce within ~10 s)"
    start=$(date +%s)
    if "$bin" launch --nproc-per-node "$n" -- bench-nccl --bytes 4096 --iterations 5 --timeout-seconds 10 --stall-rank 1 2>&1; then
        echo "FAIL fault drill: the run did not stop"; status=1
    else
        echo "fault drill stopped after $(( $(date +%s) - start )) s" | tee "$out/drill.txt"
    fi
fi

if want dp; then
    gpt2=(--model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5)
    run dp1 "$bin" bench "${gpt2[@]}"
    run dp2 "$bin" launch --nproc-per-node "$n" -- bench "${gpt2[@]}"
    run dp2-overlap "$bin" launch --nproc-per-node "$n" -- bench "${gpt2[@]}" --overlap-grad-reduce
    run dp2-distopt "$bin" launch --nproc-per-node "$n" -- bench "${gpt2[@]}" --use-distributed-optimizer
    run dp2-distopt-overlap "$bin" launch --nproc-per-node "$n" -- bench "${gpt2[@]}" --use-distributed-optimizer \
        --overlap-grad-reduce --overlap-param-gather
    run dp2-train "$bin" launch --nproc-per-node "$n" -- train --model tiny --mock-data --device cuda --bf16 --train-iters 20 \
        --log-interval 5 --eval-interval 20 --eval-iters 2 --overlap-grad-reduce
fi

if { want tp || want scale; } && [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH=/tmp/site
fi

want curves && run curves "$bin" launch --nproc-per-node "$n" -- gpu-check --parallel
if want tp; then
    # megatron-core's shapes (mcore_gpt.py): learned positions, exact GeLU, ffn 4h, tied, vocab 50304, no dropout.
    big=(--device cuda --bf16 --num-layers 24 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048
         --max-position-embeddings 2048 --vocab-size 50304 --make-vocab-size-divisible-by 64 --hidden-dropout 0
         --attention-dropout 0 --micro-batch-size 4 --lr 3e-4 --weight-decay 0.1 --bench-warmup 2 --bench-iters 5)
    run tp1 "$bin" bench "${big[@]}" --global-batch-size 16
    run tp2 "$bin" launch --nproc-per-node "$n" -- bench "${big[@]}" --global-batch-size 16 --tensor-model-parallel-size "$n" ${PROFILE:+--bench-profile}
    [ -n "${SKIP_SP:-}" ] || run tp2-sp "$bin" launch --nproc-per-node "$n" -- bench "${big[@]}" --global-batch-size 16 --tensor-model-parallel-size "$n" --sequence-parallel
    TP=$n LAYERS=24 HIDDEN=2048 HEADS=16 SEQ=2048 MBS=4 NMB=4 run mcore-tp2 torchrun --nproc-per-node "$n" "$peers/mcore_gpt.py"
fi
if want pp; then
    # Pipeline bubble: the 24-layer 1.3B GPT on 2 stages against one GPU at the same global
    # batch, for m = 4, 8, 16 micro-batches of 4 × 2048 tokens.
    big=(--device cuda --bf16 --num-layers 24 --hidden-size 2048 --num-attention-heads 16 --seq-length 2048
         --max-position-embeddings 2048 --vocab-size 50304 --make-vocab-size-divisible-by 64 --hidden-dropout 0
         --attention-dropout 0 --micro-batch-size 4 --lr 3e-4 --weight-decay 0.1 --bench-warmup 2 --bench-iters 4)
    for m in 4 8 16; do
        run pp1-m$m "$bin" bench "${big[@]}" --global-batch-size $((4 * m))
        run pp2-m$m "$bin" launch --nproc-per-node "$n" -- bench "${big[@]}" --global-batch-size $((4 * m)) --pipeline-model-parallel-size "$n"
    done
fi
if want scale; then
    # Issue 8: the 7B GPT in megatron-core's shapes (mcore_gpt_3d.py): learned positions, exact
    # GeLU, ffn 4h, tied embeddings, vocabulary 50304, no dropout; micro batch 1, GBS sequences.
    gbs=${GBS:-32}
    gpt7b=(--device cuda --bf16 --num-layers 32 --hidden-size 4096 --num-attention-heads 32 --seq-length 4096
           --max-position-embeddings 4096 --vocab-size 50304 --make-vocab-size-divisible-by 16 --hidden-dropout 0
           --attention-dropout 0 --micro-batch-size 1 --global-batch-size "$gbs" --lr 3e-4 --weight-decay 0.1
           --use-distributed-optimizer --overlap-grad-reduce --overlap-param-gather --bench-warmup 2 --bench-iters 3)
    for layout in ${LAYOUTS:-2x2 4x1}; do
        tp=${layout%x*} pp=${layout#*x}
        run "7b-$layout" "$bin" launch --nproc-per-node "$n" -- bench "${gpt7b[@]}" \
            --tensor-model-parallel-size "$tp" --pipeline-model-parallel-size "$pp" ${SP:+--sequence-parallel}
        TP=$tp PP=$pp GBS=$gbs LAYERS=32 HIDDEN=4096 HEADS=32 SEQ=4096 MBS=1 STEPS=3 \
            run "mcore-7b-$layout" torchrun --nproc-per-node "$n" scripts/peers/mcore_gpt_3d.py
    done
fi
if want weak; then
    # The same per-GPU work on every count: 64 sequences of 1024 per GPU per iteration.
    gpt2=(--model gpt2-124m --device cuda --bf16 --bench-warmup 2 --bench-iters 5)
    for k in 1 2 4 8; do
        [ "$k" -le "$n" ] || break
        if [ "$k" = 1 ]; then run weak-1 "$bin" bench "${gpt2[@]}"; continue; fi
        run "weak-$k" "$bin" launch --nproc-per-node "$k" -- bench "${gpt2[@]}" --global-batch-size $((64 * k)) \
            --use-distributed-optimizer --overlap-grad-reduce --overlap-param-gather
    done
fi

echo
echo "| run | figure |"
echo "| --- | --- |"
want nccl && echo "| NCCL all-reduce 1 GiB, bus bandwidth | $(grep -o 'busbw[^|]*' "$out/nccl.txt" | tail -1) |"
want nccl && echo "| fault drill | $(cat "$out/drill.txt" 2>/dev/null || echo FAILED) |"
if want dp; then
    for r in dp1 dp2 dp2-overlap dp2-distopt dp2-distopt-overlap; do
        echo "| GPT-2 124M bf16 $r, tokens/s per GPU | $(field $r 'per GPU: tokens/s: [0-9]*' || true)$(grep -q 'per GPU' "$out/$r.txt" || field $r 'tokens/s: [0-9]*') |"
    done
fi
want curves && echo "| bf16 loss curves vs 1 GPU | $(grep -c '^PASS' "$out/curves.txt") pass, $(grep -c '^FAIL' "$out/curves.txt") fail |"
if want tp; then
    echo "| GPT 1.3B bf16, 1 GPU, tokens/s | $(field tp1 'tokens/s: [0-9]*') |"
    echo "| GPT 1.3B bf16, TP=2, tokens/s per GPU | $(field tp2 'per GPU: tokens/s: [0-9]*') |"
    echo "| GPT 1.3B bf16, TP=2 + SP, tokens/s per GPU | $(field tp2-sp 'per GPU: tokens/s: [0-9]*') |"
    echo "| megatron-core TP=2, tokens/s per GPU | $(field mcore-tp2 'tokens/s/gpu=[0-9]*') |"
fi
if want pp; then
    for m in 4 8 16; do
        one=$(field pp1-m$m 'tokens/s: [0-9]*'); two=$(field pp2-m$m 'per GPU: tokens/s: [0-9]*')
        bubble=$(awk -v a="$one" -v b="$two" 'BEGIN { if (a > 0 && b > 0) printf "%.1f%%", 100 * (1 - b / a); else print "n/a" }')
        echo "| GPT 1.3B bf16 PP=2, m=$m: tokens/s per GPU (1 GPU: $one) | $two; bubble $bubble, theory $(awk -v m=$m 'BEGIN { printf "%.1f%%", 100 / (m + 1) }') |"
    done
fi
if want scale; then
    for layout in ${LAYOUTS:-2x2 4x1}; do
        f="$out/7b-$layout.txt"
        echo "| 7B TPxPP=$layout (DP=$((n / (${layout%x*} * ${layout#*x})))), ours | $(grep -o 'per GPU: tokens/s: [0-9]*, TFLOP/s: [0-9.]*' "$f" | tail -1); $(grep -o 'MFU: [0-9.]*%' "$f" | tail -1); peak $(grep -o 'max [0-9.]* GiB' "$f" | tail -1); $(grep -o 'setup [0-9.]* s' "$f" | tail -1) |"
        m="$out/mcore-7b-$layout.txt"
        echo "| 7B TPxPP=$layout, megatron-core | $(grep -o 'tokens/s/gpu=[0-9]* tflops/gpu=[0-9.]* mfu=[0-9.]*% ' "$m" | tail -1)$(grep -o 'maxmem=[0-9.]*GiB' "$m" | tail -1) |"
    done
fi
if want weak; then
    one=$(field weak-1 'tokens/s: [0-9]*')
    for k in 1 2 4 8; do
        [ -f "$out/weak-$k.txt" ] || continue
        v=$([ "$k" = 1 ] && echo "$one" || field "weak-$k" 'per GPU: tokens/s: [0-9]*')
        echo "| GPT-2 124M weak scaling, $k GPU(s): tokens/s per GPU | $v ($(awk -v a="$one" -v b="$v" 'BEGIN { if (a > 0) printf "%.1f%%", 100 * b / a }') of one GPU) |"
    done
fi
exit $status
