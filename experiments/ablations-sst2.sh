#!/usr/bin/env bash
# The paper's own questions as single-cell ablations (issue 13): SST-2, RGP at ε = 8, the offline grid's SST-2 RGP
# settings (all-MiniLM-L6-v2, [CLS] head, polynomial schedule, B 1000, one epoch, C 0.5, lr 1e-3, seed 0), changing one
# thing at a time against the grid's own cell (carriers from the weight, rank 1, projection, separate Q/K/V):
# carriers from the update history, rank 4 and 8, the authors' reconstruction sign, one carrier pair for Q/K/V stacked.
# Records go to results/offline/ablations/; then data-scripts/ablation_table.py writes results/offline/ablations.md
# and ablations.svg (the baseline row is results/offline/runs/sst2-rgp-eps8-seed0). Resumable: finished cells skipped.
# RGP_BIN names another build of rgp; RGP_LAUNCH a launcher, as the grid runs:
#   RGP_LAUNCH="mpirun --bind-to core -np 2" RGP_THREADS=1 bash experiments/ablations-sst2.sh
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
mkdir -p results/offline/ablations runs/ablations
bin="${RGP_BIN:-.build/release/rgp}"
read -ra launch <<< "${RGP_LAUNCH:-}"
run() {  # id, then the one changed option
  local id="$1"; shift
  [[ -f "results/offline/ablations/$id.result.json" ]] && return 0
  "${launch[@]}" "$bin" finetune --threads "${RGP_THREADS:-2}" --task sst2 --method rgp --epsilon 8 --data "$glue" --split standin --batch-size 1000 \
    --epochs 1 --clip 0.5 --lr 1e-3 --head cls --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 \
    --out "runs/ablations/$id" "$@" 2>> "runs/ablations/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/ablations/$id/$f" "results/offline/ablations/$id.$f"; done
}
run sst2-rgp-eps8-history --carrier-source history
run sst2-rgp-eps8-rank4 --rank 4
run sst2-rgp-eps8-rank8 --rank 8
run sst2-rgp-eps8-reference --reconstruction reference
run sst2-rgp-eps8-fused-qkv --fused-qkv
python3 data-scripts/ablation_table.py
