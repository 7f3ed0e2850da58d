#!/usr/bin/env bash
# The recorded DP-SGD batch-size sweep on QQP (issue 13): QQP stand-in (experiments/splits), DP-SGD at ε = 8 with the
# offline grid's pair-task settings (all-MiniLM-L6-v2, [CLS] head, polynomial schedule, C 1, 3 epochs, lr 5e-4) at
# B 1024 (T 35, σ 0.71) beside the grid's own cell at B 256 (T 138, σ 0.565; results/offline/runs/qqp-dpsgd-eps8-seed0).
# Why: at B 256 DP-SGD predicted "not duplicate" for every held-out pair while its training loss rose above ln 2, and on
# QNLI no lr in {1e-4, 2e-4, 5e-4} moved it off chance (results/offline/sweep/qnli-dpsgd-*): the noise on the mean
# gradient, σC/B per coordinate over 10.6M coordinates (norm ≈ 7 on QQP), swamps a clipped mean of norm ≤ 1, and Adam
# turns every coordinate's noise into an lr-sized step. A larger batch cuts σC/B by 3.2× at the same ε and epochs.
# Runs as 2 MPI ranks × 1 thread when mpirun is present; records go to results/offline/sweep/ (selected on dev, as the
# paper does; the tuning is not accounted). Resumable. RGP_BIN names another build of rgp.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
bin="${RGP_BIN:-.build/release/rgp}"
mkdir -p results/offline/sweep runs/sweep
launch=()
if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  launch=(mpirun --bind-to core -np 2)
fi
for batch in ${RGP_BATCHES:-1024}; do
  id="qqp-dpsgd-eps8-B${batch}-E3-C1-lr5e-4"
  [[ -f "results/offline/sweep/$id.result.json" ]] && continue
  "${launch[@]}" "$bin" finetune --task qqp --split standin --splits-directory experiments/splits \
    --method dpsgd --epsilon 8 --data "$glue" --batch-size "$batch" --epochs 3 --clip 1 --lr 5e-4 --head cls \
    --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 --threads 1 --max-dev 4000 \
    --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
done
