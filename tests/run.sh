#!/usr/bin/env bash
# run.sh -- runs every cmocka test binary given, from the repository root,
# and closes with one line counting the test cases of all of them:
#   "tests: N passed, M failed, K skipped"
# Skipped cases (those that need FashionMNIST, root or gnuplot when it is
# missing) are counted too, so a machine that skips them says so at the end.
# A binary that crashes or exits non-zero without a cmocka summary counts
# as one failure, so nothing can pass silently.
set -u
pass=0 fail=0 skip=0 bad_bins=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
    echo "== $t"
    "$t" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    pass=$((pass + ${p:-0}))
    fail=$((fail + ${f:-0}))
    skip=$((skip + ${s:-0}))
    if [ "$rc" -ne 0 ]; then
        bad_bins+=("$t")
        [ -z "$f" ] && fail=$((fail + 1))
    fi
done
[ ${#bad_bins[@]} -gt 0 ] && echo "failing test binaries: ${bad_bins[*]}"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ ${#bad_bins[@]} -eq 0 ]
