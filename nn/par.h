/* par.h -- how the kernels in nn/ split work over threads.
 *
 * The network runs the slices of a batch on its own threads (net.c) and
 * calls every kernel there with nthreads = 1. A kernel then runs straight
 * through: an OpenMP region costs about 1.3 us even when it runs on a
 * single thread, which over eight slices and two dozen kernel calls per
 * batch would cost more than some layers do. With nthreads > 1 (batch norm
 * over channels, direct callers and tests) a kernel opens its own region.
 *
 * NN_PAR(nthreads, block): runs block once per thread, with nn_t the
 * thread's index and nn_nt the number of threads; inline when nthreads <= 1.
 * NN_PAR_FOR(nthreads, par, T, i, n, block): for i of type T in [0, n),
 * statically split over the threads when par holds and nthreads > 1, a
 * plain loop otherwise. NN_PAR_SIMD is the same for element-wise loops.
 * nn_split gives thread t of nt its contiguous share [lo, hi) of n items. */
#ifndef NN_PAR_H
#define NN_PAR_H

#include <omp.h>

#define NN_PAR(nthreads, ...)                                                        \
    do {                                                                             \
        const int nn_req = (nthreads);                                               \
        if (nn_req <= 1) {                                                           \
            const int nn_t = 0, nn_nt = 1;                                           \
            (void)nn_t;                                                              \
            (void)nn_nt;                                                             \
            __VA_ARGS__                                                              \
        } else {                                                                     \
            _Pragma("omp parallel num_threads(nn_req)")                              \
            {                                                                        \
                const int nn_t = omp_get_thread_num(), nn_nt = omp_get_num_threads(); \
                __VA_ARGS__                                                          \
            }                                                                        \
        }                                                                            \
    } while (0)

/* one loop, two pragmas: the parallel one and the serial one */
#define NN_PAR_LOOP_(par_pragma, serial_pragma, nthreads, par, T, i, n, ...)      \
    do {                                                                         \
        const T nn_n = (n);                                                      \
        const int nn_req = (nthreads);                                           \
        if (nn_req > 1 && (par)) {                                               \
            _Pragma(par_pragma)                                                  \
            for (T i = 0; i < nn_n; i++) { __VA_ARGS__ }                         \
        } else {                                                                 \
            _Pragma(serial_pragma)                                               \
            for (T i = 0; i < nn_n; i++) { __VA_ARGS__ }                         \
        }                                                                        \
    } while (0)

#define NN_PAR_FOR(...) \
    NN_PAR_LOOP_("omp parallel for schedule(static) num_threads(nn_req)", "GCC ivdep", __VA_ARGS__)
#define NN_PAR_SIMD(...) \
    NN_PAR_LOOP_("omp parallel for simd schedule(static) num_threads(nn_req)", "omp simd", __VA_ARGS__)

static inline void nn_split(int n, int t, int nt, int *lo, int *hi) {
    *lo = (int)((long)n * t / nt);
    *hi = (int)((long)n * (t + 1) / nt);
}

#endif
