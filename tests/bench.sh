#!/usr/bin/env bash
# bench.sh -- `make bench`: nnlab against PyTorch 1.13 (Debian's python3-torch)
# on the same work, one after the other in this one run. A benchmark, not a
# test: it asserts nothing, and prints medians and ratios.
#
#  1. LeNet-5 (configs/lenet5.yaml: sigmoid/avg, batch 128, 48,000 training +
#     12,000 validation images an epoch) on every kernel path this CPU runs
#     but the portable one (NNLAB_ISA forces each), with 1 and 2 threads,
#     against the PyTorch peer (../shared/peers/pytorch_lenet.py, tensors
#     preloaded) held to the same instruction set: for avx2 PyTorch runs with
#     ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2.
#  2. configs/cnn3x3.yaml (3x3 convolutions of 32 and 64 filters, 421,642
#     parameters) on 12,000 images, best path, 1 thread, against
#     ../shared/peers/pytorch_config.py.
#  3. The act-pool sweep (12 runs) with `nnlab sweep -j 2` against the same
#     12 runs as PyTorch peer processes, two at a time, one thread each.
#
#   EPOCHS=5 THREADS="1 2" PATHS="avx2 avx512" CNN_EPOCHS=3 SWEEP_EPOCHS=2 make bench
#   (CNN_EPOCHS=0 or SWEEP_EPOCHS=0 skips that part)
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}
THREADS=${THREADS:-"1 2"}
CONFIG=${CONFIG:-configs/lenet5.yaml}
CNN_EPOCHS=${CNN_EPOCHS:-3}
SWEEP_EPOCHS=${SWEEP_EPOCHS:-2}
DATA=${NNLAB_DATA:-/usr/share/datasets/fashion-mnist}
PEER=${PEER:-../shared/peers/pytorch_lenet.py}
PEER_CFG=${PEER_CFG:-../shared/peers/pytorch_config.py}
unset NNLAB_ISA
# the paths this CPU runs, fastest first (portable is for correctness, not speed)
if [ -z "${PATHS:-}" ]; then
    PATHS=""
    for isa in avx512 avx2; do
        NNLAB_ISA=$isa ./nnlab check "$CONFIG" >/dev/null 2>&1 && PATHS="$PATHS $isa"
    done
    [ -n "$PATHS" ] || PATHS=portable
fi
best=$(echo $PATHS | cut -d' ' -f1)
have_peer=1
if [ ! -f "$PEER" ] || ! /usr/bin/python3 -c 'import torch, numpy, yaml' 2>/dev/null; then
    have_peer=0
    echo "bench: PyTorch peer unavailable ($PEER with /usr/bin/python3 + torch, numpy, yaml);" \
         "install python3-torch python3-numpy python3-yaml to compare. Timing nnlab alone." >&2
fi
# PyTorch held to the instruction set of an nnlab path
torch_env() {
    case $1 in
    avx2) echo "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 DNNL_MAX_CPU_ISA=AVX2" ;;
    *) echo "" ;;
    esac
}
median_of() { sed -n 's/.*median_epoch_s=\([0-9.]*\).*/\1/p'; }
echo "bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "$(grep -qw avx512f /proc/cpuinfo && echo AVX-512 || echo 'no AVX-512')," \
     "load $(cut -d' ' -f1-3 /proc/loadavg); paths:$PATHS"
summary=()
for isa in $PATHS; do
    for t in $THREADS; do
        echo "== nnlab, $isa kernels, $t thread(s), $EPOCHS epochs"
        out=$(NNLAB_ISA=$isa ./nnlab bench "$CONFIG" --set train.epochs="$EPOCHS" --set train.threads="$t" \
              --data "$DATA" 2>&1)
        echo "$out" | grep -v '^epoch'
        n=$(echo "$out" | median_of)
        p=""
        if [ "$have_peer" = 1 ]; then
            env=$(torch_env "$isa")
            echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $t thread(s)${env:+, $env}"
            pout=$(env $env /usr/bin/python3 "$PEER" fast "$DATA" "$EPOCHS" "$t" 2>&1)
            echo "$pout" | grep -E '^(epoch|RESULT)'
            p=$(echo "$pout" | median_of)
        fi
        summary+=("lenet5 $isa $t $n ${p:--}")
    done
done
if [ "$CNN_EPOCHS" -gt 0 ]; then
    echo "== nnlab, configs/cnn3x3.yaml, $best kernels, 1 thread, 12,000 images, $CNN_EPOCHS epochs"
    out=$(NNLAB_ISA=$best ./nnlab bench configs/cnn3x3.yaml --set train.epochs="$CNN_EPOCHS" \
          --set train.threads=1 --set data.train_limit=12000 --data "$DATA" 2>&1)
    echo "$out" | grep -v '^epoch'
    n=$(echo "$out" | median_of)
    p=""
    if [ "$have_peer" = 1 ]; then
        env=$(torch_env "$best")
        echo "== PyTorch, configs/cnn3x3.yaml, 1 thread${env:+, $env}"
        pout=$(env $env /usr/bin/python3 "$PEER_CFG" configs/cnn3x3.yaml --threads 1 --epochs "$CNN_EPOCHS" \
               --data "$DATA" --set data.train_limit=12000 2>&1)
        echo "$pout" | grep -E '^(epoch|RESULT)'
        p=$(echo "$pout" | median_of)
    fi
    summary+=("cnn3x3 $best 1 $n ${p:--}")
fi
echo
printf '%-8s %-8s %-8s %14s %14s %16s\n' config kernels threads "nnlab s/epoch" "torch s/epoch" "nnlab speed-up"
for row in "${summary[@]}"; do
    set -- $row
    ratio=$( [ "$5" != "-" ] && awk -v a="$4" -v b="$5" 'BEGIN { printf "%.2fx", b / a }' || echo "-")
    printf '%-8s %-8s %-8s %14s %14s %16s\n' "$1" "$2" "$3" "$4" "$5" "$ratio"
done

[ "$SWEEP_EPOCHS" -gt 0 ] || exit 0
echo
echo "== sweep: experiments/act-pool.yaml, 12 runs x $SWEEP_EPOCHS epochs, 2 at a time, $best kernels"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s.%N)
NNLAB_ISA=$best ./nnlab sweep experiments/act-pool.yaml -j 2 --db "$tmp/bench.db" --set train.epochs="$SWEEP_EPOCHS" \
    --data "$DATA" >/dev/null 2>"$tmp/sweep.log" || { tail -5 "$tmp/sweep.log"; exit 1; }
t1=$(date +%s.%N)
ns=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
echo "nnlab sweep -j 2: $ns s"
if [ "$have_peer" = 1 ]; then
    t0=$(date +%s.%N)
    # the same 12 runs, two peer processes at a time
    for act in sigmoid relu; do for pool in avg max; do for seed in 0 1 2; do
        echo "$act $pool $seed"
    done; done; done | xargs -P 2 -L 1 sh -c \
        'ACT=$0 POOL=$1 SEED=$2 /usr/bin/python3 "'"$PEER"'" fast "'"$DATA"'" '"$SWEEP_EPOCHS"' 1 >/dev/null'
    t1=$(date +%s.%N)
    ps=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    echo "PyTorch, 2 processes of 1 thread: $ps s"
    awk -v a="$ns" -v b="$ps" 'BEGIN { printf "sweep speed-up: %.2fx\n", b / a }'
fi
