// Zstandard (Debian: libzstd-dev): streaming decompression of checkpoints and data files.
#include <zstd.h>
