/* conv_winograd.h — 3x3 stride-1 convolution by Winograd's F(2x2, 3x3),
 * for Conv's forward and input gradient (see conv_winograd.c). */
#ifndef GB_OPS_CONV_WINOGRAD_H
#define GB_OPS_CONV_WINOGRAD_H

#include "internal.h"

/* Tiles per GEMM chunk at most (the chunk's index tables live on the stack). */
#define WINO_MAX_COLS 256

/* One convolution y (N, M, OH, OW) of x (N, C, H, W) with a 3x3 kernel,
 * stride 1, dilation 1, one group: output (oh, ow) reads input rows
 * oh - pt .. oh - pt + 2 and columns ow - pl .. ow - pl + 2, taps outside the
 * input reading 0. pt and pl may be negative (the input-gradient dual). */
typedef struct gb_wino {
    int64_t N, C, H, W, M, OH, OW, pt, pl;
    int64_t th, tw; /* 2x2 output tiles down and across */
    int64_t ncol;   /* tiles per chunk (one set of 16 GEMMs) */
    int64_t nchunks;
} gb_wino;

/* Plans the tiling; chunks are sized for the cache and, when possible, at
 * least `threads` of them so every thread gets work. */
gb_wino gb_wino_plan(int64_t N, int64_t C, int64_t H, int64_t W, int64_t M, int64_t OH,
                     int64_t OW, int64_t pt, int64_t pl, int threads);

/* Floats of per-thread workspace gb_wino_chunk needs. */
int64_t gb_wino_workspace(const gb_wino *p);

/* Upper bound of gb_wino_workspace over thread counts (for buffer
 * planning), for C channels in, M out and output rows OW wide. */
int64_t gb_wino_workspace_max(int64_t C, int64_t M, int64_t OW);

/* U (16, M, C): the transformed weights G g G^T of w (M, C, 3, 3). With
 * dual set, U (16, C, M) instead transforms w rotated by 180 degrees with
 * its channel axes swapped: the kernel whose convolution of dy gives dx. */
void gb_wino_weights(float *U, const float *w, int64_t M, int64_t C, int dual);

/* Where a chunk's output goes. Plain: y = conv(x) + bias (bias may be
 * NULL), or y += conv(x) with accumulate set. With relu: y = relu(conv(x)
 * + bias). With pool set (and y NULL): the 2x2 stride-2 max pool of that
 * Relu's output, (N, M, PH, PW), and the winners' in-plane indices in
 * pool_arg, as gb_maxpool2x2_plane gives them (the first maximum in
 * row-major tap order) — an output tile is exactly one pool window. */
typedef struct gb_wino_out {
    float *y;
    const float *bias;
    int accumulate, relu;
    float *pool;
    int32_t *pool_arg;
    int64_t PH, PW;
} gb_wino_out;

/* Computes the output tiles of chunk k into *out. Chunks write disjoint
 * outputs, so threads may run different chunks at once; ws holds
 * gb_wino_workspace(p) floats. Every output is computed by the same
 * sequence of operations whatever the chunking, batch or thread count, so
 * an image's result does not depend on the images batched with it. */
void gb_wino_chunk(const gb_wino *p, int64_t k, const float *x, const float *U,
                   const gb_wino_out *out, float *ws);

#endif
