// A persistent worker pool for `Parallel`'s concurrent regions: threads that spin briefly between regions before they
// sleep, as OpenMP's and MKL's workers do.
//
// Why not libdispatch's concurrentPerform: its workers go to sleep the moment a region ends, and a step opens hundreds
// of regions (a split product or an elementwise pass each). On a virtual machine an idle vCPU is given back to the
// hypervisor and must be scheduled again when the next region wakes its thread; our one-process runs read 8–32 points
// more steal than PyTorch's or our thread ranks' beside them (results/bench/spr.md) and slowed down far more.
#define _GNU_SOURCE
#include "rgp_kernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>
static inline void cpu_relax(void) { _mm_pause(); }
#else
static inline void cpu_relax(void) {}
#endif

#define POOL_THREADS_MAX 63

// One region at a time: a second caller (another thread rank, a test running beside another) is told to use its own
// threads instead.
static pthread_mutex_t region_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t sleep_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sleep_cond = PTHREAD_COND_INITIALIZER;
static _Atomic uint64_t generation;
static _Atomic long unfinished;
static _Atomic int sleepers;
static long threads_started;
static rgp_pool_task current_task;
static void *current_context;
static long current_count;
static _Atomic long spin_nanoseconds = 200000;

static uint64_t now_nanoseconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

// Spins until generation differs from `seen`, for up to the spin budget, then sleeps on the condition variable.
static uint64_t wait_for_region(uint64_t seen) {
    uint64_t start = now_nanoseconds(), budget = (uint64_t)atomic_load_explicit(&spin_nanoseconds, memory_order_relaxed);
    for (unsigned spins = 1;; spins++) {
        uint64_t g = atomic_load_explicit(&generation, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
        if ((spins & 63) == 0 && now_nanoseconds() - start > budget) break;
    }
    pthread_mutex_lock(&sleep_lock);
    atomic_fetch_add_explicit(&sleepers, 1, memory_order_seq_cst);
    uint64_t g;
    while ((g = atomic_load_explicit(&generation, memory_order_seq_cst)) == seen) pthread_cond_wait(&sleep_cond, &sleep_lock);
    atomic_fetch_sub_explicit(&sleepers, 1, memory_order_relaxed);
    pthread_mutex_unlock(&sleep_lock);
    return g;
}

// Pool thread `index` (1 …) runs index `index` of every region that has one; every pool thread acknowledges every
// region, so that a region's task and context are never read by a thread still finishing the one before. (A pool grown
// for a larger region keeps its threads: in a run every region has the same size, `Parallel.workers`.)
static uint64_t first_seen[POOL_THREADS_MAX + 1];

static void *pool_thread(void *argument) {
    long index = (long)(intptr_t)argument;
    uint64_t seen = first_seen[index];  // the generation before the region it was started in
    for (;;) {
        seen = wait_for_region(seen);
        if (index < current_count) current_task(current_context, index);
        atomic_fetch_sub_explicit(&unfinished, 1, memory_order_acq_rel);
    }
    return NULL;
}

void rgp_pool_set_spin(long nanoseconds) { atomic_store(&spin_nanoseconds, nanoseconds < 0 ? 0 : nanoseconds); }

int rgp_pool_run(long count, rgp_pool_task task, void *context) {
    if (count < 2 || count - 1 > POOL_THREADS_MAX) return 0;
    if (pthread_mutex_trylock(&region_lock) != 0) return 0;
    while (threads_started < count - 1) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attributes, 8u << 20);
        first_seen[threads_started + 1] = atomic_load(&generation);
        int failed = pthread_create(&thread, &attributes, pool_thread, (void *)(intptr_t)(threads_started + 1));
        pthread_attr_destroy(&attributes);
        if (failed) break;
        threads_started++;
    }
    if (threads_started < count - 1) {  // threads unavailable
        pthread_mutex_unlock(&region_lock);
        return 0;
    }
    current_task = task;
    current_context = context;
    current_count = count;
    atomic_store_explicit(&unfinished, threads_started, memory_order_relaxed);
    atomic_fetch_add_explicit(&generation, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&sleepers, memory_order_seq_cst) > 0) {
        pthread_mutex_lock(&sleep_lock);
        pthread_cond_broadcast(&sleep_cond);
        pthread_mutex_unlock(&sleep_lock);
    }
    task(context, 0);
    // The caller waits the way the workers do: spinning, then yielding its core.
    for (unsigned spins = 1; atomic_load_explicit(&unfinished, memory_order_acquire) > 0; spins++) {
        if (spins < 4096) cpu_relax(); else sched_yield();
    }
    pthread_mutex_unlock(&region_lock);
    return 1;
}
