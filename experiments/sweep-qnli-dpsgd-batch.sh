#!/usr/bin/env bash
# The recorded DP-SGD batch-size sweep on QNLI (issue 13): QNLI stand-in (experiments/splits), DP-SGD at ε = 8 with the
# offline grid's QNLI settings (all-MiniLM-L6-v2, [CLS] head, polynomial schedule, C 1, 6 epochs, lr 5e-4) at B 1024
# (T 24, σ 1.02) beside the grid's own cell at B 256 (T 102, σ 0.74; results/offline/runs/qnli-dpsgd-eps8-seed0).
# Why: at B 256 no lr in {1e-4, 2e-4, 5e-4} moved QNLI DP-SGD off chance (results/offline/sweep/qnli-dpsgd-*; training
# loss at ln 2, or rising above it at 5e-4): the noise on the mean gradient, σC/B per coordinate over 10.6M coordinates
# (norm ≈ 9.4), swamps a clipped mean of norm ≤ 1, and Adam turns every coordinate's noise into an lr-sized step.
# B 1024 cuts σC/B by 2.9× at the same ε and epochs (fewer steps). Runs as 2 MPI ranks × 1 thread when mpirun is
# present; records go to results/offline/sweep/ (selected on dev, as the paper does; the tuning is not accounted).
# Resumable. RGP_BIN names another build of rgp; RGP_BATCHES another list of batch sizes.
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
  id="qnli-dpsgd-eps8-B${batch}-E6-C1-lr5e-4"
  [[ -f "results/offline/sweep/$id.result.json" ]] && continue
  "${launch[@]}" "$bin" finetune --task qnli --split standin --splits-directory experiments/splits \
    --method dpsgd --epsilon 8 --data "$glue" --batch-size "$batch" --epochs 6 --clip 1 --lr 5e-4 --head cls \
    --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 --threads 1 \
    --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
done
