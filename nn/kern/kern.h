/* kern.h -- what every file in nn/kern/ shares: the path's name suffix and
 * the v16 vector, the register tiles chosen for the path, and the
 * matrix product every convolution and dense layer is made of.
 *
 * Each file here is compiled once per path (build/nn/kern/NAME.avx512.o,
 * .avx2.o, .portable.o) with that path's -m flags; NN_K(name) gives each
 * copy of a function its own name (conv2d_forward_avx2, ...), and table.c
 * gathers one path's functions into its nn_kernels table (ops.h). No
 * function with external linkage may go without NN_K: the linker would
 * pick one path's copy for all of them. */
#ifndef NN_KERN_H
#define NN_KERN_H

#include <stddef.h>
#include "../ops.h"
#include "v16.h"

#if defined(NN_KERN_AVX512)
#define NN_K(name) name##_avx512
#define NN_KERN_ISA NN_ISA_AVX512
/* gemm register tiles: rows x 16-float vectors (24 or 28 of 32 zmm) */
#define GEMM_RT_WIDE 12
#define GEMM_VT_WIDE 2
#define GEMM_RT_NARROW 24
/* few rows (up to 6 output channels): 6 rows x 4 vectors, each broadcast
 * feeding four fmas (a LeNet convolution's 6 filters along image rows) */
#define GEMM_RT_FEW 6
#define GEMM_VT_FEW 4
/* conv dw along rows: channels x taps of v16 partial sums (18 + 9 of 32 zmm) */
#define DOT_RO 3
#define DOT_RK 6
#elif defined(NN_KERN_AVX2)
#define NN_K(name) name##_avx2
#define NN_KERN_ISA NN_ISA_AVX2
/* 6 rows x 1 v16 = 12 of 16 ymm, 2 for the row of B, 1 for the broadcast */
#define GEMM_RT_WIDE 6
#define GEMM_VT_WIDE 1
#define GEMM_RT_NARROW 6
/* 2 x 3 partial sums = 12 ymm, the two channels' dy 4, one tap at a time */
#define DOT_RO 2
#define DOT_RK 3
#else
#define NN_K(name) name##_portable
#define NN_KERN_ISA NN_ISA_PORTABLE
#define GEMM_RT_WIDE 4
#define GEMM_VT_WIDE 1
#define GEMM_RT_NARROW 4
#define DOT_RO 2
#define DOT_RK 2
#endif

/* C (M, N) = (beta ? C : 0) + A (M, K) . Bm (K, N).
 * A[m][k] is A[m * sam + k * sak] (so A^T is A with the strides swapped),
 * Bm and C are row-major with leading dimensions ldb and ldc.
 * Every C[m][n] is one chain of fused multiply-adds over k = 0, 1, ...,
 * K-1 in that order, from C[m][n] (beta) or 0: the bits of a product do not
 * depend on the path, the tiling, or which outputs a thread computes. */
void NN_K(gemm)(float *C, int ldc, const float *A, int sam, int sak, const float *Bm, int ldb,
                int M, int N, int K, int beta);

/* A column segment of a product: n (up to 16) columns that start at Bm + b
 * in every row of Bm and at C + c in every row of C. Stores write w >= n
 * lanes: 16 when whatever lies past the n columns in C is written later
 * (the next row of an image), which spares a masked store. */
typedef struct { int b, c, n, w; } nn_seg;

enum { GEMM_INIT_ZERO, GEMM_INIT_C, GEMM_INIT_ROW, GEMM_INIT_COL };

/* The general product, as gemm with more ways to address its operands:
 * A[m][k] is A[am[m] + ak[k]] when am is set (else strides), row k of Bm
 * starts at Bm + bk[k] when bk is set (else k * ldb), the columns are the
 * nseg segments seg[] when seg is set (else N plain columns), and each
 * chain starts from 0, C, bias[m] (ROW) or bias[column] (COL). */
typedef struct {
    float *C;
    int ldc;
    const float *A;
    int sam, sak;
    const int *am, *ak;
    const float *B;
    int ldb;
    const int *bk;
    int M, N, K;
    const nn_seg *seg;
    int nseg;
    int init;
    const float *bias;
    int overrun;   /* plain columns, chains not from C: a row's partial block may
                    * be stored as whole vectors when the spill ends inside C,
                    * in later rows, whose own values are stored afterwards
                    * (the column blocks run last to first) */
} gemm_args;
void NN_K(gemm_run)(const gemm_args *g);

/* iters rounds of 12 independent v16 fused multiply-adds (the core's FMA
 * peak is 384 * iters flops over the time this takes); returns a value
 * that depends on every one of them, so none is optimized away */
float NN_K(fma_probe)(long iters);

/* this path's copy of each kernel of ops.h (same signatures) */
size_t NN_K(conv2d_scratch_size)(const nn_conv_geom *g, int nthreads);
void NN_K(conv2d_forward)(float *out, const float *inp, const float *w, const float *b,
                          int B, const nn_conv_geom *g, float *scratch, int nthreads);
void NN_K(conv2d_backward)(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, const nn_conv_geom *g,
                           float *scratch, int nthreads);
void NN_K(dense_forward_packed)(float *out, const float *inp, const float *wt, const float *b,
                                int B, int nin, int nout);
void NN_K(dense_backward)(float *dinp, float *dw, float *db, const float *dout,
                          const float *inp, const float *w, int B, int nin, int nout);
void NN_K(avgpool_forward)(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads);
void NN_K(avgpool_backward)(float *dinp, const float *dout, int B, const nn_conv_geom *g, int nthreads);
void NN_K(maxpool_forward)(float *out, int *argmax, const float *inp, int B, const nn_conv_geom *g, int nthreads);
void NN_K(maxpool_backward)(float *dinp, const float *dout, const int *argmax, int B,
                            const nn_conv_geom *g, int nthreads);
void NN_K(sigmoid_forward)(float *out, const float *inp, size_t n, int nthreads);
void NN_K(sigmoid_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
void NN_K(relu_forward)(float *out, const float *inp, size_t n, int nthreads);
void NN_K(relu_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
void NN_K(tanh_forward)(float *out, const float *inp, size_t n, int nthreads);
void NN_K(tanh_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
void NN_K(leaky_relu_forward)(float *out, const float *inp, float a, size_t n, int nthreads);
void NN_K(leaky_relu_backward)(float *dinp, const float *dout, const float *out, float a, size_t n, int nthreads);
void NN_K(batchnorm_forward_train)(float *out, float *xhat, float *invstd, float *rmean, float *rvar,
                                   const float *inp, const float *gamma, const float *beta,
                                   int B, int C, int HW, float momentum, float eps, int nthreads);
void NN_K(batchnorm_forward_eval)(float *out, const float *inp, const float *gamma, const float *beta,
                                  const float *rmean, const float *rvar, int B, int C, int HW,
                                  float eps, int nthreads);
void NN_K(batchnorm_backward)(float *dinp, float *dgamma, float *dbeta, const float *dout,
                              const float *xhat, const float *invstd, const float *gamma,
                              int B, int C, int HW, int nthreads);
float NN_K(softmax_ce_forward)(float *probs, const float *logits, const int *labels, int B, int NC);
void NN_K(softmax_ce_backward)(float *dlogits, const float *probs, const int *labels, int B, int NC);
extern const nn_kernels NN_K(nn_kernels_table);

#endif
