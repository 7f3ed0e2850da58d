#!/usr/bin/env bash
# The recorded learning-rate sweep of the offline profile's DP head-only row (issue 13), which until then took the
# issue-6 run's lr 3e-3 unswept: SST-2 at ε 8 with the grid cell's settings (all-MiniLM-L6-v2, frozen [CLS] features,
# the head scale 0.1 inside the clip, B 1000, C 0.5, 3 epochs, T 201, polynomial schedule, PRV, seed 0) and
# lr ∈ {1e-3, 1e-2, 3e-2} beside the grid cell's 3e-3 (results/offline/runs/sst2-dphead-eps8-seed0). Runs as 2 MPI
# ranks × 1 thread when mpirun is present. Records go to results/offline/sweep/ (selected on dev, as the paper does;
# the tuning is not accounted). Resumable: finished cells are skipped. RGP_BIN names another build of rgp.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
bin="${RGP_BIN:-.build/release/rgp}"
mkdir -p results/offline/sweep runs/sweep
source experiments/launch.sh
for lr in ${RGP_LRS:-1e-3 1e-2 3e-2}; do
  id="sst2-dphead-eps8-B1000-E3-C0.5-lr$lr"
  [[ -f "results/offline/sweep/$id.result.json" ]] && continue
  "${launch[@]}" "$bin" finetune --task sst2 --method dphead --epsilon 8 --data "$glue" --batch-size 1000 --epochs 3 \
    --clip 0.5 --lr "$lr" --head cls --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 --threads 1 \
    --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
done
