/* internal.h — structures shared inside libgibbon (not installed).
 *
 * A model is a list of nodes in topological order over a table of values.
 * Values are graph inputs, parameters (trainable initializers), constants
 * (non-trainable initializers such as BatchNorm running statistics or a
 * Reshape's shape) and activations. Each op is described once in
 * src/ops/op_list.h and implemented in one file, forward and backward side by
 * side.
 */
#ifndef GB_INTERNAL_H
#define GB_INTERNAL_H

#include "gibbon.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors, allocation, asserts --------------------------------------- */

/* Records a printf-style message and returns s, so callers write
 * `return gb_error(GB_ERR_FORMAT, "%s: truncated header", path);` */
gb_status gb_error(gb_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the current message with "prefix: " (to add a file or node name). */
gb_status gb_error_prefix(gb_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *gb_malloc(size_t n);  /* sets GB_ERR_NOMEM message on failure */
void *gb_calloc(size_t count, size_t size);
void *gb_realloc(void *p, size_t n);
char *gb_strdup(const char *s);

/* Programmer errors (broken invariants), never user input. */
#define GB_ASSERT(c)                                                                  \
    do {                                                                              \
        if (!(c)) gb_assert_fail(#c, __FILE__, __LINE__);                             \
    } while (0)
_Noreturn void gb_assert_fail(const char *expr, const char *file, int line);

#define GB_TRY(expr)                                                                  \
    do {                                                                              \
        gb_status gb_try_s_ = (expr);                                                 \
        if (gb_try_s_ != GB_OK) return gb_try_s_;                                     \
    } while (0)

#define GB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GB_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Elements larger than this in one tensor are refused as absurd (16 GiB). */
#define GB_MAX_ELEMENTS ((int64_t)1 << 32)

/* Elements gb_tensor_resize may still allocate on this thread (-1: no
 * limit). The ONNX loader sets it while folding and planning, so a hostile
 * file (ConstantOfShape of 2^31, a Resize by 10^4) fails with GB_ERR_NOMEM
 * instead of allocating gigabytes. */
extern _Thread_local int64_t gb_tensor_budget;
/* Checked shape product: GB_ERR_NOMEM/GB_ERR_SHAPE on negative or absurd. */
gb_status gb_shape_numel(int ndim, const int64_t *shape, int64_t *out);

/* Atomic file writing: open path.tmp.<pid>, write, then commit renames it
 * over path; abort removes it. */
typedef struct gb_atomic_file {
    FILE *f;
    char *path, *tmp;
} gb_atomic_file;
gb_status gb_atomic_open(gb_atomic_file *af, const char *path);
gb_status gb_atomic_commit(gb_atomic_file *af); /* closes; checks write errors */
void gb_atomic_abort(gb_atomic_file *af);

double gb_now(void);     /* monotonic seconds */
double gb_cpu_time(void); /* process CPU seconds */

/* ---- graph --------------------------------------------------------------- */

typedef enum gb_value_kind {
    GB_VAL_INPUT,  /* the graph input (images) */
    GB_VAL_PARAM,  /* trainable initializer */
    GB_VAL_CONST,  /* non-trainable initializer */
    GB_VAL_ACT,    /* produced by a node */
} gb_value_kind;

typedef struct gb_value {
    char *name;
    gb_value_kind kind;
    gb_tensor t;    /* data; for ACT planned per input shape */
    gb_tensor grad; /* gradient buffer, same shape as t when needed */
    int producer;   /* node index for ACT, -1 otherwise */
    int decay;      /* PARAM: takes weight decay */
    int needs_grad; /* set per backward pass by the planner */
    int64_t *i64;   /* CONST int64 data as stored in ONNX (shape tensors), t holds floats too */
    int is_int;     /* holds integers (ONNX int64/int32 data, shapes): see graph/fold.c */
    int is_static;  /* ACT computed at plan time (depends on shapes only): see graph/fold.c */
    int adapter;    /* inserted by graph/adapt.c in front of the model: not exported */
} gb_value;

/* Generic ONNX-style attribute. Ops parse these into gb_op_params at load. */
typedef enum gb_attr_type {
    GB_ATTR_INT,
    GB_ATTR_FLOAT,
    GB_ATTR_INTS,
    GB_ATTR_FLOATS,
    GB_ATTR_STRING,
} gb_attr_type;

typedef struct gb_attr {
    char *name;
    gb_attr_type type;
    int64_t i;
    float f;
    int64_t *ints;
    float *floats;
    int n; /* number of ints/floats */
    char *s;
} gb_attr;

/* Typed parameters parsed from attributes by an op's init. Each op uses the
 * fields it needs; see the op file for which. */
typedef struct gb_op_params {
    int64_t kernel[2], stride[2], dilation[2];
    int64_t pads[4]; /* top, left, bottom, right (ONNX order: begins then ends) */
    int64_t group;
    int ceil_mode, count_include_pad;
    int64_t axis;
    int trans_a, trans_b;
    float alpha, beta;
    float epsilon, momentum;
    float min, max;
    float ratio;
    int mode;                    /* op-specific choice (Pad mode, Resize mode, reduction) */
    int nax;                     /* op-specific resolved ints: axes, perm, pads, starts */
    int64_t ax[2 * GB_MAX_DIMS];
    int64_t ax2[GB_MAX_DIMS];    /* a second list (Slice steps) */
    float fv[GB_MAX_DIMS];       /* op-specific floats (Resize scales) */
    float value;                 /* Pad constant, ConstantOfShape value */
} gb_op_params;

#define GB_MAX_NODE_IO 8
#define GB_MAX_SCRATCH 6

/* What gb_train tells the ops that must act as on the whole global batch
 * of a data-parallel step (train/parallel.c); gb_node.dist points to it
 * while gb_train runs, and ops consult it in training mode only. */
typedef struct gb_exec_dist {
    const gb_train_comm *comm; /* BatchNorm sums its batch statistics over processes (NULL: alone) */
    int failed;                /* an allreduce failed: the step's results are void */
    const int64_t *rows;       /* Dropout: a global example id per batch row (NULL: none) */
    int64_t nrows;
} gb_exec_dist;

typedef struct gb_node {
    char *name;
    char *op_type; /* ONNX op_type */
    int op;        /* index into gb_ops[] */
    int nin, nout;
    int in[GB_MAX_NODE_IO];  /* value indices; -1 for an omitted optional input */
    int out[GB_MAX_NODE_IO];
    gb_attr *attrs;
    int nattrs;
    gb_op_params p;
    int64_t opset;  /* the model's default-domain opset, for ops whose semantics changed */
    int is_static;  /* evaluated at plan time, skipped by forward and backward */
    /* Set by gb_model_backward for the op's backward call: din[0] was not
     * zeroed and this node is its only writer, so backward must store into
     * it (=) instead of accumulating. Only ops listed in exec.c's
     * overwrites_grad ever see it set. */
    int grad_overwrite;
    /* Scratch buffers kept between forward and backward (im2col columns,
     * max-pool argmax, BatchNorm batch statistics, Dropout mask). An op's
     * infer sets scratch_need[k] (floats); the planner allocates. */
    int64_t scratch_need[GB_MAX_SCRATCH];
    gb_tensor scratch[GB_MAX_SCRATCH];
    /* Plan-time fusion (graph/fuse.c). A Conv whose output only a Relu
     * reads (and that Relu's output only a 2x2 MaxPool) computes them too,
     * image by image while the image is in cache: fuse_relu / fuse_pool are
     * 1 + the absorbed nodes' indices (0: none), and an absorbed node has
     * absorbed = 1 + the index of the Conv and is skipped by forward and
     * backward. */
    int fuse_relu, fuse_pool, absorbed;
    /* Conv's Winograd weights in scratch[3] are current (bit 0: forward,
     * bit 1: input gradient); cleared when the node is planned. */
    unsigned wino_cached;
    gb_exec_dist *dist; /* gb_train's, while it runs (else NULL) */
} gb_node;

/* What a fused Conv computes beyond its own output (which it then never
 * writes): relu(conv) into relu_out, or, with a fused pool, only the 2x2
 * stride-2 max pool of it into pool_out with the winners' in-plane indices
 * in pool_arg (MaxPool's own format). Backward reads the gradient of the
 * last of these, d_out. */
typedef struct gb_conv_post {
    gb_tensor *relu_out;
    gb_tensor *pool_out;
    int32_t *pool_arg;
    const gb_tensor *d_out;
} gb_conv_post;

/* Execution context handed to ops. */
typedef struct gb_exec {
    int training;
    gb_rng *rng; /* Dropout masks */
    const gb_conv_post *post; /* a fused Conv's extra outputs, else NULL */
} gb_exec;

/* One op: ONNX name, arity, and the four functions. din[i] is NULL when input
 * i needs no gradient; backward ACCUMULATES into din. */
typedef struct gb_op_def {
    const char *name;
    int min_in, max_in, nout;
    gb_status (*init)(gb_node *n);
    gb_status (*infer)(gb_node *n, const gb_value *const *in, gb_tensor **out);
    void (*forward)(gb_node *n, const gb_tensor *const *in, gb_tensor *const *out,
                    const gb_exec *ex);
    void (*backward)(gb_node *n, const gb_tensor *const *in, const gb_tensor *const *out,
                     gb_tensor *const *din, const gb_tensor *const *dout, const gb_exec *ex);
} gb_op_def;

#define GB_OP(id, onnx_name, file) GB_OP_##id,
typedef enum gb_op_id {
#include "ops/op_list.h"
    GB_OP_COUNT
} gb_op_id;
#undef GB_OP

extern const gb_op_def *const gb_ops[GB_OP_COUNT];
/* Looks up an op by ONNX name; -1 if unknown. */
int gb_op_find(const char *onnx_name);

/* Attribute helpers for op init functions. Missing attributes leave *out
 * at the default; wrong types are GB_ERR_FORMAT naming node and attribute. */
const gb_attr *gb_node_attr(const gb_node *n, const char *name);
gb_status gb_attr_int(const gb_node *n, const char *name, int64_t def, int64_t *out);
gb_status gb_attr_float(const gb_node *n, const char *name, float def, float *out);
/* Copies exactly `count` ints (error if the attribute has another length). */
gb_status gb_attr_ints(const gb_node *n, const char *name, int count, int64_t *out, int *found);
gb_status gb_attr_string(const gb_node *n, const char *name, const char **out);

struct gb_model {
    gb_value *vals;
    int nvals, cap_vals;
    gb_node *nodes;
    int nnodes, cap_nodes;
    int input;  /* value index of the image input */
    int output; /* value index of the logits */
    int no_fuse; /* run every node on its own (tests compare against fusion) */
    int64_t in_shape[GB_MAX_DIMS]; /* declared input shape, batch may be -1 */
    int in_ndim;
    int training;
    gb_rng rng;
    char *arch;      /* zoo description, stored in ONNX metadata "gibbon.arch" */
    char *producer;  /* ONNX producer_name */
    char *io_desc;   /* gibbon info: the graph's inputs and outputs (unfinalized import only) */
    int64_t opset;
    /* planning state: the input shape the activations are sized for */
    int64_t planned[GB_MAX_DIMS];
    int planned_ndim;
    gb_tensor dx; /* input gradient returned by backward */
    /* name -> value index: open addressing over hash_cap slots (-1 empty) */
    int *hash;
    int hash_cap;
    /* graph outputs declared by the file (names), for --output */
    char **outputs;
    int noutputs;
    gb_output_kind out_kind;
    /* Input adapter (graph/adapt.c): nodes [0, nadapt) convert gibbon's
     * NCHW [0,1] input into what the model's own graph (value raw_input,
     * declared shape raw_shape) expects. */
    int nadapt;
    int raw_input;
    int64_t raw_shape[GB_MAX_DIMS];
    int raw_ndim;
    gb_layout layout; /* GB_LAYOUT_NCHW or GB_LAYOUT_NHWC */
    int norm_c;       /* 0: no normalization */
    float norm_mean[GB_MAX_CHANNELS], norm_std[GB_MAX_CHANNELS], norm_range;
};

/* Building graphs (zoo, ONNX import). Indices stay valid; names are copied. */
gb_model *gb_model_alloc(void);
/* Adds a value; t (may be NULL) is copied in for PARAM/CONST. Returns index or -1. */
int gb_model_add_value(gb_model *m, const char *name, gb_value_kind kind, const gb_tensor *t);
int gb_model_find_value(const gb_model *m, const char *name);
/* Adds a node; returns its index or -1 (error set). Attributes are added after. */
int gb_model_add_node(gb_model *m, const char *op_type, const char *name, const int *in, int nin,
                      const int *out, int nout);
gb_status gb_node_add_int(gb_node *n, const char *name, int64_t v);
gb_status gb_node_add_float(gb_node *n, const char *name, float v);
gb_status gb_node_add_ints(gb_node *n, const char *name, const int64_t *v, int count);
gb_status gb_node_add_floats(gb_node *n, const char *name, const float *v, int count);
gb_status gb_node_add_string(gb_node *n, const char *name, const char *s);
/* Frees a node's names, attributes and scratch (not the node itself). */
void gb_node_release(gb_node *n);
/* Resolves op ids, runs each op's init, checks arity and topological order. */
gb_status gb_model_finalize(gb_model *m);
/* Sizes activations and scratch for input shape (ndim, shape). */
gb_status gb_model_plan(gb_model *m, int ndim, const int64_t *shape);
/* graph/fuse.c: decides the fusions of a planned model (sets the nodes'
 * fuse_relu, fuse_pool and absorbed); for a fused Conv, fills *post with
 * its extras and returns post, for any other node returns NULL. */
void gb_model_plan_fusion(gb_model *m);
const gb_conv_post *gb_model_fused_post(gb_model *m, const gb_node *n, gb_conv_post *post);
/* Whether a planned Conv can take a Relu (and MaxPool) in its image loop,
 * and whether a planned MaxPool is the 2x2 stride-2 kind it can take. */
int gb_conv_fusable(const gb_node *n, const gb_tensor *x, const gb_tensor *w, const gb_tensor *y);
/* Benchmarks and tests set it to run 3x3 convolutions by im2col instead of
 * Winograd (conv.c), for A/B comparisons; plan the model after changing it. */
extern int gb_no_winograd;
int gb_maxpool_fusable(const gb_node *n, const gb_tensor *x, const gb_tensor *y);
/* One (H, W) plane's 2x2 stride-2 max pool into (OH, OW) with winners'
 * in-plane indices (the first maximum on ties). */
void gb_maxpool2x2_plane(float *y, int32_t *arg, const float *x, int64_t H, int64_t W,
                         int64_t OH, int64_t OW);
/* The same, one output at a time: the fallback without AVX2, and the
 * reference the AVX2 version is tested and timed against. */
void gb_maxpool2x2_plane_scalar(float *y, int32_t *arg, const float *x, int64_t H, int64_t W,
                                int64_t OH, int64_t OW);
/* The first half of gb_model_backward (shapes already checked): marks the
 * values that need a gradient, zeroes activation gradients (except those
 * a node's backward stores with grad_overwrite), seeds the output's. */
void gb_model_backward_begin(gb_model *m, const gb_tensor *dlogits, gb_grad_mode mode);

/* ---- ONNX import beyond the public loader (io/onnx_import.c) ------------- */

/* A graph input given a value at load time: it becomes a constant (t holds
 * the values as floats; i64, if not NULL, the exact integers). */
typedef struct gb_onnx_feed {
    const char *name;
    const gb_tensor *t;
    const int64_t *i64;
} gb_onnx_feed;

typedef struct gb_onnx_load_opts {
    const gb_onnx_feed *feeds; /* extra graph inputs as constants (the node-test suite) */
    int nfeeds;
    /* Build the graph but do not finalize it: unknown ops keep op = -1 and no
     * op's init runs (gibbon info on models with unsupported ops). */
    int no_finalize;
    /* Adapters to apply (graph/adapt.c); NULL: the graph exactly as in the
     * file (the node-test suite), metadata ignored. */
    const gb_model_load_params *params;
} gb_onnx_load_opts;

gb_status gb_model_load_onnx_ex(const char *path, const gb_onnx_load_opts *o, gb_model **out);
/* The same from bytes in memory; path names the model in messages and
 * locates external-data files (the fuzzer). */
gb_status gb_model_load_onnx_buffer(const char *path, const uint8_t *buf, size_t len,
                                    const gb_onnx_load_opts *o, gb_model **out);

/* ---- adapters (graph/adapt.c) --------------------------------------------- */

/* Metadata read from the file: adapter settings p does not give. */
typedef struct gb_adapt_meta {
    const char *mean, *std, *range, *layout; /* NULL when absent */
} gb_adapt_meta;
/* Applies output choice, Softmax removal, layout and normalization to an
 * unfinalized graph just built by the importer. */
gb_status gb_model_adapt(gb_model *m, const gb_model_load_params *p, const gb_adapt_meta *meta);
/* Recomputes every ACT value's producer from the node list. */
void gb_model_relink(gb_model *m);
/* Shape-mismatch hint for gb_model_plan ("" if none): the data looks like
 * the model's input in the other layout. */
const char *gb_model_layout_hint(const gb_model *m, int ndim, const int64_t *shape);

/* ---- constant folding and shape computations (graph/fold.c) --------------- */

/* Whether v's data can be read by an op's infer: a constant, or a value
 * computed at plan time from shapes (Shape -> Gather -> Concat -> Reshape). */
int gb_value_known(const gb_value *v);
/* Reads known value v (at most max entries, rank <= 1) as integers into
 * out[0..*n); `what` names it in messages. GB_ERR_UNSUPPORTED if not known. */
gb_status gb_value_ints(const gb_value *v, const char *what, int64_t *out, int max, int *n);
/* Replaces every node whose inputs are all constants by constant values
 * (called by gb_model_finalize after the ops' init). */
gb_status gb_model_fold(gb_model *m);
/* Marks the nodes that depend on shapes only (Shape and what is computed
 * from it): gb_model_plan evaluates them, forward and backward skip them. */
void gb_model_mark_static(gb_model *m);
/* After a static node ran: rounds integer outputs (integer Div truncates). */
void gb_node_round_ints(gb_model *m, const gb_node *n);

/* ---- kernels shared between ops ------------------------------------------ */

/* C (M,N) = alpha * op(A) op(B) + beta * C through CBLAS, row-major. */
void gb_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc);

#endif
