#!/usr/bin/env bash
# run.sh BUILD SECONDS TARGET... -- runs each libFuzzer target in turn (one
# core: the machine is shared), SECONDS each, growing a corpus in
# BUILD/corpus/TARGET from the seeds: the shipped configs and experiments,
# the bad-input corpus tests/bad/, and fuzz/seeds/TARGET. Crashes land in
# BUILD/crashes/TARGET; the closing lines give each target's executions.
set -u
build=$1 secs=$2
shift 2
status=0
for t in "$@"; do
    corpus=$build/corpus/$t crashes=$build/crashes/$t
    mkdir -p "$corpus" "$crashes"
    seeds=()
    case $t in
    config) seeds=(configs tests/bad/config) ;;
    experiment) seeds=(experiments tests/bad/experiment) ;;
    esac
    [ -d "fuzz/seeds/$t" ] && seeds+=("fuzz/seeds/$t")
    existing=()
    for s in "${seeds[@]}"; do [ -d "$s" ] && existing+=("$s"); done
    log=$build/fuzz-$t.log
    echo "== fuzz_$t for $secs s (log: $log)"
    "$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$crashes/" "$corpus" "${existing[@]}" >"$log" 2>&1 &
    pid=$!
    wait $pid
    rc=$?
    rm -rf "/dev/shm/nnlab-fuzz-$pid" "/tmp/nnlab-fuzz-$pid" # the target's scratch folder
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    echo "fuzz_$t: exit $rc, ${runs:-?} executions, corpus $(ls "$corpus" | wc -l) inputs, crashes: $(ls "$crashes" | wc -l)"
    [ "$rc" -ne 0 ] && status=1
done
exit $status
