#!/bin/bash
# The `paper` profile as a Slurm job array: one array task per grid cell (84 cells = 4 tasks × 7 rows × 3 seeds).
# Each task runs `rgp reproduce --shard i/n`, which skips finished cells and resumes interrupted ones, so a
# preempted or timed-out task can simply be resubmitted. Run from the repository root on a shared file system:
#
#   make setup release paper-inputs           # Debian packages, binaries, bert-base-uncased, GLUE (needs internet)
#   .build/release/rgp reproduce --profile paper --data data/glue --plan-only   # σ per cell and the cost estimate
#   sbatch experiments/slurm-paper.sh
#   .build/release/rgp reproduce --profile paper --tables-only                   # after the array: tables and plot
#
# The biggest cells (MNLI and QQP RGP/DP-SGD, 30 epochs over ~390k examples) need days on one node; see the plan.
#SBATCH --job-name=rgp-paper
#SBATCH --array=1-84
#SBATCH --cpus-per-task=32
#SBATCH --mem=48G
#SBATCH --time=7-00:00:00
#SBATCH --output=runs/paper/slurm-%A_%a.log
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
shards="${SLURM_ARRAY_TASK_COUNT:-84}"
exec .build/release/rgp reproduce --profile paper --data "${GLUE:-data/glue}" \
    --shard "${SLURM_ARRAY_TASK_ID:-1}/${shards}" --threads "${SLURM_CPUS_PER_TASK:-32}"
