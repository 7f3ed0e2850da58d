#!/bin/bash
# The `paper` profile with every cell spread over several nodes by MPI: a Slurm job array, one array task per grid
# cell (84), each task one MPI job of NODES × CORES ranks (one rank per core, --threads 1). Rank 0 draws each
# logical batch from its secure generator and broadcasts it, every rank clips its share, the flat sums are reduced to
# rank 0, which adds the Gaussian noise once and broadcasts the update; only rank 0 writes checkpoints and records.
# A preempted or failed task is resubmitted as is: the cell resumes from its last checkpoint under any number of
# ranks, without repeating a step or spending ε twice. Run from the repository root on a shared file system:
#
#   make setup release paper-inputs           # Debian packages (incl. Open MPI), binaries, bert-base-uncased, GLUE
#   .build/release/rgp reproduce --profile paper --data data/glue --plan-only --nodes 8 --cores-per-node 32
#   sbatch --nodes=8 --ntasks-per-node=32 experiments/slurm-paper-mpi.sh
#   .build/release/rgp reproduce --profile paper --tables-only                   # after the array: tables and plot
#
# Hybrid layouts (fewer ranks, several threads each) work too: --ntasks-per-node=8 --cpus-per-task=4 gives 8 ranks
# per node with 4 OpenBLAS threads each; ranks × threads should not exceed the node's cores.
#SBATCH --job-name=rgp-paper-mpi
#SBATCH --array=1-84
#SBATCH --nodes=8
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --mem-per-cpu=2G
#SBATCH --time=2-00:00:00
#SBATCH --output=runs/paper/slurm-mpi-%A_%a.log
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"
shards="${SLURM_ARRAY_TASK_COUNT:-84}"
# srun starts the ranks through PMIx (Slurm built with it), or use: mpirun --bind-to core -np "$SLURM_NTASKS" …
exec srun --mpi=pmix --cpu-bind=cores .build/release/rgp reproduce --profile paper --data "${GLUE:-data/glue}" \
    --shard "${SLURM_ARRAY_TASK_ID:-1}/${shards}" --threads "${SLURM_CPUS_PER_TASK:-1}"
