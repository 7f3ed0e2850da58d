#!/usr/bin/env bash
# The recorded hyperparameter sweep of the offline profile's private rows (issue 13): SST-2, RGP at ε = 8, all-MiniLM-L6-v2,
# [CLS] head, the authors' polynomial schedule (horizon 4000, no warmup), B 1000, half an epoch (T 33) per cell,
# C ∈ {0.1, 0.5, 1} × lr ∈ {1e-3, 3e-3}. Every cell's record goes to results/offline/sweep/ (selected on dev, as the
# paper does; the tuning itself is not accounted). Resumable: finished cells are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
mkdir -p results/offline/sweep runs/sweep
for clip in 0.1 0.5 1; do
  for lr in 1e-3 3e-3; do
    id="sst2-rgp-eps8-C${clip}-lr${lr}"
    .build/release/rgp finetune --task sst2 --method rgp --epsilon 8 --data "$glue" --batch-size 1000 --epochs 0.5 \
      --clip "$clip" --lr "$lr" --head cls --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 \
      --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
    for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
  done
done
