/* ops.h -- the kernels behind the layers, as forward/backward pairs in
 * llm.c's style: outputs first, then inputs, then sizes. Shapes are NCHW.
 *
 * Every kernel exists once per path (nn/kern/, compiled for AVX-512, AVX2
 * and a portable build), gathered in an nn_kernels table; the network
 * calls its table's functions, and the plain functions below call the
 * default path's (nn_isa_default, nn.h). All paths give the same bits.
 * The cheap ops with one file each in nn/ (dropout.c, gap.c) are plain C,
 * compiled once, and the same on every path by construction.
 *
 * Gradient conventions: parameter gradients (dw, db, dgamma, dbeta) are
 * ACCUMULATED (+=) and zeroed in one place, nn_net_backward. Input gradients
 * (dinp) are WRITTEN (=): every activation gradient has exactly one
 * producer, and zeroing megabytes of them per batch would cost more than
 * some layers do. A NULL dinp means "not needed" (the first layer).
 *
 * Each kernel has a plain-loop *_ref twin (ref.c), kept as the test oracle. */
#ifndef NN_OPS_H
#define NN_OPS_H

#include <stddef.h>
#include "nn.h"

typedef struct {
    int C, H, W;     /* input */
    int OC, K, S, P; /* filters, kernel, stride, padding */
    int OH, OW;      /* output */
} nn_conv_geom;

/* floats of scratch conv2d_forward and conv2d_backward need for g with
 * nthreads threads (the same on every path) */
size_t conv2d_scratch_size(const nn_conv_geom *g, int nthreads);

/* y = conv(x, w) + b (cross-correlation)
 * out: (B, OC, OH, OW)  inp: (B, C, H, W)  w: (OC, C, K, K)  b: (OC)
 * scratch: conv2d_scratch_size(g, nthreads) floats */
void conv2d_forward(float *out, const float *inp, const float *w, const float *b,
                    int B, const nn_conv_geom *g, float *scratch, int nthreads);
/* dinp: (B, C, H, W) or NULL  dw: (OC, C, K, K) +=  db: (OC) +=
 * dout: (B, OC, OH, OW)
 * scratch: conv2d_scratch_size(g, nthreads) floats. Each thread's images
 * give one sum of dw and db, added in thread order: the same bits for a
 * thread count (the network runs it on one thread per slice). */
void conv2d_backward(float *dinp, float *dw, float *db, const float *dout,
                     const float *inp, const float *w, int B, const nn_conv_geom *g,
                     float *scratch, int nthreads);
void conv2d_forward_ref(float *out, const float *inp, const float *w, const float *b,
                        int B, const nn_conv_geom *g);
void conv2d_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                         const float *inp, const float *w, int B, const nn_conv_geom *g);

/* y = x W^T + b
 * out: (B, nout)  inp: (B, nin)  w: (nout, nin)  b: (nout) */
void dense_forward(float *out, const float *inp, const float *w, const float *b,
                   int B, int nin, int nout);
/* dinp: (B, nin) or NULL  dw: (nout, nin) +=  db: (nout) +=  dout: (B, nout) */
void dense_backward(float *dinp, float *dw, float *db, const float *dout,
                    const float *inp, const float *w, int B, int nin, int nout);
/* The forward with w transposed once beforehand (the network packs each
 * dense layer once per batch, then runs its slices): wt: (nin, nout);
 * dense_pack fills the columns of the output units [o0, o1) */
void dense_pack(float *wt, const float *w, int nin, int nout, int o0, int o1);
void dense_forward_packed(float *out, const float *inp, const float *wt, const float *b,
                          int B, int nin, int nout);
void dense_forward_ref(float *out, const float *inp, const float *w, const float *b,
                       int B, int nin, int nout);
void dense_backward_ref(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, int B, int nin, int nout);

/* Pooling over K x K windows with stride S and padding P (C channels kept).
 * avg: y = sum(window) / (K*K)  (PyTorch's count_include_pad=True)
 * max: y = max(window), padding is -inf; argmax: (B, C, OH, OW) flat input
 * offsets within the image plane, -1 when the window saw only padding. As
 * PyTorch: the first of equal maxima wins, a NaN beats any number, and of
 * several NaNs the last one in scan order wins. */
void avgpool_forward(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads);
void avgpool_backward(float *dinp, const float *dout, int B, const nn_conv_geom *g, int nthreads);
void maxpool_forward(float *out, int *argmax, const float *inp, int B, const nn_conv_geom *g, int nthreads);
void maxpool_backward(float *dinp, const float *dout, const int *argmax, int B,
                      const nn_conv_geom *g, int nthreads);
void avgpool_forward_ref(float *out, const float *inp, int B, const nn_conv_geom *g);
void maxpool_forward_ref(float *out, const float *inp, int B, const nn_conv_geom *g);

/* Element-wise activations over n values. Backward reads only the saved
 * output (for leaky relu with a >= 0, y > 0 exactly when x > 0), so the net
 * can run them in place: out may equal inp, dinp may equal dout.
 * sigmoid: y = 1 / (1 + exp(-x))       dx = dy * y * (1 - y)
 * relu:    y = max(x, 0)                dx = dy * (y > 0)
 * tanh:    y = tanh(x)                  dx = dy * (1 - y^2)
 * leaky:   y = x > 0 ? x : a * x        dx = dy * (y > 0 ? 1 : a) */
void sigmoid_forward(float *out, const float *inp, size_t n, int nthreads);
void sigmoid_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
void relu_forward(float *out, const float *inp, size_t n, int nthreads);
void relu_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
void tanh_forward(float *out, const float *inp, size_t n, int nthreads);
void tanh_backward(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
void leaky_relu_forward(float *out, const float *inp, float a, size_t n, int nthreads);
void leaky_relu_backward(float *dinp, const float *dout, const float *out, float a, size_t n, int nthreads);

/* Batch normalization over (B, C, HW) (1-D: HW = 1), PyTorch's formulas:
 * train: mean, var = batch mean and biased variance per channel;
 *        xhat = (x - mean) / sqrt(var + eps); y = gamma * xhat + beta;
 *        running = (1 - m) * running + m * stat, var unbiased (n / (n - 1))
 * eval:  y = gamma * (x - rmean) / sqrt(rvar + eps) + beta
 * xhat: (B, C, HW) saved for backward; invstd: (C) */
void batchnorm_forward_train(float *out, float *xhat, float *invstd, float *rmean, float *rvar,
                             const float *inp, const float *gamma, const float *beta,
                             int B, int C, int HW, float momentum, float eps, int nthreads);
void batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *rmean, const float *rvar, int B, int C, int HW,
                            float eps, int nthreads);
/* dx = gamma * invstd / N * (N * dy - sum(dy) - xhat * sum(dy * xhat)), N = B*HW
 * dinp: (B, C, HW)  dgamma, dbeta: (C) += */
void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *xhat, const float *invstd, const float *gamma,
                        int B, int C, int HW, int nthreads);

/* Inverted dropout over n values (dropout.c, plain C: the same on every path).
 * train: y = x * mask, mask = 0 with probability rate, else 1 / (1 - rate)
 * eval:  y = x (mask NULL)                         dx = dy * mask
 * mask: (n), drawn from r one uniform per value in order. out may equal
 * inp, dinp may equal dout. */
void dropout_mask(float *mask, float rate, size_t n, nn_rng *r);
void dropout_forward(float *out, const float *inp, const float *mask, size_t n);
void dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* Global average pooling (gap.c, plain C: the same on every path), as
 * PyTorch's AdaptiveAvgPool2d(1): y = sum(plane) / HW, the sum in order;
 *                                 dx = dy / HW at every value of the plane
 * out: (B, C)  inp: (B, C, HW)  dinp: (B, C, HW)  dout: (B, C) */
void gap_forward(float *out, const float *inp, int B, int C, int HW);
void gap_backward(float *dinp, const float *dout, int B, int C, int HW);

/* Softmax cross-entropy, fused and stable (log-sum-exp), mean over B:
 * loss = mean_b (logsumexp(z_b) - z_b[y_b]);  dz = (softmax(z) - onehot(y)) / B
 * probs: (B, NC) softmax, written; dlogits: (B, NC) or NULL */
float softmax_ce_forward(float *probs, const float *logits, const int *labels, int B, int NC);
void softmax_ce_backward(float *dlogits, const float *probs, const int *labels, int B, int NC);


/* One path's kernels: the functions above, as that path computes them. */
typedef struct nn_kernels {
    nn_isa isa;
    /* C (M, N) = (beta ? C : 0) + A (M, K) . Bm (K, N), A[m][k] at
     * A[m * sam + k * sak]; each C[m][n] one fma chain over k in order */
    void (*gemm)(float *C, int ldc, const float *A, int sam, int sak, const float *Bm, int ldb,
                 int M, int N, int K, int beta);
    /* 384 * iters flops of independent fmas (nn_isa_peak_gflops) */
    float (*fma_probe)(long iters);
    size_t (*conv2d_scratch_size)(const nn_conv_geom *g, int nthreads);
    void (*conv2d_forward)(float *out, const float *inp, const float *w, const float *b,
                           int B, const nn_conv_geom *g, float *scratch, int nthreads);
    void (*conv2d_backward)(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, int B, const nn_conv_geom *g,
                            float *scratch, int nthreads);
    void (*dense_forward_packed)(float *out, const float *inp, const float *wt, const float *b,
                                 int B, int nin, int nout);
    void (*dense_backward)(float *dinp, float *dw, float *db, const float *dout,
                           const float *inp, const float *w, int B, int nin, int nout);
    void (*avgpool_forward)(float *out, const float *inp, int B, const nn_conv_geom *g, int nthreads);
    void (*avgpool_backward)(float *dinp, const float *dout, int B, const nn_conv_geom *g, int nthreads);
    void (*maxpool_forward)(float *out, int *argmax, const float *inp, int B, const nn_conv_geom *g,
                            int nthreads);
    void (*maxpool_backward)(float *dinp, const float *dout, const int *argmax, int B,
                             const nn_conv_geom *g, int nthreads);
    void (*sigmoid_forward)(float *out, const float *inp, size_t n, int nthreads);
    void (*sigmoid_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
    void (*relu_forward)(float *out, const float *inp, size_t n, int nthreads);
    void (*relu_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
    void (*tanh_forward)(float *out, const float *inp, size_t n, int nthreads);
    void (*tanh_backward)(float *dinp, const float *dout, const float *out, size_t n, int nthreads);
    void (*leaky_relu_forward)(float *out, const float *inp, float a, size_t n, int nthreads);
    void (*leaky_relu_backward)(float *dinp, const float *dout, const float *out, float a, size_t n,
                                int nthreads);
    void (*batchnorm_forward_train)(float *out, float *xhat, float *invstd, float *rmean, float *rvar,
                                    const float *inp, const float *gamma, const float *beta,
                                    int B, int C, int HW, float momentum, float eps, int nthreads);
    void (*batchnorm_forward_eval)(float *out, const float *inp, const float *gamma, const float *beta,
                                   const float *rmean, const float *rvar, int B, int C, int HW,
                                   float eps, int nthreads);
    void (*batchnorm_backward)(float *dinp, float *dgamma, float *dbeta, const float *dout,
                               const float *xhat, const float *invstd, const float *gamma,
                               int B, int C, int HW, int nthreads);
    float (*softmax_ce_forward)(float *probs, const float *logits, const int *labels, int B, int NC);
    void (*softmax_ce_backward)(float *dlogits, const float *probs, const int *labels, int B, int NC);
} nn_kernels;

/* the table of a path, or NULL when this build or this CPU lacks it */
const nn_kernels *nn_kernels_for(nn_isa isa);
/* the table of nn_isa_default() */
const nn_kernels *nn_kernels_default(void);

/* net.c, for checkpoint.c: the path recorded in a checkpoint just loaded */
void nn_net_set_loaded_isa_(nn_net *net, int isa);

#endif
