#!/usr/bin/env bash
# The recorded DP-SGD sweep on a pair task (issue 13): QNLI stand-in (experiments/splits), DP-SGD at ε = 8 with the
# offline grid's QNLI private settings (all-MiniLM-L6-v2, [CLS] head, polynomial schedule, C 1, 6 epochs), beside the
# grid's first cell at B 256, lr 5e-4 (T 102, σ 0.74; kept as results/offline/sweep/qnli-dpsgd-eps8-B256-E6-C1-lr5e-4):
# lr 2e-4 and 1e-4 at B 256, and B 1024 at lr 5e-4 (T 24, σ 1.02: σC/B 2.9× smaller at the same ε and epochs).
# Why: at 5e-4 (taken from the literature's DP-Adam scale, not swept) QNLI DP-SGD predicted one class for every dev
# pair and its training loss rose from 0.69 to 0.95 while every per-example norm was clipped: Adam rescales each of
# the 10.6M coordinates to unit size, so where σC/B (≈ 2.9e-3 per coordinate) dominates the clipped mean (≤ 1 over
# 10.6M coordinates), every coordinate takes an lr-sized random step. Runs as 2 MPI ranks × 1 thread when mpirun is
# present. Records go to results/offline/sweep/ (selected on dev, as the paper does; the tuning is not accounted).
# Then 24 epochs (T 408, σ 1.00) at the grid cell's B and lr: Adam normalises every coordinate, so the signal moves a
# weight by about lr·(g·B/σC) per step against a noise walk of lr·√T; at a fixed ε σ grows slowly with T (0.74 → 1.00
# from 6 to 24 epochs), so the signal's drift grows about 3× against the noise's 2× (the SST-2 control on the same N,
# results/offline/diagnostics/sst2-first4370-*, collapsed for 4 epochs before reaching 75.3 in its 6th).
# Resumable: finished cells are skipped. RGP_BIN names another build of rgp; RGP_CELLS another list of "B:lr[:E]"
# cells (E epochs, 6 unless given).
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
bin="${RGP_BIN:-.build/release/rgp}"
mkdir -p results/offline/sweep runs/sweep
source experiments/launch.sh
for cell in ${RGP_CELLS:-256:2e-4 256:1e-4 1024:5e-4 256:5e-4:24}; do
  IFS=: read -r batch lr epochs <<< "$cell"
  epochs="${epochs:-6}"
  id="qnli-dpsgd-eps8-B${batch}-E${epochs}-C1-lr${lr}"
  [[ -f "results/offline/sweep/$id.result.json" ]] && continue
  "${launch[@]}" "$bin" finetune --task qnli --split standin --splits-directory experiments/splits \
    --method dpsgd --epsilon 8 --data "$glue" --batch-size "$batch" --epochs "$epochs" --clip 1 --lr "$lr" --head cls \
    --lr-schedule polynomial --accountant prv --delta 1e-5 --seed 0 --threads 1 \
    --out "runs/sweep/$id" 2>> "runs/sweep/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/sweep/$id/$f" "results/offline/sweep/$id.$f"; done
done
