// OpenBLAS's CBLAS interface (Debian: libopenblas-dev). cblas.h also declares
// openblas_set_num_threads / openblas_get_num_threads / openblas_get_config / openblas_get_corename.
#include <cblas.h>

// What the CPU can execute, for checking the kernels OpenBLAS chose (see BLASKernels in Numerics).
static inline int rgp_cpu_has_avx512_skylakex(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd");
#else
    return 0;
#endif
}

static inline int rgp_cpu_has_avx2_fma(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}
