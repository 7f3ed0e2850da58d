#!/usr/bin/env bash
# The recorded sweep of the private rows' C and lr on a pair task (issue 13): QNLI stand-in (experiments/splits), RGP at
# ε = 8, all-MiniLM-L6-v2, [CLS] head, polynomial schedule, B 64, one epoch (T 68) per cell, C ∈ {1, 2} × lr ∈ {1e-3,
# 3e-3}. Why: with SST-2's C 0.5 the QNLI private rows collapsed to one class (99.7% of per-example norms clipped,
# median 0.82). Runs as 2 MPI ranks × 1 thread when mpirun is present. Every record goes to results/offline/sweep/
# (selected on dev, as the paper does; the tuning itself is not accounted). Resumable: finished cells are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
mkdir -p results/offline/sweep runs/sweep
source experiments/launch.sh
for clip in 1 2; do
  for lr in 1e-3 3e-3; do
    id="qnli-rgp-eps8-B64-C${clip}-lr${lr}"
    "${launch[@]}" .build/release/rgp finetune --task qnli --split standin --splits-directory experiments/splits \
      --method rgp --epsilon 8 --data "$glue" --batch-size 64 --epochs 1 --clip "$clip" --lr "$lr" --head cls \
      --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 --threads 1 \
      --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
    for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
  done
done
