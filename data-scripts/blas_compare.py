"""Single-thread sgemm on the encoder's shapes: Debian's OpenBLAS (the one the package links) against a newer one
from PyPI (scipy-openblas32), interleaved, median GFLOP/s per shape. Usage: a venv with numpy and scipy-openblas32,
then `python data-scripts/blas_compare.py ROUNDS`."""
import ctypes, time, sys, os
import numpy as np
libs = {
 'deb0.3.21': ctypes.CDLL('/usr/lib/x86_64-linux-gnu/libopenblas.so.0'),
 'pip0.3.34': ctypes.CDLL(os.path.join(__import__('scipy_openblas32').get_lib_dir(), 'libscipy_openblas.so')),
}
fns = {'deb0.3.21': libs['deb0.3.21'].cblas_sgemm, 'pip0.3.34': libs['pip0.3.34'].scipy_cblas_sgemm}
libs['deb0.3.21'].openblas_set_num_threads(1); libs['pip0.3.34'].scipy_openblas_set_num_threads(1)
for n,l in libs.items():
    f = getattr(l, 'openblas_get_config', None) or getattr(l, 'scipy_openblas_get_config')
    f.restype = ctypes.c_char_p; print(n, f())
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS enum values
def call(fn, ta, tb, M, N, K, A, B, C):
    lda = K if ta == NO_TRANS else M
    ldb = N if tb == NO_TRANS else K
    fn(ROW_MAJOR, ta, tb, M, N, K, ctypes.c_float(1.0), A.ctypes.data_as(ctypes.c_void_p), lda, B.ctypes.data_as(ctypes.c_void_p), ldb, ctypes.c_float(0.0), C.ctypes.data_as(ctypes.c_void_p), N)
shapes = [  # name, op(A), op(B), M, N, K as the encoder calls them (row-major; forward X·Wᵀ, backward dY·W)
 ('minilm fwd 384x384', NO_TRANS, TRANS, 3200, 384, 384),
 ('minilm fwd up 1536', NO_TRANS, TRANS, 3200, 1536, 384),
 ('minilm fwd down', NO_TRANS, TRANS, 3200, 384, 1536),
 ('minilm bwd dX 384', NO_TRANS, NO_TRANS, 3200, 384, 384),
 ('minilm bwd dX up', NO_TRANS, NO_TRANS, 3200, 384, 1536),
 ('minilm bwd dX down', NO_TRANS, NO_TRANS, 3200, 1536, 384),
 ('bert fwd 768', NO_TRANS, TRANS, 2048, 768, 768),
 ('bert fwd up', NO_TRANS, TRANS, 2048, 3072, 768),
 ('bert fwd down', NO_TRANS, TRANS, 2048, 768, 3072),
 ('bert bwd dX up', NO_TRANS, NO_TRANS, 2048, 768, 3072),
 ('bert bwd dX down', NO_TRANS, NO_TRANS, 2048, 3072, 768),
 ('peak 4096x768x3072', NO_TRANS, NO_TRANS, 4096, 3072, 768),
]
rng = np.random.default_rng(0)
res = {}
for rnd in range(int(sys.argv[1]) if len(sys.argv)>1 else 3):
  for name, ta, tb, M, N, K in shapes:
    A = rng.standard_normal(M*K).astype(np.float32); B = rng.standard_normal(K*N).astype(np.float32); C = np.zeros(M*N, np.float32)
    for lib in (['deb0.3.21','pip0.3.34'] if rnd%2==0 else ['pip0.3.34','deb0.3.21']):
        fn = fns[lib]; call(fn, ta, tb, M, N, K, A, B, C)
        reps = max(3, int(2e10/(2*M*N*K)))
        t=time.perf_counter()
        for _ in range(reps): call(fn, ta, tb, M, N, K, A, B, C)
        dt=(time.perf_counter()-t)/reps
        res.setdefault((name,lib),[]).append(2*M*N*K/dt/1e9)
for name, *_ in shapes:
    a = sorted(res[(name,'deb0.3.21')]); b = sorted(res[(name,'pip0.3.34')])
    print(f"{name:22s} deb {a[len(a)//2]:6.1f}  pip {b[len(b)//2]:6.1f}  ratio {b[len(b)//2]/a[len(a)//2]:.3f}   {['%.0f'%x for x in res[(name,'deb0.3.21')]]} {['%.0f'%x for x in res[(name,'pip0.3.34')]]}")
