/* table.c -- one path's kernels, gathered into its nn_kernels table (ops.h).
 * isa.c picks a table once the CPU is known. */
#include "kern.h"

const nn_kernels NN_K(nn_kernels_table) = {
    .isa = NN_KERN_ISA,
    .gemm = NN_K(gemm),
    .fma_probe = NN_K(fma_probe),
    .conv2d_scratch_size = NN_K(conv2d_scratch_size),
    .conv2d_forward = NN_K(conv2d_forward),
    .conv2d_backward = NN_K(conv2d_backward),
    .dense_forward_packed = NN_K(dense_forward_packed),
    .dense_backward = NN_K(dense_backward),
    .avgpool_forward = NN_K(avgpool_forward),
    .avgpool_backward = NN_K(avgpool_backward),
    .maxpool_forward = NN_K(maxpool_forward),
    .maxpool_backward = NN_K(maxpool_backward),
    .sigmoid_forward = NN_K(sigmoid_forward),
    .sigmoid_backward = NN_K(sigmoid_backward),
    .relu_forward = NN_K(relu_forward),
    .relu_backward = NN_K(relu_backward),
    .tanh_forward = NN_K(tanh_forward),
    .tanh_backward = NN_K(tanh_backward),
    .leaky_relu_forward = NN_K(leaky_relu_forward),
    .leaky_relu_backward = NN_K(leaky_relu_backward),
    .batchnorm_forward_train = NN_K(batchnorm_forward_train),
    .batchnorm_forward_eval = NN_K(batchnorm_forward_eval),
    .batchnorm_backward = NN_K(batchnorm_backward),
    .softmax_ce_forward = NN_K(softmax_ce_forward),
    .softmax_ce_backward = NN_K(softmax_ce_backward),
};
