// FFTW 3, double precision (Debian: libfftw3-dev): the convolutions of the PRV accountant.
#include <fftw3.h>
