#!/usr/bin/env bash
# MPI tests (issue 14), run by `make test` after the Swift tests: one private run across processes equals the run in
# one process up to summation order, thread ranks (--ranks) equal MPI ranks bit for bit, spends the same ε on the same examples, resumes under any number of processes,
# and adds the noise once. Needs Open MPI (make setup installs it) and a debug build of rgp.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v mpirun >/dev/null || { echo "Tests/MPI: mpirun not found (make setup installs openmpi-bin)" >&2; exit 1; }
# CI runs as root; 2 cores hold more ranks than cores only with --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
swift build --product rgp >/dev/null
rgp=.build/debug/rgp
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 - "$work/glue/SST-2" <<'PY'
# A learnable synthetic SST-2 in the tiny model's vocabulary: label 1 iff the sentence holds w7.
import os, random, sys
os.makedirs(sys.argv[1])
r = random.Random(11)
def rows(n):
    out = ["sentence\tlabel"]
    for i in range(n):
        words = [f"w{10 + r.randrange(60)}" for _ in range(3 + r.randrange(5))]
        if i % 2 == 0:
            words.insert(r.randrange(len(words)), "w7")
        out.append(" ".join(words) + " \t" + ("1" if i % 2 == 0 else "0"))
    return "\n".join(out) + "\n"
open(sys.argv[1] + "/train.tsv", "w").write(rows(96))
open(sys.argv[1] + "/dev.tsv", "w").write(rows(32))
PY
model=Tests/TransformerTests/Fixtures/tiny
finetune() {  # finetune PROCESSES METHOD OUT [extra options]; PROCESSES 0 = without mpirun
  local processes=$1 method=$2 out=$3; shift 3
  local private=()
  [ "$method" = full ] || [ "$method" = lowrank ] || private=(--epsilon 8 --clip 0.5 --seeded-noise)
  local command=("$rgp" finetune --task sst2 --model "$model" --data "$work/glue" --method "$method" "${private[@]}"
                 --batch-size 16 --epochs 2 --lr 3e-3 --max-length 32 --accountant rdp --threads 1 --out "$out" "$@")
  if [ "$processes" = 0 ]; then "${command[@]}"; else mpirun -np "$processes" "${command[@]}"; fi > "$out.log" 2>&1 \
    || { cat "$out.log"; echo "FAILED: $processes processes, $method" >&2; exit 1; }
}
failures=0
check() { echo "$1: $(python3 Tests/MPI/compare_parameters.py "${@:2}" 2>&1 | tr '\n' ' ')" || true
          python3 Tests/MPI/compare_parameters.py "${@:2}" >/dev/null 2>&1 || { echo "  ^ FAILED"; failures=$((failures + 1)); }; }

for method in rgp dpsgd; do
  finetune 0 "$method" "$work/$method-plain"
  finetune 1 "$method" "$work/$method-np1"
  finetune 2 "$method" "$work/$method-np2"
  check "$method: mpirun -np 1 = without mpirun (bit for bit)" "$work/$method-plain" "$work/$method-np1" --tolerance 0
  check "$method: -np 2 = -np 1 (≤ 1e-6 relative)" "$work/$method-np1" "$work/$method-np2"
  # Two thread ranks in one process (--ranks 2) are two MPI ranks: the same shares, dropout seeds and reduction.
  finetune 0 "$method" "$work/$method-ranks2" --ranks 2
  check "$method: --ranks 2 (thread ranks) = -np 2 (bit for bit)" "$work/$method-np2" "$work/$method-ranks2" --tolerance 0
  # A job stopped after 5 steps (checkpoint every step) and resumed under the other number of processes.
  finetune 2 "$method" "$work/$method-resumed" --stop-after-steps 5 --checkpoint-every 1
  finetune 1 "$method" "$work/$method-resumed"
  grep -q "resumed at step 5/" "$work/$method-resumed.log" || { echo "  ^ $method did not resume at step 5"; failures=$((failures + 1)); }
  check "$method: stopped at step 5 under -np 2, resumed under -np 1 = uninterrupted -np 2" "$work/$method-np2" "$work/$method-resumed"
done
# A real kill: one rank of a longer 2-rank job gets SIGKILL once a checkpoint is on disk; the job must stop, leave a
# whole checkpoint, and resume (under 1 rank) to the uninterrupted job's parameters, ε and examples.
long=(--epochs 30 --checkpoint-every 1)
finetune 2 rgp "$work/long-reference" "${long[@]}"
mpirun -np 2 "$rgp" finetune --task sst2 --model "$model" --data "$work/glue" --method rgp --epsilon 8 --clip 0.5 --seeded-noise \
  --batch-size 16 --epochs 30 --lr 3e-3 --max-length 32 --accountant rdp --threads 1 --out "$work/killed" --checkpoint-every 1 \
  > "$work/killed.log" 2>&1 &
job=$!
for _ in $(seq 1 300); do [ -f "$work/killed/state/state.json" ] && break; sleep 0.1; done
sleep 0.5
# The ranks (not mpirun; rgp re-executes itself through /proc/self/exe, so its name is "exe"): kill the last.
victim=$( (pgrep -f -- "--out $work/killed" || true) | while read -r pid; do
  [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != mpirun ] && echo "$pid"; done | tail -1 || true)
if [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null; then
  if wait "$job"; then echo "  ^ the job went on after a rank was killed"; failures=$((failures + 1)); fi
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); assert 0 < s['step'] < 180, s['step']; print('killed job: checkpoint at step', s['step'])" \
    "$work/killed/state/state.json" || { echo "  ^ no whole checkpoint after the kill"; failures=$((failures + 1)); }
  finetune 1 rgp "$work/killed" "${long[@]}"
  check "rgp: a rank SIGKILLed mid-job, resumed under -np 1 = uninterrupted -np 2" "$work/long-reference" "$work/killed"
else
  wait "$job" || true
  echo "  ^ the job finished before a rank could be killed"; failures=$((failures + 1))
fi

for processes in 2 3; do
  if mpirun -np "$processes" "$rgp" selftest mpi 2>/dev/null | tee "$work/selftest.log" | grep -v OpenBLAS; then :; else
    echo "  ^ FAILED"; failures=$((failures + 1)); fi
done
[ "$failures" = 0 ] && echo "Tests/MPI: all passed" || { echo "Tests/MPI: $failures failed" >&2; exit 1; }
