#!/usr/bin/env bash
# valgrind.sh NNLAB -- a short real training run (2 epochs on the first 500
# images, then the test pass) under valgrind memcheck, then `nnlab show` and
# `nnlab check` of a bad config; exits non-zero on any memcheck error or
# definite leak. valgrind 3.19 cannot decode AVX-512; its CPUID does not
# offer it, so nnlab runs its AVX2 kernels there by itself.
set -eu
bin=$1
dir=$(mktemp -d /tmp/nnlab-valgrind-XXXXXX)
trap 'rm -rf "$dir"' EXIT
export OMP_NUM_THREADS=1
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=yes)
start=$(date +%s)
"${vg[@]}" "$bin" train configs/lenet5.yaml --db "$dir/v.db" --quiet --set train.epochs=2 \
    --set data.train_limit=500 --set data.test_limit=100 --set train.threads=1
"${vg[@]}" "$bin" show 1 --db "$dir/v.db" >/dev/null
rc=0
"${vg[@]}" "$bin" check tests/bad/config/syntax-unclosed-flow.yaml 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || { echo "valgrind: check of a bad config exited $rc, expected 2" >&2; exit 1; }
echo "valgrind: no memcheck errors ($(( $(date +%s) - start )) s)"
