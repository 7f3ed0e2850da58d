#!/usr/bin/env bash
# The recorded sweep of batch size and epochs for the private rows on the pair tasks (issue 13), after
# sweep-qnli-rgp.sh showed B 64 leaves nothing to learn (noise σC/B ≥ 7.5e-3 per coordinate on the mean gradient).
# RGP at ε = 8, all-MiniLM-L6-v2, [CLS] head, polynomial schedule, C 1 (the norm scale of pair-task gradients),
# QNLI and QQP stand-ins (experiments/splits), QQP evaluated on its first 4,000 held-out examples as in the grid.
# Cells: "task B epochs lr" lines below (or given as arguments, one quoted cell each). Runs as 2 MPI ranks × 1 thread
# when mpirun is present. Every record goes to results/offline/sweep/ (selected on dev, as the paper does; the tuning
# itself is not accounted). Resumable: cells with a record are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${RGP_GLUE_DIR:-../shared/glue}"
rgp="${RGP_BINARY:-.build/release/rgp}"
mkdir -p results/offline/sweep runs/sweep
source experiments/launch.sh
cells=("$@")
if [ ${#cells[@]} -eq 0 ]; then
  cells=("qqp 256 3 1e-3" "qnli 256 6 1e-3" "qqp 512 6 1e-3" "qnli 512 12 1e-3" "qqp 256 3 3e-3" "qnli 256 6 3e-3")
fi
for cell in "${cells[@]}"; do
  read -r task batch epochs lr <<< "$cell"
  id="${task}-rgp-eps8-B${batch}-E${epochs}-C1-lr${lr}"
  [ -f "results/offline/sweep/$id.result.json" ] && continue
  extra=()
  [ "$task" = qqp ] && extra=(--max-dev 4000)
  "${launch[@]}" "$rgp" finetune --task "$task" --split standin --splits-directory experiments/splits \
    --method rgp --epsilon 8 --data "$glue" --batch-size "$batch" --epochs "$epochs" --clip 1 --lr "$lr" --head cls \
    --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 --threads 1 "${extra[@]}" \
    --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
done
