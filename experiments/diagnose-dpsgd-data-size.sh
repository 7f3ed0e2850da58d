#!/usr/bin/env bash
# Diagnostic (issue 13), not a table cell: is the QNLI stand-in's size what keeps DP-SGD at chance?
# At a fixed ε the noise in DP-SGD's summed update grows like T·σ/B ∝ T·√T/(N·ε) against a signal ∝ T, so its
# signal-to-noise ratio is set by N·ε/√d, not by B or T: the stand-in has N = 4,370 training pairs (QNLI's train set is
# 105k; only its dev set is offline) against d = 10.6M coordinates. Control: SST-2, which learns under DP-SGD at its full
# N = 67,349 (grid cell 74.7), cut to its first 4,370 sentences and trained with the QNLI grid cells' settings
# (B 256, C 1, 6 epochs, polynomial schedule, ε 8; DP-SGD lr 5e-4, RGP lr 1e-3).
# Result (2026-12-02, results/offline/diagnostics/README.md): DP-SGD 75.3, RGP 76.0 — N alone does not stop DP-SGD.
# Records go to results/offline/diagnostics/. Runs as 2 MPI ranks × 1 thread when mpirun is present; finished runs are
# skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
glue="${1:-${RGP_GLUE_DIR:-../shared/glue}}"
bin="${RGP_BIN:-.build/release/rgp}"
mkdir -p results/offline/diagnostics runs/diagnostics
source experiments/launch.sh
for cell in dpsgd:5e-4 rgp:1e-3; do
  method="${cell%%:*}" lr="${cell#*:}"
  id="sst2-first4370-$method-eps8-B256-E6-C1-lr$lr"
  [[ -f "results/offline/diagnostics/$id.result.json" ]] && continue
  "${launch[@]}" "$bin" finetune --task sst2 --max-train 4370 --method "$method" --epsilon 8 --data "$glue" \
    --batch-size 256 --epochs 6 --clip 1 --lr "$lr" --head cls --lr-schedule polynomial --accountant prv \
    --delta 1e-5 --seed 0 --threads 1 --out "runs/diagnostics/$id" 2>> "runs/diagnostics/$id.log"
  for f in result.json metrics.jsonl run.json; do cp "runs/diagnostics/$id/$f" "results/offline/diagnostics/$id.$f"; done
done
