#!/usr/bin/env bash
# test_slurm.sh -- `nnlab sweep --slurm` against a real Slurm, not a mock:
# starts a one-node cluster on this machine (munged, slurmctld and slurmd
# as root, every file under a temporary folder, its own ports and munge
# socket, so a Slurm already on the machine is left alone), submits a small
# sweep as a job array, cancels one array task in the middle of its run,
# submits again, waits, merges, and checks that the database holds every
# run exactly once with every epoch, the same epochs as a run never
# stopped, and that merging again changes nothing. Then a tpe: search and
# a successive halving, each as an array of 2 tasks that wait for each
# other's batches and rungs: merged, the same runs with the same bits as
# `nnlab sweep -j 1` on one machine. Stops the daemons it started, by
# their process ids.
#
#   NNLAB_BIN=build-slurm/nnlab-bin tests/test_slurm.sh     (make test-slurm)
#
# Needs root and Debian's slurm-wlm and munge (scripts/install-deps.sh).
# KEEP=1 keeps the temporary folder (logs, databases) for a look after.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
NNLAB=$(realpath "${NNLAB_BIN:-./nnlab}")
pass=0
fail=0

die() { echo "test_slurm: $*" >&2; exit 1; }
ok() { pass=$((pass + 1)); echo "ok    $1"; }
bad() { fail=$((fail + 1)); echo "FAIL  $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

[ "$(id -u)" = 0 ] || die "needs root: munged, slurmctld and slurmd run as root here"
[ -x "$NNLAB" ] || die "$NNLAB: no such program (build it: make test-slurm)"
"$NNLAB" worker --help >/dev/null 2>&1 || die "$NNLAB has no 'worker' command (runner/cli/main.c must dispatch to runner/slurm/)"
for c in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo sqlite3; do
    command -v "$c" >/dev/null || die "$c not found: install slurm-wlm, munge and sqlite3 (scripts/install-deps.sh)"
done

T=$(mktemp -d /tmp/nnlab-slurm.XXXXXX)
chmod 755 "$T"
PIDS=()
stop_daemons() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    stop_daemons
    if [ "${KEEP:-0}" = 1 ]; then echo "test_slurm: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

show_log() { echo "---- $1" >&2; tail -n 30 "$1" >&2 2>/dev/null || echo "(no log)" >&2; }

# ---- a one-node cluster
mkdir -p "$T/munge" "$T/ctld" "$T/spool" "$T/logs" /run/munge
chmod 700 "$T/munge"
mungekey --create --force --keyfile="$T/munge/munge.key" >/dev/null 2>&1 ||
    dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$T/munge/munge.key"
munged --foreground --force --key-file="$T/munge/munge.key" --socket="$T/munge/sock" \
    --pid-file="$T/munge/munged.pid" --log-file="$T/logs/munged.log" --seed-file="$T/munge/seed" \
    >"$T/logs/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$T/munge/sock" ] && break; sleep 0.1; done
[ -S "$T/munge/sock" ] || { show_log "$T/logs/munged.out"; show_log "$T/logs/munged.log"; die "munged did not start"; }

NODE=$(hostname -s)
CPUS=$(nproc)
cat >"$T/slurm.conf" <<EOF
ClusterName=nnlabtest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$T/munge/sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$T/ctld
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/logs/slurmctld.log
SlurmdLogFile=$T/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
KillWait=10
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$T/slurm.conf
slurmctld -D -i >"$T/logs/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -N "$NODE" >"$T/logs/slurmd.out" 2>&1 &
PIDS+=($!)
state=""
for _ in $(seq 120); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
if [ "$state" != idle ]; then
    show_log "$T/logs/slurmctld.out"; show_log "$T/logs/slurmctld.log"
    show_log "$T/logs/slurmd.out"; show_log "$T/logs/slurmd.log"
    die "the node did not come up idle (sinfo says '${state:-nothing}')"
fi
ok "one-node Slurm cluster up ($NODE, $CPUS cpus)"

# ---- the sweep: 4 runs of 4 epochs, about a second per epoch on one core
W=$T/work
mkdir -p "$W"
cat >"$W/exp.yaml" <<EOF
name: slurmtest
base: $REPO/configs/lenet5-relu-max.yaml
set: {train.epochs: 4, data.train_limit: 20000, data.test_limit: 1000}
grid:
  model.activation: [relu, tanh]
seeds: [0, 1]
EOF
cd "$W"
DB=results/nnlab.db
SH=$W/results/slurm/slurmtest
RUNS=4
EPOCHS=4

"$NNLAB" sweep exp.yaml --slurm --print --array-parallel 2 >print.out
check "--print writes the array script and submits nothing" \
    bash -c 'grep -q "^#SBATCH --array=0-3%2$" print.out && grep -q " worker .* --task \"\$SLURM_ARRAY_TASK_ID\" --ntasks 4" print.out && [ ! -e results ]'

"$NNLAB" sweep exp.yaml --slurm --array-parallel 2 >submit1.out
JOB=$(sed -n 's/.*submitted Slurm job \([0-9]*\):.*/\1/p' submit1.out)
[ -n "$JOB" ] || { cat submit1.out; die "no job id in the sweep's output"; }

"$NNLAB" status exp.yaml >status0.out
check "status follows the running job through squeue" \
    bash -c "grep -q '^slurm job $JOB (4 tasks, 1 run each): [0-9]* running, [0-9]* pending' status0.out"

# cancel task 0 once its first epoch is in its shard, before its last
cancelled=0
for _ in $(seq 600); do
    e=$(sqlite3 "$SH/task-0.db" "SELECT epochs_done FROM runs WHERE status = 'running'" 2>/dev/null || true)
    if [ -n "$e" ] && [ "$e" -ge 1 ] && [ "$e" -lt "$EPOCHS" ]; then
        scancel "${JOB}_0"
        cancelled=$e
        break
    fi
    sleep 0.1
done
for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$JOB" 2>/dev/null)" ] && break
    sleep 0.5
done
left=$(sqlite3 "$SH/task-0.db" "SELECT epochs_done || ' ' || status FROM runs" 2>/dev/null || true)
check "task 0 cancelled in the middle of its run (after epoch $cancelled; its shard: ${left:-nothing})" \
    bash -c "[ $cancelled -ge 1 ] && [ -n '$left' ] && ! grep -q finished <<<'$left'"

"$NNLAB" status exp.yaml >status1.out
check "status counts the three finished runs and the one cut short" \
    grep -q "^slurmtest: 4 runs: 3 finished, .*1 to resume\|^slurmtest: 4 runs: 3 finished, 1 running" status1.out

set +e
"$NNLAB" sweep exp.yaml --slurm --wait --poll 1 >submit2.out 2>&1
rc=$?
set -e
JOB2=$(sed -n 's/.*submitted Slurm job \([0-9]*\):.*/\1/p' submit2.out)
check "submitting again runs only task 0, and --wait merges (exit $rc)" \
    bash -c "[ $rc = 0 ] && grep -q 'array tasks 0,' submit2.out && grep -q 'merged 4 shards' submit2.out"
check "task 0 resumed its run from its checkpoint" \
    grep -q "(resuming)" "$SH/logs/${JOB2}_0.out"

q() { sqlite3 "$DB" "$1"; }
check "every planned run exactly once, finished, with every epoch" \
    test "$(q "SELECT count(*), count(DISTINCT key), sum(status = 'finished'), sum(epochs_done)
               FROM runs WHERE experiment = 'slurmtest'")|$(q "SELECT count(*) FROM epochs")" \
         = "$RUNS|$RUNS|$RUNS|$((RUNS * EPOCHS))|$((RUNS * EPOCHS))"
check "epochs 1..$EPOCHS of each run, each once, and a test result" \
    test "$(q "SELECT count(*) FROM (SELECT run_id FROM epochs GROUP BY run_id
               HAVING count(*) = $EPOCHS AND min(epoch) = 1 AND max(epoch) = $EPOCHS)")|$(q "SELECT count(*)
               FROM runs WHERE test_acc IS NOT NULL")" = "$RUNS|$RUNS"

# the cut run again, never stopped, with one core as in the array task
KEY=$(sqlite3 "$SH/task-0.db" "SELECT key FROM runs")
SLURM_CPUS_PER_TASK=1 "$NNLAB" worker exp.yaml --shards "$W/ref" --task 0 --ntasks 4 >ref.out 2>&1
sql_epochs="SELECT e.epoch, e.train_loss, e.train_acc, e.val_loss, e.val_acc FROM epochs e JOIN runs r
            ON r.id = e.run_id WHERE r.key = '$KEY' ORDER BY e.epoch"
check "the resumed run's epochs are bit for bit those of a run never stopped" \
    test "$(sqlite3 "$DB" "$sql_epochs")" = "$(sqlite3 "$W/ref/task-0.db" "$sql_epochs")"

sqlite3 "$DB" .dump >dump1
"$NNLAB" merge --db "$DB" "$SH"/task-*.db >merge2.out
sqlite3 "$DB" .dump >dump2
check "merging again changes nothing" \
    bash -c 'cmp -s dump1 dump2 && grep -q "0 added, 0 updated, 4 unchanged" merge2.out'

"$NNLAB" sweep exp.yaml --slurm >submit3.out
check "a sweep with every run done submits nothing" grep -q "nothing to submit" submit3.out

# ---- tpe: and successive halving: tasks share a live plan
# the tasks look every 0.3 s while they wait (sbatch passes the environment on)
export NNLAB_POLL_MS=300
cat >"$W/tpe.yaml" <<EOF
name: slurmtpe
base: $REPO/configs/lenet5-relu-max.yaml
set: {train.epochs: 2, data.train_limit: 1500, data.test_limit: 200}
tpe:
  samples: 6
  batch: 3
  startup: 2
  seed: 0
  train.lr: {loguniform: [1e-4, 1e-2]}
  train.batch_size: {choice: [64, 128, 256]}
  train.weight_decay: {uniform: [0, 0.001]}
EOF
cat >"$W/halving.yaml" <<EOF
name: slurmhalving
base: $REPO/configs/lenet5-relu-max.yaml
set: {train.epochs: 4, data.train_limit: 1500, data.test_limit: 200}
grid:
  train.lr: [0.0003, 0.001, 0.003, 0.01, 0.03]
prune: {type: halving, min_epochs: 1, eta: 2}
EOF
# Both cases split unevenly between the 2 tasks (tpe: each batch of 3 runs
# 2 and 1; halving: 5 runs, 3 and 2), so one task must wait for the other.
# Split evenly, the tasks could run in step and never wait: the check that
# they waited failed now and then.
run_rows() {
    sqlite3 "$1" "SELECT r.key, r.status, r.epochs_done, r.best_val_acc, (SELECT group_concat(e.epoch || ':' ||
                  e.train_loss || '/' || e.val_loss, ';') FROM epochs e WHERE e.run_id = r.id) FROM runs r
                  WHERE r.experiment = '$2' ORDER BY r.key"
}
# dynamic FILE EXPERIMENT RUNS: FILE.yaml as 2 array tasks (--array-parallel
# 2 caps the array there: its tasks wait for each other, so all must run at
# once), then the same file with 'sweep -j 1' on this machine
dynamic() {
    local name=$1 exp=$2 runs=$3 rc
    set +e
    "$NNLAB" sweep "$name.yaml" --slurm --wait --poll 1 --array-parallel 2 >"$name-submit.out" 2>&1
    rc=$?
    set -e
    check "$name: 2 array tasks, waited for and merged (exit $rc)" \
        bash -c "[ $rc = 0 ] && grep -q 'array tasks 0-1 ' $name-submit.out && grep -q 'merged 2 shards' $name-submit.out"
    check "$name: the tasks waited for each other's runs" \
        grep -q "nothing to run now; waiting" "$W/results/slurm/$exp"/logs/*.out
    "$NNLAB" sweep "$name.yaml" -j 1 --db "$name-ref.db" >"$name-ref.out" 2>&1
    run_rows "$DB" "$exp" >"$name-slurm.rows"
    run_rows "$name-ref.db" "$exp" >"$name-ref.rows"
    check "$name: the same $runs runs as 'sweep -j 1', with the same statuses, epochs and bits" \
        bash -c "[ \$(wc -l <$name-ref.rows) = $runs ] && cmp -s $name-slurm.rows $name-ref.rows"
    "$NNLAB" sweep "$name.yaml" --slurm >"$name-again.out"
    check "$name: submitting again finds the live plan ended" grep -q "nothing to submit" "$name-again.out"
}
dynamic tpe slurmtpe 6
dynamic halving slurmhalving 5
check "halving: the rungs pruned runs, as on one machine" \
    test "$(q "SELECT count(*) FROM runs WHERE experiment = 'slurmhalving' AND status = 'pruned'")" -gt 0

echo "slurm: $pass passed, $fail failed"
[ "$fail" = 0 ]
