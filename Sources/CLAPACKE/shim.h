// LAPACKE, the C interface to LAPACK (Debian: liblapacke-dev); LAPACK itself comes from OpenBLAS.
#include <lapacke.h>
