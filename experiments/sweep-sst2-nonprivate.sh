#!/usr/bin/env bash
# The recorded learning-rate sweep of the offline profile's non-private rows (issue 13), done separately from the
# private rows' (sweep-sst2-rgp.sh): SST-2, all-MiniLM-L6-v2, [CLS] head, the authors' polynomial schedule (horizon
# 4000, no warmup), a quarter epoch per cell, shuffled batches. RGP (N.P.) (method lowrank: the same rank-1 carriers,
# no clipping, no noise) at B 64 with lr ∈ {3e-5, 1e-4, 3e-4, 1e-3}; Full (N.P.) at B 32 with lr ∈ {2e-5, 5e-5}. Every
# cell's record goes to results/offline/sweep/ (selected on dev, as the paper does). Resumable: finished cells are
# skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
mkdir -p results/offline/sweep runs/sweep
run() {  # id, then finetune options
  local id="$1"; shift
  [[ -f "results/offline/sweep/$id.result.json" ]] && return 0
  .build/release/rgp finetune --task sst2 --data "$glue" --epochs 0.25 --head cls --lr-schedule polynomial \
    --sampling shuffled --seed 0 --out "runs/sweep/$id" "$@" 2>> "runs/sweep/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
}
for lr in 1e-4 3e-4 1e-3; do run "sst2-lowrank-B64-lr$lr" --method lowrank --batch-size 64 --lr "$lr"; done
# 1e-4 was best at the edge of that grid, so the grid extends one step below it.
run "sst2-lowrank-B64-lr3e-5" --method lowrank --batch-size 64 --lr 3e-5
for lr in 2e-5 5e-5; do run "sst2-full-B32-lr$lr" --method full --batch-size 32 --lr "$lr"; done
