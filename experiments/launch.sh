# Sourced by the sweep and diagnostic scripts: `launch` is the prefix that runs rgp as 2 MPI ranks × 1 thread where
# mpirun exists (Open MPI, also as root), and nothing otherwise.
launch=()
if command -v mpirun >/dev/null; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  launch=(mpirun --bind-to core -np 2)
fi
