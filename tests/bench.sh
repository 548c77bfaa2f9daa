#!/usr/bin/env bash
# bench.sh -- `make bench`: LeNet-5 (sigmoid/avg, batch 128, 48,000 training
# + 12,000 validation images per epoch) trained by nnlab and by the PyTorch
# peer (../shared/peers/pytorch_lenet.py, tensors preloaded), one after the
# other in this one run, with 1 and 2 threads. Prints each side's median
# seconds per epoch and the ratio, nnlab's GFLOP/s, per-layer times and peak
# memory. A benchmark, not a test: it asserts nothing.
# Then the act-pool experiment (12 runs) with `nnlab sweep -j 2` against the
# same 12 runs as PyTorch peer processes, two at a time, one thread each.
#   EPOCHS=5 THREADS="1 2" CONFIG=configs/lenet5.yaml SWEEP_EPOCHS=2 make bench
#   (SWEEP_EPOCHS=0 skips the sweep part)
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5}
THREADS=${THREADS:-"1 2"}
CONFIG=${CONFIG:-configs/lenet5.yaml}
SWEEP_EPOCHS=${SWEEP_EPOCHS:-2}
DATA=${NNLAB_DATA:-/usr/share/datasets/fashion-mnist}
PEER=${PEER:-../shared/peers/pytorch_lenet.py}
have_peer=1
if [ ! -f "$PEER" ] || ! /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null; then
    have_peer=0
    echo "bench: PyTorch peer unavailable ($PEER with /usr/bin/python3 + torch);" \
         "install python3-torch python3-numpy to compare. Timing nnlab alone." >&2
fi
echo "bench: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
     "load $(cut -d' ' -f1-3 /proc/loadavg), $EPOCHS epochs each"
summary=()
for t in $THREADS; do
    echo "== nnlab, $t thread(s)"
    out=$(./nnlab bench "$CONFIG" --set train.epochs="$EPOCHS" --set train.threads="$t" --data "$DATA" 2>&1)
    echo "$out" | grep -v '^epoch'
    n=$(echo "$out" | sed -n 's/.*median_epoch_s=\([0-9.]*\).*/\1/p')
    p=""
    if [ "$have_peer" = 1 ]; then
        echo "== PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $t thread(s)"
        pout=$(/usr/bin/python3 "$PEER" fast "$DATA" "$EPOCHS" "$t" 2>&1)
        echo "$pout" | grep -E '^(epoch|RESULT)'
        p=$(echo "$pout" | sed -n 's/.*median_epoch_s=\([0-9.]*\).*/\1/p')
    fi
    summary+=("$t $n ${p:--}")
done
echo
printf '%-8s %14s %14s %16s\n' threads "nnlab s/epoch" "torch s/epoch" "nnlab speed-up"
for row in "${summary[@]}"; do
    set -- $row
    ratio=$( [ "$3" != "-" ] && awk -v a="$2" -v b="$3" 'BEGIN { printf "%.2fx", b / a }' || echo "-")
    printf '%-8s %14s %14s %16s\n' "$1" "$2" "$3" "$ratio"
done

[ "$SWEEP_EPOCHS" -gt 0 ] || exit 0
echo
echo "== sweep: experiments/act-pool.yaml, 12 runs x $SWEEP_EPOCHS epochs, 2 at a time"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s.%N)
./nnlab sweep experiments/act-pool.yaml -j 2 --db "$tmp/bench.db" --set train.epochs="$SWEEP_EPOCHS" \
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
