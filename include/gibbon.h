/* gibbon.h — the one public header of libgibbon.
 *
 * gibbon breaks neural-network image classifiers with adversarial examples,
 * measures their robustness and hardens them. Everything is a differentiable
 * graph over float32 NCHW images in [0,1]: a model is a DAG of ONNX-style
 * nodes with forward and reverse-mode backward.
 *
 * Conventions
 *  - Functions that can fail because of user input return gb_status (0 = ok,
 *    negative = error) and record a one-line message readable with
 *    gb_last_error(). The library never exits and never prints.
 *  - Ownership: `*_new`/`*_load`/`*_init` results are owned by the caller and
 *    released with the matching `*_free`. Pointers documented as "borrowed"
 *    stay valid until the next call on the same object.
 *  - Randomness comes from an explicit gb_rng: same seed and thread count,
 *    same bits.
 */
#ifndef GIBBON_H
#define GIBBON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status and errors ------------------------------------------------ */

typedef enum gb_status {
    GB_OK = 0,
    GB_ERR_IO = -1,          /* cannot open/read/write a file */
    GB_ERR_FORMAT = -2,      /* file exists but its content is corrupt or not what it claims */
    GB_ERR_UNSUPPORTED = -3, /* valid input that gibbon does not handle (op, attribute, dtype) */
    GB_ERR_NOMEM = -4,       /* allocation failed or size absurd */
    GB_ERR_ARG = -5,         /* bad argument from the caller (flag, parameter value) */
    GB_ERR_SHAPE = -6,       /* shapes do not fit together */
    GB_ERR_BUDGET = -7,      /* a black-box oracle's query budget is spent */
} gb_status;

/* The message recorded by the last failing call on this thread ("" if none). */
const char *gb_last_error(void);
/* The library's version, "MAJOR.MINOR.PATCH". */
const char *gb_version(void);
/* Short name of a status ("io", "format", ...). */
const char *gb_status_name(gb_status s);

/* Allocator hooks: all library allocations go through these. Passing NULLs
 * restores malloc/realloc/free. Tests use gb_alloc_fail_after to make the
 * N-th allocation from now fail (negative: never). */
typedef struct gb_allocator {
    void *(*malloc_fn)(size_t size, void *user);
    void *(*realloc_fn)(void *p, size_t size, void *user);
    void (*free_fn)(void *p, void *user);
    void *user;
} gb_allocator;
void gb_set_allocator(const gb_allocator *a);
void gb_alloc_fail_after(long n);
/* Releases memory the library handed out as a plain array (e.g. labels). */
void gb_free(void *p);

/* Threads used by OpenMP loops and BLAS (default 2). */
void gb_set_num_threads(int n);
int gb_get_num_threads(void);

/* ---- random numbers ----------------------------------------------------- */

/* PCG32: small, fast, and reproducible across platforms. */
typedef struct gb_rng {
    uint64_t state, inc;
} gb_rng;
void gb_rng_seed(gb_rng *r, uint64_t seed, uint64_t stream);
uint32_t gb_rng_u32(gb_rng *r);
float gb_rng_uniform(gb_rng *r);          /* [0, 1) */
float gb_rng_normal(gb_rng *r);           /* N(0, 1) */
uint32_t gb_rng_below(gb_rng *r, uint32_t n); /* [0, n), unbiased */

/* ---- tensors ------------------------------------------------------------ */

#define GB_MAX_DIMS 8

/* A dense float32 tensor, row-major (NCHW for images). `data` is owned by
 * whoever created the tensor through gb_tensor_new / gb_tensor_resize;
 * `cap` is the allocated element count (0 for a borrowed view). */
typedef struct gb_tensor {
    int ndim;
    int64_t shape[GB_MAX_DIMS];
    int64_t size; /* product of shape */
    int64_t cap;
    float *data;
} gb_tensor;

/* Allocates a zero-filled tensor. Returns NULL (and sets the error) on failure. */
gb_tensor *gb_tensor_new(int ndim, const int64_t *shape);
gb_tensor *gb_tensor_new4(int64_t n, int64_t c, int64_t h, int64_t w);
gb_tensor *gb_tensor_clone(const gb_tensor *t);
void gb_tensor_free(gb_tensor *t);
/* Sets shape, growing the buffer if needed (contents unspecified after growth). */
gb_status gb_tensor_resize(gb_tensor *t, int ndim, const int64_t *shape);
/* Releases the buffer of a tensor embedded by value (not the struct itself). */
void gb_tensor_release(gb_tensor *t);
int gb_tensor_same_shape(const gb_tensor *a, const gb_tensor *b);
/* "(2, 3, 4)" into buf; returns buf. */
const char *gb_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);

/* ---- models (graphs) ---------------------------------------------------- */

typedef struct gb_model gb_model;

/* Loads an ONNX model (gibbon's own or foreign) with the default load
 * parameters (below). Errors name the file and the problem: unreadable,
 * corrupt protobuf, unsupported op, bad attribute. */
gb_status gb_model_load_onnx(const char *path, gb_model **out);

/* ---- adapting a model to gibbon's conventions ---------------------------- *
 * Attacks work on float32 NCHW pixels in [0,1] and on logits. A foreign model
 * may expect normalized input (per-channel mean/std, pixels in 0..255), NHWC
 * layout, or end in Softmax; the loader adapts it:
 *  - input: gibbon inserts nodes in front of the model's first node,
 *      x_model = (x * range - mean) / std      (Mul, Sub, Div; per channel)
 *    and, for NHWC models, a Transpose from NCHW, so gradients and eps stay
 *    in [0,1] pixel space. mean and std are in the model's units, i.e. after
 *    scaling by range (range 255: Caffe-style 123.68; range 1: 0.485).
 *    Without explicit values, the file's metadata_props "gibbon.mean",
 *    "gibbon.std", "gibbon.range", "gibbon.layout" apply; gb_model_save_onnx
 *    writes the model's own graph with those keys rather than the inserted
 *    nodes, so a saved model reloads the same.
 *  - output: a final Softmax is removed (attacks run on its input, the
 *    logits; gb_model_output_kind says so, for a notice); a final LogSoftmax
 *    stays (log-probabilities are logits up to a constant per example).
 *    With several graph outputs the first is used unless one is named. */

#define GB_MAX_CHANNELS 16

typedef enum gb_layout {
    GB_LAYOUT_AUTO, /* load parameter only: the file's metadata, else NCHW */
    GB_LAYOUT_NCHW, /* the model's input is (N, C, H, W): nothing inserted */
    GB_LAYOUT_NHWC, /* the model's input is (N, H, W, C): gibbon feeds it NCHW through a Transpose */
} gb_layout;

typedef enum gb_output_kind {
    GB_OUTPUT_LOGITS,          /* the graph output as declared */
    GB_OUTPUT_SOFTMAX_REMOVED, /* the model ended in Softmax: its input (the logits) is the output */
    GB_OUTPUT_LOG_SOFTMAX,     /* the model ends in LogSoftmax: outputs are log-probabilities */
} gb_output_kind;

typedef struct gb_model_load_params {
    int channels; /* entries in mean and std (1 = same for every channel); 0 = none given */
    float mean[GB_MAX_CHANNELS], std[GB_MAX_CHANNELS];
    float range;       /* pixel range the model expects before mean/std: 1 or 255; 0 = not given */
    gb_layout layout;  /* the model's input layout (GB_LAYOUT_AUTO: not given) */
    const char *output; /* graph output to use, by name (NULL: the first) */
    int keep_softmax;   /* 1: keep a final Softmax (outputs are probabilities) */
} gb_model_load_params;

/* Nothing given: metadata decides, NCHW, first output, Softmax removed. */
gb_model_load_params gb_model_load_default_params(void);
/* gb_model_load_onnx with explicit parameters (p may be NULL: defaults).
 * Errors: as gb_model_load_onnx; GB_ERR_ARG for an unknown output name, a
 * mean/std whose length does not match the model's channels, std <= 0 or
 * range <= 0. */
gb_status gb_model_load_onnx_opts(const char *path, const gb_model_load_params *p, gb_model **out);
/* Replaces the input normalization of a loaded model (channels 0: none;
 * mean/std with `channels` entries, range as above). */
gb_status gb_model_set_input_normalization(gb_model *m, int channels, const float *mean,
                                           const float *std, float range);
/* The normalization in effect: returns channels (0: none) and fills mean,
 * std (GB_MAX_CHANNELS entries each, may be NULL) and *range (may be NULL). */
int gb_model_input_normalization(const gb_model *m, float *mean, float *std, float *range);
gb_layout gb_model_input_layout(const gb_model *m);
gb_output_kind gb_model_output_kind(const gb_model *m);
/* The graph outputs the file declares and the one in use (names borrowed). */
int gb_model_num_outputs(const gb_model *m);
const char *gb_model_output_name(const gb_model *m, int i);
const char *gb_model_used_output(const gb_model *m);
/* Checks a batch before running it: its shape fits the model's input (an
 * NCHW/NHWC mix-up names the fix) and its values are pixels in [0,1]
 * (max > 1.5 means 0..255 data). GB_ERR_SHAPE / GB_ERR_ARG with a message. */
gb_status gb_model_check_input(const gb_model *m, const gb_tensor *x);
/* A text report on an ONNX file (gibbon info): producer and opset, input,
 * output, op histogram, parameter count, FLOPs per image, and whether every
 * op is supported (ops gibbon lacks are listed, not an error). *text is
 * allocated (release with gb_free); *supported (may be NULL) is 1 when the
 * model loads. Errors: the file cannot be read or is not ONNX. */
gb_status gb_model_describe_onnx(const char *path, char **text, int *supported);
/* The same for the model as loaded with p (adapters are reported). */
gb_status gb_model_describe_onnx_opts(const char *path, const gb_model_load_params *p, char **text,
                                      int *supported);
/* Saves as ONNX (opset 13), atomically (temporary file + rename). */
gb_status gb_model_save_onnx(const gb_model *m, const char *path);
/* Builds a freshly initialised model from the built-in zoo; see
 * gb_zoo_describe for the architecture grammar. in_c/in_h/in_w give the
 * input image shape, num_classes the logits width. */
gb_status gb_model_from_zoo(const char *arch, int in_c, int in_h, int in_w, int num_classes,
                            uint64_t seed, gb_model **out);
/* Text describing the zoo (names and the description grammar). */
const char *gb_zoo_describe(void);
void gb_model_free(gb_model *m);
/* An ensemble of n models (1..8; borrowed, copied: they may be freed after)
 * as one model whose logits are the mean of theirs (Dong et al. 2018), so
 * every attack runs on it: the loss of the mean logits, whose input gradient
 * averages the members' backward passes. GB_ERR_SHAPE when input shapes or
 * class counts differ. */
gb_status gb_model_ensemble(gb_model *const *models, int n, gb_model **out);

/* Training mode: BatchNorm uses batch statistics and updates running ones,
 * Dropout drops. Off by default (inference). */
void gb_model_set_training(gb_model *m, int training);
/* Seed for Dropout masks. */
void gb_model_set_seed(gb_model *m, uint64_t seed);

/* Input shape as declared by the model (batch dimension may be -1). */
int gb_model_input_shape(const gb_model *m, int64_t shape[GB_MAX_DIMS]);
int gb_model_num_classes(const gb_model *m);
const char *gb_model_arch(const gb_model *m); /* zoo description, or "" */

/* Forward pass on a batch x (N, C, H, W). *logits is borrowed (valid until
 * the next forward on m). */
gb_status gb_model_forward(gb_model *m, const gb_tensor *x, const gb_tensor **logits);

/* Which gradients a backward pass computes. */
typedef enum gb_grad_mode {
    GB_GRAD_INPUT = 1,  /* d loss / d x only: what attacks need; weight GEMMs never run */
    GB_GRAD_PARAMS = 2, /* d loss / d parameters only: training */
    GB_GRAD_ALL = 3,
} gb_grad_mode;

/* Reverse pass after gb_model_forward: dlogits has the logits' shape.
 * Parameter gradients ACCUMULATE into the model's gradient buffers (zero
 * them with gb_model_zero_grad); *dx (if requested and dx != NULL) is
 * borrowed and overwritten. */
gb_status gb_model_backward(gb_model *m, const gb_tensor *dlogits, gb_grad_mode mode,
                            const gb_tensor **dx);
void gb_model_zero_grad(gb_model *m);

/* Trainable parameters, for optimizers and gradient checks. */
typedef struct gb_param {
    const char *name;
    float *data;
    float *grad;
    int64_t size;
    int decay; /* 1 for weights that take weight decay, 0 for biases/BN */
} gb_param;
int gb_model_num_params(const gb_model *m);
gb_param gb_model_param(gb_model *m, int i);
int64_t gb_model_param_count(const gb_model *m); /* total scalars */

/* ---- losses -------------------------------------------------------------- */

/* Softmax cross-entropy at temperature T on logits (N, K), averaged over N.
 * Targets are either hard labels (labels != NULL, soft == NULL) or soft
 * probability rows (soft (N, K)). dlogits (may be NULL) receives
 * d loss / d logits (overwritten). Returns the mean loss in *loss. */
gb_status gb_loss_cross_entropy(const gb_tensor *logits, const int *labels, const gb_tensor *soft,
                                float temperature, float *loss, gb_tensor *dlogits);

/* Kullback-Leibler divergence KL(softmax(p) || softmax(q)) between the rows
 * of logits p and q (both (N, K)), averaged over N (TRADES' "batchmean").
 * dp and dq (may be NULL) receive d loss / d p and d loss / d q
 * (overwritten, resized like the logits). */
gb_status gb_loss_kl(const gb_tensor *p, const gb_tensor *q, float *loss, gb_tensor *dp,
                     gb_tensor *dq);

/* ---- data ---------------------------------------------------------------- */

typedef struct gb_dataset {
    gb_tensor *images; /* (N, C, H, W) in [0,1] */
    int *labels;       /* N entries */
    int64_t n;
    int num_classes;
    char **class_names; /* num_classes strings (may be NULL) */
    float *masks;       /* (N, H, W) fraction of each pixel the object covers (the
                           sign, for "signs"), or NULL: where a sticker can go */
} gb_dataset;

/* Loads "fashion-mnist:train", "fashion-mnist:test" (optionally with
 * "[:N]" to keep the first N), a directory holding IDX files, or a pair of
 * .npy files "images.npy,labels.npy". */
gb_status gb_dataset_load(const char *spec, gb_dataset **out);
void gb_dataset_free(gb_dataset *d);

/* Synthetic RGB road signs (src/data/signs.c): 10 classes (stop, yield,
 * speed 30/50/80, no entry, priority, turn left/right, warning), each image
 * rendered on its own from (seed, index) with random perspective, scale,
 * rotation, lighting, blur, noise and background clutter, anti-aliased by
 * supersampling. Image i has label i mod 10. Data set specs "signs:train"
 * (seed GB_SIGNS_TRAIN_SEED, GB_SIGNS_TRAIN_N images) and "signs:test"
 * (seed GB_SIGNS_TEST_SEED, GB_SIGNS_TEST_N), with an optional ":N". */
#define GB_SIGNS_NUM_CLASSES 10
#define GB_SIGNS_DEFAULT_SIZE 48
#define GB_SIGNS_MAX_SIZE 256
#define GB_SIGNS_TRAIN_SEED 1
#define GB_SIGNS_TEST_SEED 2
#define GB_SIGNS_TRAIN_N 20000
#define GB_SIGNS_TEST_N 2000
typedef enum gb_sign_class {
    GB_SIGN_STOP, GB_SIGN_YIELD, GB_SIGN_SPEED30, GB_SIGN_SPEED50, GB_SIGN_SPEED80,
    GB_SIGN_NO_ENTRY, GB_SIGN_PRIORITY, GB_SIGN_TURN_LEFT, GB_SIGN_TURN_RIGHT, GB_SIGN_WARNING,
} gb_sign_class;
typedef struct gb_signs_params {
    int size;        /* images are (3, size, size), 16..GB_SIGNS_MAX_SIZE (48) */
    int supersample; /* samples per pixel side for anti-aliasing, 1..8 (3) */
    uint64_t seed;   /* the set (1) */
} gb_signs_params;
gb_signs_params gb_signs_default_params(void);
/* "stop", "speed 50", ...; "?" outside [0, 10). */
const char *gb_sign_class_name(int k);
/* n images into a new data set (with class names and sign masks); GB_ERR_ARG on bad params. */
gb_status gb_signs_generate(const gb_signs_params *p, int64_t n, gb_dataset **out);
/* Image `index` of the set p into chw (3 * size * size floats); *label (may
 * be NULL) gets its class. The same bits as gb_signs_generate's image. */
gb_status gb_sign_render(const gb_signs_params *p, int64_t index, float *chw, int *label);
/* A sign of class cls, frontal and centred (radius 0.42 size) on a plain
 * grey background, no lighting, blur or noise: the starting point for
 * stickers and patches. mask (size * size, may be NULL) gets the fraction
 * of each pixel covered by the sign. */
gb_status gb_sign_render_neutral(int cls, int size, float *chw, float *mask);
/* (src/data/grey.c) Image chw (c, h, w), c = 1 or 3, to out (oh, ow): luma
 * 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601; c = 1 is kept), then area
 * resampling (each output pixel the mean over its footprint, partly covered
 * source pixels weighted by the covered fraction). GB_ERR_ARG on other
 * channel counts or sizes outside 1..4096. */
gb_status gb_image_grey_resize(const float *chw, int c, int h, int w, float *out, int oh, int ow);
/* The first n signs of the set p as greyscale size x size images, (n, 1,
 * size, size) in a new tensor (an out-of-distribution set for Fashion-MNIST
 * models); the same images as gb_signs_generate's, converted as above. */
gb_status gb_signs_grey(const gb_signs_params *p, int64_t n, int size, gb_tensor **out);

/* IDX (optionally gzip-compressed): images (magic 0x803) to (N,1,H,W) floats
 * in [0,1]; labels (0x801). */
gb_status gb_idx_read_images(const char *path, gb_tensor **out);
gb_status gb_idx_read_labels(const char *path, int **labels, int64_t *n);

/* .npy read/write of float32 arrays (read also accepts uint8/float64/int64
 * and converts); written atomically. */
gb_status gb_npy_write(const char *path, const gb_tensor *t);
gb_status gb_npy_read(const char *path, gb_tensor **out);
gb_status gb_npy_write_i32(const char *path, const int *v, int64_t n);

/* ---- images -------------------------------------------------------------- */

/* An 8-bit RGB canvas for figures. */
typedef struct gb_image {
    int w, h;
    uint8_t *rgb; /* h * w * 3 */
} gb_image;
gb_image *gb_image_new(int w, int h, uint8_t r, uint8_t g, uint8_t b);
void gb_image_free(gb_image *im);
/* Draws channel-major data (C = 1 or 3, values in [lo, hi]) at (x, y) upscaled
 * by `scale` with nearest neighbour. */
void gb_image_blit(gb_image *im, const float *chw, int c, int h, int w, float lo, float hi,
                   int x, int y, int scale);
/* Draws text with the embedded bitmap font (ASCII 32..126), `px` pixels per
 * font pixel; returns the width drawn. */
int gb_image_text(gb_image *im, int x, int y, const char *s, int px, uint8_t r, uint8_t g,
                  uint8_t b);
int gb_image_text_width(const char *s, int px);
gb_status gb_png_write(const char *path, const gb_image *im);

/* The classic adversarial-example figure (Goodfellow et al. 2015, Fig. 1):
 * clean image + eps * perturbation = adversarial image, each captioned with
 * class and confidence. Images are (C, H, W) in [0,1]; the perturbation
 * panel shows (adv - clean) / eps mapped to gray. Written as PNG. */
typedef struct gb_figure_panel {
    const float *chw;
    const char *label; /* class name */
    float confidence;  /* in [0,1] */
} gb_figure_panel;
gb_status gb_figure_adversarial(const char *path, int c, int h, int w, gb_figure_panel clean,
                                gb_figure_panel adv, float eps, const char *title);

/* ---- training ------------------------------------------------------------ */

typedef enum gb_optimizer_kind { GB_OPT_SGD, GB_OPT_ADAM } gb_optimizer_kind;
typedef enum gb_schedule_kind { GB_SCHED_CONSTANT, GB_SCHED_STEP, GB_SCHED_COSINE } gb_schedule_kind;

typedef struct gb_train_progress gb_train_progress;

/* Adversarial training: how each minibatch's examples are perturbed (L-inf
 * ball of radius adv_eps in [0,1] pixel space, model in inference mode for
 * the inner maximization). */
typedef enum gb_adv_kind {
    GB_ADV_NONE,
    GB_ADV_FGSM,   /* Goodfellow et al. 2015: alpha*J(x) + (1-alpha)*J(x + eps*sign(grad)) */
    GB_ADV_FAST,   /* Wong et al. 2020: FGSM from a uniform start, step 1.25*eps, trains on x_adv */
    GB_ADV_PGD,    /* Madry et al. 2018: PGD-k from a uniform start, trains on x_adv */
    GB_ADV_TRADES, /* Zhang et al. 2019: CE(f(x), y) + beta*KL(f(x) || f(x')), x' maximizes the KL */
} gb_adv_kind;
const char *gb_adv_name(gb_adv_kind kind);
gb_status gb_adv_parse(const char *name, gb_adv_kind *kind); /* none, fgsm, fast, pgd, trades */

/* Data-parallel training over `size` processes (the CLI fills it from MPI
 * under mpirun; the library itself never calls MPI). Every process calls
 * gb_train with the same model, data, parameters and seed. Each step,
 * process `rank` takes the contiguous slice [n*rank/size, n*(rank+1)/size)
 * of the global batch of n; its parameter gradients (scaled to the global
 * mean loss), the step's metrics and the BatchNorm batch statistics (sync
 * BN: per-channel sums in forward and backward) are summed over processes
 * with allreduce_sum, so every process takes the step one process would
 * take on the whole batch, up to float rounding. Per-example randomness
 * (augmentation, noise, adversarial starts, Dropout) is drawn from streams
 * keyed by the example's global position, never by rank. Only rank 0 writes
 * the checkpoint; on resume every process reads it (across machines: a
 * shared file system), and the processes check they resumed alike and,
 * after every epoch, that their models are identical. The test set is
 * split across processes too. Progress reports carry the global numbers on
 * every process; a non-zero return on any process stops all of them. A
 * process whose gb_train fails may leave the others waiting in an
 * allreduce: the caller ends the job (the CLI calls MPI_Abort). */
typedef struct gb_train_comm {
    int rank, size;
    /* Replaces buf[0..n) on every process by the element-wise sum over all
     * processes, with the same bits everywhere; every process makes the same
     * calls in the same order. Returns 0, or non-zero on failure (training
     * then fails with an error). */
    int (*allreduce_sum)(float *buf, int64_t n, void *ctx);
    void *ctx;
} gb_train_comm;

typedef struct gb_train_params {
    gb_optimizer_kind optimizer;
    float lr;
    float momentum;     /* SGD */
    float weight_decay; /* L2 on weights (decoupled for Adam: AdamW) */
    float beta1, beta2, adam_eps;
    gb_schedule_kind schedule;
    int step_every;   /* epochs, for GB_SCHED_STEP */
    float step_gamma; /* lr multiplier, for GB_SCHED_STEP */
    int warmup_epochs;
    int epochs;
    int batch_size;
    uint64_t seed;
    int augment;              /* random horizontal flips and 2-pixel shifts */
    float label_smoothing;    /* 0 = off */
    const char *checkpoint;   /* path of the checkpoint written every epoch (NULL: none) */
    int resume;               /* continue from `checkpoint` if it exists */
    gb_adv_kind adv;          /* adversarial training (GB_ADV_NONE: plain) */
    float adv_eps;            /* L-inf radius (0.1) */
    int adv_steps;            /* PGD/TRADES inner steps (7) */
    float adv_step_size;      /* 0: PGD/TRADES 2.5*eps/steps, FGSM eps, fast 1.25*eps */
    float adv_alpha;          /* FGSM: weight of the clean loss (0.5) */
    float trades_beta;        /* TRADES: weight of the KL term (6) */
    /* Gaussian data augmentation for randomized smoothing (Cohen et al.
     * 2019): every training image gets N(0, noise_sigma^2) noise per pixel,
     * unclipped, drawn from the checkpointed data rng (0: off). */
    float noise_sigma;
    /* Temperature T of the training loss CE(softmax(z / T), target) (1).
     * Defensive distillation (Papernot et al. 2016): train the teacher at T,
     * then the student at the same T on the teacher's softmax(z_teacher / T)
     * (teacher != NULL; run in inference mode on each augmented batch);
     * both are deployed as they are, i.e. at T = 1. Not combined with adv
     * or label smoothing. */
    float temperature;
    gb_model *teacher;
    /* Called after every batch and epoch; may be NULL. Returning non-zero
     * stops training after the current batch (the checkpoint of the last
     * finished epoch stays, so --resume continues from it). */
    int (*progress)(const gb_train_progress *p, void *user);
    void *user;
    const gb_train_comm *comm; /* data-parallel training (NULL: one process) */
} gb_train_params;

struct gb_train_progress {
    int epoch, epochs;
    int64_t seen, total; /* images seen this epoch, images per epoch */
    float loss, accuracy; /* running averages over this epoch */
    double images_per_sec;
    double elapsed, eta; /* seconds */
    int epoch_done;      /* 1 on the end-of-epoch call */
    float test_accuracy; /* at epoch end if a test set was given, else -1 */
    float lr;
    /* Adversarial training: loss and accuracy on this epoch's adversarial
     * examples (loss/accuracy above are then on the clean ones); -1 when
     * training is plain. */
    float adv_loss, adv_accuracy;
    /* This batch alone (the whole global batch under comm): its step number
     * since training began (1, 2, ...; counts across resumes), mean loss and
     * accuracy, and the adversarial ones (-1 when training is plain). 0 on
     * the end-of-epoch call. */
    int64_t step;
    float batch_loss, batch_accuracy, batch_adv_loss, batch_adv_accuracy;
};

gb_train_params gb_train_default_params(void);
/* Trains m on `train`; `test` (may be NULL) is evaluated after each epoch. */
gb_status gb_train(gb_model *m, const gb_dataset *train, const gb_dataset *test,
                   const gb_train_params *p);

/* Clean accuracy of m over d, batches of batch_size; predictions (may be
 * NULL) receives d->n labels. */
gb_status gb_evaluate(gb_model *m, const gb_dataset *d, int batch_size, float *accuracy,
                      int *predictions);

/* ---- confidence ----------------------------------------------------------- */

/* One bin of a reliability diagram. */
typedef struct gb_calibration_bin {
    int64_t count;
    double accuracy, confidence; /* means over the bin (0 when empty) */
} gb_calibration_bin;

/* Expected calibration error (Guo et al. 2017, eq. 3) of n predictions with
 * confidence conf[i] in [0,1] and correct[i] != 0 when right, over nbins
 * equal-width bins; bins (nbins entries, may be NULL) receives the diagram. */
gb_status gb_calibration_ece(const float *conf, const int *correct, int64_t n, int nbins, double *ece,
                             gb_calibration_bin *bins);
/* Reliability diagram (accuracy per confidence bin, gap to the diagonal) as SVG. */
gb_status gb_reliability_svg(const char *path, const gb_calibration_bin *bins, int nbins, double ece,
                             const char *title);
/* Temperature scaling (Guo et al. 2017, sec. 4.2): the T in [0.01, 1000]
 * minimizing the mean NLL of softmax(z / T) over logits (N, K) with labels,
 * by golden-section search over log T. */
gb_status gb_temperature_fit(const gb_tensor *logits, const int *labels, float *T);
/* Per row of logits (N, K): conf = max softmax(z / T), pred (may be NULL) = argmax. */
void gb_softmax_confidence(const gb_tensor *logits, float T, float *conf, int *pred);
/* OOD score T * logsumexp(z / T) per row (negative free energy, Liu et al.
 * 2020: higher = more in-distribution, like the max softmax probability). */
void gb_ood_energy(const gb_tensor *logits, float T, float *score);
/* Area under the ROC curve of telling in-distribution scores (higher) from
 * OOD ones: P(score_in > score_out) + P(tie) / 2. */
gb_status gb_auroc(const float *in, int64_t n_in, const float *out, int64_t n_out, double *auroc);

/* ---- attacks -------------------------------------------------------------- */

/* Every attack works in pixel space [clip_min, clip_max] (default [0,1]) on a
 * batch, untargeted (any wrong class) or targeted, and is deterministic for a
 * given seed and thread count. README.md, section "Attacks", gives the paper
 * and the defaults of each. */
typedef enum gb_attack_kind {
    GB_ATTACK_FGSM,     /* one signed-gradient step, L-inf (Goodfellow et al. 2015) */
    GB_ATTACK_FGM,      /* one L2-normalized gradient step */
    GB_ATTACK_BIM,      /* basic iterative method / I-FGSM (Kurakin et al. 2017) */
    GB_ATTACK_ILL,      /* iterative least-likely class (Kurakin et al. 2017) */
    GB_ATTACK_PGD,      /* projected gradient descent (Madry et al. 2018): L-inf, L2, L1 */
    GB_ATTACK_MIFGSM,   /* momentum iterative FGSM (Dong et al. 2018) */
    GB_ATTACK_CW_L2,    /* Carlini & Wagner 2017, L2: tanh variables, Adam, binary search on c */
    GB_ATTACK_CW_LINF,  /* PGD (L-inf) on the C&W margin loss */
    GB_ATTACK_DEEPFOOL, /* Moosavi-Dezfooli et al. 2016, L2 or L-inf */
    GB_ATTACK_JSMA,     /* Jacobian saliency map attack (Papernot et al. 2016), L0 */
    GB_ATTACK_APGD,     /* auto-PGD (Croce & Hein 2020), CE or DLR loss, L-inf or L2 */
    GB_ATTACK_FAB,      /* fast adaptive boundary (Croce & Hein 2020), minimal L-inf/L2/L1 */
    GB_ATTACK_SQUARE,   /* Square Attack (Andriushchenko et al. 2020), score-based, L-inf/L2 */
    GB_ATTACK_SIMBA,    /* SimBA (Guo et al. 2019), score-based, pixel or DCT basis */
    GB_ATTACK_NES,      /* NES gradient estimation + PGD (Ilyas et al. 2018), score-based */
    GB_ATTACK_BOUNDARY, /* Boundary Attack (Brendel et al. 2018), decision-based */
    GB_ATTACK_HSJ,      /* HopSkipJump (Chen et al. 2020), decision-based, L2/L-inf */
    GB_ATTACK_COUNT
} gb_attack_kind;

/* The norm that measures the perturbation (and bounds it, for eps attacks). */
typedef enum gb_norm { GB_NORM_LINF, GB_NORM_L2, GB_NORM_L1, GB_NORM_L0 } gb_norm;

/* SimBA's search directions: pixels, or 2-D DCT basis images (low frequencies first). */
typedef enum gb_basis { GB_BASIS_PIXEL, GB_BASIS_DCT } gb_basis;

/* The objective a gradient attack climbs (see gb_attack_loss). */
typedef enum gb_loss_kind {
    GB_LOSS_CE,  /* cross-entropy */
    GB_LOSS_CW,  /* Carlini-Wagner margin f6, capped at kappa */
    GB_LOSS_DLR, /* difference of logits ratio (Croce & Hein 2020); targeted form with a target */
} gb_loss_kind;

/* How targets are chosen by gb_attack_targets. */
typedef enum gb_target_mode {
    GB_TARGET_NEXT,         /* (y + 1) mod K */
    GB_TARGET_RANDOM,       /* uniform over the K-1 wrong classes */
    GB_TARGET_LEAST_LIKELY, /* the class with the lowest clean logit */
    GB_TARGET_FIXED,        /* one class for every example */
} gb_target_mode;

/* Attack parameters. Start from gb_attack_default_params(kind): fields an
 * attack does not use are ignored; 0 in steps/step_size means "the attack's
 * own rule". */
typedef struct gb_attack {
    gb_attack_kind kind;
    float eps;      /* radius of the ball in `norm` (pixel units); unused by CW_L2, DeepFool, JSMA */
    int targeted;   /* move towards target[] instead of away from y[] */
    float clip_min, clip_max;
    gb_norm norm;      /* FGSM/BIM/ILL/MI-FGSM/CW_LINF: LINF; FGM: L2; PGD: LINF, L2, L1;
                        * APGD: LINF, L2; DeepFool: L2, LINF; FAB: LINF, L2, L1 */
    gb_loss_kind loss; /* gradient attacks: the objective (PGD with GB_LOSS_CW is C&W-L-inf) */
    int steps;         /* iterations (PGD 40, MI-FGSM 10, APGD 100, DeepFool 50, C&W 10000) */
    float step_size;   /* alpha (BIM 1/255; PGD 2.5*eps/steps; MI eps/steps) */
    int restarts;      /* PGD/APGD: runs from fresh random starts, best kept per example */
    int random_start;  /* PGD: start uniformly inside the ball */
    int early_stop;    /* iterative attacks: stop an example at its first success */
    float momentum;    /* MI-FGSM decay mu (1.0); APGD alpha (0.75) */
    float kappa;       /* C&W confidence */
    int binary_steps;  /* C&W: binary search steps over c (9) */
    float initial_const; /* C&W: first c (1e-3) */
    float lr;          /* C&W: Adam learning rate (1e-2) */
    int abort_early;   /* C&W: stop when the loss stalls (checked every steps/10) */
    float overshoot;   /* DeepFool (0.02) */
    float theta;       /* JSMA: change per chosen feature, in units of the range (+1) */
    float gamma;       /* JSMA: most features changed, fraction of the input (0.1) */
    float sparsity;    /* PGD-L1 (SLIDE): percentile q of |grad| that steps (0.99) */
    uint64_t seed;     /* random starts */
    /* Black-box attacks (Square, SimBA, NES, ...): `steps` is the query budget
     * per example (the query about the clean image included; 0: Square 5000,
     * SimBA and NES 10000), `seed` draws their random choices. */
    float p_init;      /* Square: fraction of the image the first squares cover (0.8) */
    gb_basis basis;    /* SimBA: pixel or DCT directions (DCT) */
    float freq_ratio;  /* SimBA-DCT: side of the low-frequency block searched first, as a fraction of H (0.25) */
    float sigma;       /* NES: standard deviation of the Gaussian probes (0.001) */
    int samples;       /* NES: probes per gradient estimate, in antithetic pairs (100) */
    /* FAB (Croce & Hein 2020). eps > 0: success also needs norm <= eps (else x_adv = x);
     * eps == 0: x_adv is the smallest adversarial found (minimal-norm mode). */
    float alpha_max;      /* FAB: largest bias of a step towards the clean image (0.1) */
    float eta;            /* FAB: extrapolation of the projection steps (1.05) */
    float beta;           /* FAB: backward step x0 + beta*(x - x0) once adversarial (0.9) */
    int n_target_classes; /* APGD-T, FAB-T (targeted, target == NULL): runs against the 1st..k-th
                           * highest clean logits other than y, as AutoAttack (9); success
                           * is then any misclassification */
    int eot_samples;   /* gradient attacks: average the input gradient over this many passes with
                        * fresh model randomness (EOT, for randomized defenses); 0 or 1: off */
    /* Boundary Attack (L2) and HopSkipJump (L2, L-inf) minimize the distance
     * with labels only; as FAB, eps > 0 makes success need distance <= eps
     * (else x_adv = x; early_stop then ends an example there), eps == 0
     * returns the smallest adversarial found. */
    /* Transfer-friendly gradients for BIM, ILL, PGD, MI-FGSM and C&W-L-inf:
     * input diversity (DI, Xie et al. 2019): with probability di_prob per
     * example and iteration the gradient is taken through a random
     * resize-and-pad of the input (0: off); translation invariance (TI, Dong
     * et al. 2019): the gradient is convolved with a ti_kernel x ti_kernel
     * Gaussian (+-3 sigma; odd; 0 or 1: off; the paper's 15 is for 299x299
     * images, 5 suits 28x28). */
    float di_prob;
    int ti_kernel;
} gb_attack;

gb_attack gb_attack_default_params(gb_attack_kind kind);
const char *gb_attack_name(gb_attack_kind kind);
gb_status gb_attack_parse(const char *name, gb_attack_kind *kind);
const char *gb_norm_name(gb_norm norm);
gb_status gb_norm_parse(const char *name, gb_norm *norm);     /* "linf", "l2", "l1", "l0" */
const char *gb_loss_name(gb_loss_kind loss);
gb_status gb_loss_parse(const char *name, gb_loss_kind *loss); /* "ce", "cw", "dlr" */

/* Results for a batch of N examples. All arrays have N entries. */
typedef struct gb_attack_result {
    gb_tensor *x_adv; /* (N, C, H, W) */
    int *clean_pred, *adv_pred;
    float *clean_conf, *adv_conf; /* softmax probability of the predicted class */
    float *linf, *l2;
    int *success; /* untargeted: adv_pred != y; targeted: adv_pred == target */
    int64_t n;
    int64_t grad_evals; /* total over the batch */
    float *l0;          /* number of input values changed */
    int64_t *evals;     /* per example: backward passes through the model spent on it */
    int *target;        /* the target used (-1: untargeted) */
    float *cw_const;    /* C&W-L2: the c of the returned perturbation (0: none found) */
} gb_attack_result;

/* Runs attack a on model m over the batch x (N,C,H,W) with true labels y;
 * target (N labels) for targeted attacks, NULL otherwise (GB_ATTACK_ILL
 * picks the least-likely class itself when target is NULL). Runs in
 * inference mode. Fills *out (release with gb_attack_result_free). */
gb_status gb_attack_run(const gb_attack *a, gb_model *m, const gb_tensor *x, const int *y,
                        const int *target, gb_attack_result *out);
void gb_attack_result_free(gb_attack_result *r);

/* Chooses a target per example (N = x->shape[0]) into target: LEAST_LIKELY
 * runs the model on x; RANDOM draws from rng; FIXED uses `fixed`. */
gb_status gb_attack_targets(gb_model *m, const gb_tensor *x, const int *y, gb_target_mode mode,
                            int fixed, gb_rng *rng, int *target);

/* The attacker's objective on logits (N, K), per example, to be MAXIMIZED:
 *   untargeted  CE: CE(z, y)            CW: min(max_{j!=y} z_j - z_y, kappa)
 *               DLR: -(z_y - max_{j!=y} z_j) / (z_pi1 - z_pi3)
 *   targeted    CE: -CE(z, t)           CW: min(z_t - max_{j!=t} z_j, kappa)
 *               DLR: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2)
 * (pi: logits sorted in decreasing order; DLR needs K >= 3, targeted K >= 4).
 * value (N, may be NULL) receives the objective, dlogits (N, K; may be NULL)
 * its gradient, overwritten. target is NULL for untargeted. */
gb_status gb_attack_loss(gb_loss_kind loss, const gb_tensor *logits, const int *y,
                         const int *target, float kappa, float *value, gb_tensor *dlogits);

/* ---- transferability (src/eval/transfer.c) -------------------------------- */

/* Crafts adversarial examples for x (N, C, H, W) with labels y (target:
 * NULL or N classes) on model src, in batches with gibbon attack's seed rule
 * (batch b runs with a->seed + b * 1000003), into x_adv (resized to x). */
gb_status gb_transfer_craft(const gb_attack *a, gb_model *src, const gb_tensor *x, const int *y, const int *target,
                            int batch, gb_tensor *x_adv);

/* One cell of a transfer matrix: a target model on the clean images and on
 * the adversarial ones crafted elsewhere. */
typedef struct gb_transfer_cell {
    int64_t n, clean_correct, adv_correct;
    int64_t fooled; /* right on the clean image, wrong (targeted: the target class) on the adversarial */
    double clean_accuracy, adv_accuracy;
    double success_rate; /* fooled / clean_correct (0 when none is correct) */
} gb_transfer_cell;

/* Evaluates model m on x and x_adv (same shape; GB_ERR_SHAPE otherwise or
 * when m does not take these images) in batches. */
gb_status gb_transfer_eval(gb_model *m, const gb_tensor *x, const gb_tensor *x_adv, const int *y, const int *target,
                           int batch, gb_transfer_cell *out);

/* Heat map of success rates (nrows, ncols; row-major; NAN: missing) with
 * row and column names, cell values and a 0..1 colour scale, as SVG, written
 * atomically. */
gb_status gb_transfer_svg(const char *path, const char *const *rows, int nrows, const char *const *cols, int ncols,
                          const double *success, const char *title);

/* Gradient w.r.t. the input batch x (N,C,H,W) of the SUMMED cross-entropy
 * loss for labels y (so each row is that example's own loss gradient,
 * undiluted by the batch size); grad (same shape as x) is overwritten;
 * *loss (may be NULL) gets the mean loss. Runs in inference mode and skips
 * every weight gradient. */
gb_status gb_input_gradient(gb_model *m, const gb_tensor *x, const int *y, gb_tensor *grad,
                            float *loss);

/* ---- robustness evaluation: the AutoAttack ensemble ------------------------ */

/* Croce & Hein 2020: attacks run in turn, each only on the examples every
 * earlier one failed to break; an example counts as robust when it is
 * classified correctly and no attack found an adversarial inside the ball. */
typedef enum gb_aa_version {
    GB_AA_STANDARD, /* APGD-CE, APGD-T, FAB-T, Square (L1: PGD-L1 CE, FAB-T) */
    GB_AA_PLUS,     /* + restarts: APGD-CE/DLR x5, FAB x5, Square, APGD-T, FAB-T */
    GB_AA_RAND,     /* randomized defenses: APGD-CE and APGD-DLR with EOT over 20 draws */
} gb_aa_version;

enum { GB_AA_MAX_ATTACKS = 8 };

typedef struct gb_autoattack {
    gb_norm norm; /* LINF, L2 or L1 */
    float eps;
    gb_aa_version version;
    int iters;            /* APGD/FAB iterations (100) */
    int n_target_classes; /* APGD-T/FAB-T: targets = the top wrong classes by clean logit (9) */
    int square_queries;   /* Square's budget per example (5000) */
    int eot_iter;         /* GB_AA_RAND: gradient samples per step (20) */
    const char *attacks;  /* comma-separated subset/order of the version's attack names, or NULL */
    uint64_t seed;
    float clip_min, clip_max;
} gb_autoattack;

gb_autoattack gb_autoattack_default_params(void);
gb_status gb_aa_version_parse(const char *name, gb_aa_version *v); /* standard, plus, rand */
const char *gb_aa_version_name(gb_aa_version v);

/* One member of the ensemble: an attack, and how many top classes it
 * targets in turn (0: untargeted). */
typedef struct gb_aa_member {
    char name[16]; /* "apgd-ce", "apgd-t", "fab-t", "square", ... */
    gb_attack attack;
    int top_targets;
} gb_aa_member;

/* The ensemble p runs, in order, into plan[GB_AA_MAX_ATTACKS]; errors on
 * an unknown name in p->attacks or a norm the version lacks. */
gb_status gb_autoattack_plan(const gb_autoattack *p, gb_aa_member *plan, int *count);

/* Per-attack totals, added to by gb_autoattack_run. */
typedef struct gb_aa_stats {
    int64_t evaluated;    /* examples the attack ran on (still robust when it started) */
    int64_t newly_broken; /* of those, made adversarial inside the ball */
    int64_t grad_evals, queries;
    double time_s;
} gb_aa_stats;

/* What the ensemble did to one example. */
typedef struct gb_aa_example {
    int clean_pred, adv_pred;
    float clean_conf, adv_conf; /* softmax probability of the prediction */
    int broken_by;              /* plan index of the attack that broke it; -1 robust; -2 misclassified clean */
    float linf, l2;             /* of x_adv - x */
} gb_aa_example;

/* Runs the ensemble on the batch x (N,C,H,W) with labels y. x_adv (same
 * shape, allocated by the caller) receives each example's adversarial, or
 * the clean image when none was found; ex gets N entries; stats (count
 * entries, as from gb_autoattack_plan) are added to. `stream` seeds this
 * batch's randomness (pass the index of its first example, so results do
 * not depend on who runs which batch). Inference mode. */
gb_status gb_autoattack_run(const gb_autoattack *p, gb_model *m, const gb_tensor *x, const int *y,
                            uint64_t stream, gb_tensor *x_adv, gb_aa_example *ex, gb_aa_stats *stats);

/* Signs of an evaluation that cannot be trusted (Athalye et al. 2018;
 * Croce & Hein 2020, sec. 5), measured on a clean batch. */
typedef struct gb_model_checks {
    int64_t n;
    int64_t zero_grad;   /* examples whose input gradient of the CE loss is exactly 0 */
    int randomized;      /* two forward passes on the same input differ */
    int probabilities;   /* outputs are non-negative rows summing to 1: a softmax the attacks see */
} gb_model_checks;
gb_status gb_model_check(gb_model *m, const gb_tensor *x, const int *y, gb_model_checks *out);

/* One budget of an evaluation, as the flags see it: stats has one entry
 * per plan member (robust after each, cumulatively). */
typedef struct gb_aa_budget {
    float eps;
    double robust_acc;
    int complete; /* every example done (unfinished budgets are not compared) */
    const gb_aa_stats *stats;
} gb_aa_budget;
typedef struct gb_aa_flag {
    char code[40]; /* zero_gradients, randomized_outputs, probability_outputs,
                    * robust_accuracy_rises_with_eps, blackbox_beats_whitebox */
    char message[400];
} gb_aa_flag;
/* The gradient-masking flags from chk (may be NULL) and the budgets' results
 * for the ensemble plan[count]: at most max into out; returns how many. */
int gb_aa_flags(const gb_model_checks *chk, const gb_aa_member *plan, int count, const gb_aa_budget *runs,
                int nruns, gb_aa_flag *out, int max);

/* Resumable evaluation state: what gb_autoattack_run produced for the
 * examples [start, start + count) (count = x_adv->shape[0]), one file per
 * batch, written atomically with a checksum. Reading checks that the file
 * was made for the same examples, sizes and ensemble; GB_ERR_IO (missing)
 * or GB_ERR_FORMAT (truncated, corrupt, mismatched) mean "recompute". */
gb_status gb_aa_chunk_write(const char *path, int64_t start, const gb_tensor *x_adv, const gb_aa_example *ex,
                            const gb_aa_stats *stats, int attacks);
gb_status gb_aa_chunk_read(const char *path, int64_t start, int64_t count, int64_t D, int attacks,
                           float *x_adv, gb_aa_example *ex, gb_aa_stats *stats);

/* ---- the HTML report ---------------------------------------------------- *
 * One self-contained page (inline CSS, inline SVG plots, PNG figures as
 * data: URIs; nothing fetched from the network) from an evaluation
 * directory written by `gibbon eval`: flags, adversarial-example figures,
 * robust accuracy vs eps per attack, the ensemble's table, confidence
 * histograms, optional transfer matrix and defense comparison, and the
 * command lines that reproduce each of them. */
typedef struct gb_report_params {
    const char *out;      /* the HTML file (NULL: <dir>/report.html) */
    const char *transfer; /* JSON {"sources":[...],"targets":[...],"success":[[...]]} (NULL: none) */
    const char *defenses; /* JSON list of {"name","clean_accuracy","robust_accuracy","attack","eps"} (NULL: none) */
    int examples;         /* broken examples drawn as figures (4) */
    const char *compare;  /* comma-separated eval directories compared side by side (NULL: none) */
    const char *command;  /* the command that makes this report, shown in it (NULL: `gibbon report ...` from
                           * these fields) */
} gb_report_params;
gb_report_params gb_report_default_params(void);
/* Writes the report for dir (which holds eval.json) atomically. Errors:
 * GB_ERR_IO / GB_ERR_FORMAT naming eval.json, the transfer or defenses
 * file; missing per-eps files or an unloadable data set only leave a note
 * in the page. */
gb_status gb_report_write(const char *dir, const gb_report_params *p);

/* ---- black-box queries --------------------------------------------------- *
 * A model the attacker can only query: it answers a batch of images with
 * scores (softmax probabilities) or only the top label, and counts every
 * image it is asked about. Score-based attacks (Square, SimBA, NES) need
 * scores; decision-based ones (Boundary, HopSkipJump) need labels only. */

typedef struct gb_oracle gb_oracle;

typedef enum gb_oracle_answer {
    GB_ORACLE_SCORES, /* probabilities (N, K) and the top labels */
    GB_ORACLE_LABELS, /* the top labels only */
} gb_oracle_answer;

/* An oracle over a loaded model (borrowed: it must outlive the oracle):
 * softmax of the logits in inference mode, gradients never exposed. */
gb_status gb_oracle_from_model(gb_model *m, gb_oracle_answer answer, gb_oracle **out);

/* An oracle behind an external program, started once with /bin/sh -c
 * command (its stderr is ours). Protocol (README "Black-box attacks"): for
 * each batch gibbon writes to the program's stdin one .npy float32 array
 * (N, C, H, W) with values in [0, 1]; the program writes to its stdout one
 * .npy reply: float32/float64 (N, K) probabilities (rows >= 0 summing to 1
 * within 1e-3), or, for a label-only oracle, int32/int64 (N,) labels
 * (probabilities are accepted too; gibbon keeps only the argmax).
 * Closing stdin asks it to exit. Every exchange must finish within
 * timeout_s seconds (<= 0: 60). A program that exits, answers garbage,
 * a wrong shape or late is killed and the query fails with GB_ERR_IO or
 * GB_ERR_FORMAT naming the command and the problem; later queries fail. */
gb_status gb_oracle_spawn(const char *command, gb_oracle_answer answer, double timeout_s,
                          gb_oracle **out);

/* Asks about the batch x (N, C, H, W). probs (may be NULL; resized to
 * (N, K)) receives the probabilities — GB_ERR_ARG on a label-only oracle;
 * labels (may be NULL, N entries) the top labels. Counts N queries, after
 * checking the budget: a batch that would exceed it is not asked and the
 * call returns GB_ERR_BUDGET. */
gb_status gb_oracle_query(gb_oracle *o, const gb_tensor *x, gb_tensor *probs, int *labels);
/* Images queried so far. */
int64_t gb_oracle_queries(const gb_oracle *o);
/* Most images the oracle will answer in total (counting those already
 * asked); <= 0: no limit (the default). */
void gb_oracle_set_budget(gb_oracle *o, int64_t budget);
/* K: from the model, or from the program's first scores answer (0 until then,
 * and for a label-only program, which never tells). */
int gb_oracle_num_classes(const gb_oracle *o);
gb_oracle_answer gb_oracle_answer_kind(const gb_oracle *o);
/* Releases the oracle; a program is asked to exit, killed if it lingers, and reaped. */
void gb_oracle_free(gb_oracle *o);

/* Runs a black-box attack (GB_ATTACK_SQUARE, SIMBA, NES, BOUNDARY, HSJ)
 * against an oracle, as gb_attack_run does against a model (which wraps the
 * model in an oracle for these kinds). a->steps is the query budget per
 * example (0: the attack's default) and evals[] counts the queries spent on
 * each example, including the one asking about the clean image. Predictions
 * and confidences are the oracle's answers (confidence 0 from a label-only
 * oracle). If the oracle's own budget runs out, the attack stops, *out holds
 * what it had found (each example's best so far) and GB_ERR_BUDGET is
 * returned; on any other error *out is released. */
gb_status gb_attack_run_oracle(const gb_attack *a, gb_oracle *o, const gb_tensor *x, const int *y,
                               const int *target, gb_attack_result *out);

/* ---- defenses: input transformations ---------------------------------------- *
 * Transformations put in front of a model's graph (on [0,1] pixels, before
 * any normalization), so every attack differentiates through them:
 *  - JPEG: 8x8 DCT, coefficients rounded to the standard luminance table
 *    scaled by a quality factor (each channel as a luminance plane);
 *  - BITS: bit-depth reduction to k bits;
 *  - MEDIAN: k x k median filter (scipy.ndimage conventions);
 *  - RESIZE_PAD: random resize to a scale in [ratio, 1] and random zero
 *    padding back to the input size (Xie et al. 2018), drawn per image on
 *    every forward from the model's rng (gb_model_set_seed).
 * Backward: the median and resize-pad ops have their true derivative. JPEG
 * and bit depth are piecewise constant: their true derivative is zero almost
 * everywhere, so gradient attacks stall (gradient masking); with bpda = 1 the
 * backward is the identity instead (BPDA, Athalye et al. 2018). */
typedef enum gb_defense_kind {
    GB_DEFENSE_JPEG,       /* param: quality 1..100 (75) */
    GB_DEFENSE_BITS,       /* param: bits 1..16 (4) */
    GB_DEFENSE_MEDIAN,     /* param: window size 2..7 (3) */
    GB_DEFENSE_RESIZE_PAD, /* param: smallest scale in (0, 1] (0.9) */
} gb_defense_kind;

typedef struct gb_defense {
    gb_defense_kind kind;
    float param;
    int bpda; /* JPEG/BITS: straight-through (identity) backward */
} gb_defense;

/* "jpeg:75", "bits:4", "median:3", "resize-pad:0.9" (the parameter may be
 * left out: the default); bpda = 0. GB_ERR_ARG naming the problem. */
gb_status gb_defense_parse(const char *spec, gb_defense *d);
/* "jpeg:75" (with "+bpda" when set) into buf; returns buf. */
const char *gb_defense_str(const gb_defense *d, char *buf, size_t len);
/* Puts d in front of m's graph: each added defense runs before those added
 * earlier (add the last transformation first). The node is
 * part of the input adapter: gb_model_save_onnx writes the model without it,
 * and gb_model_set_input_normalization removes it (add defenses last). */
gb_status gb_model_add_defense(gb_model *m, const gb_defense *d);
/* y = d(x) for a batch x (N, C, H, W); rng is needed by RESIZE_PAD only. */
gb_status gb_defense_apply(const gb_defense *d, const gb_tensor *x, gb_tensor *y, gb_rng *rng);

/* Feature squeezing as a detector (Xu et al. 2018): score[i] = the largest
 * L1 distance between softmax(m(x_i)) and softmax(m(s(x_i))) over the nsq
 * squeezers s (e.g. bits:1, median:2). High scores flag adversarial inputs.
 * x (N, C, H, W); score has N entries; runs in inference mode. */
gb_status gb_squeeze_scores(gb_model *m, const gb_tensor *x, const gb_defense *sq, int nsq, float *score);
/* The threshold that flags at most a fraction fpr of the n clean scores
 * (flagged: score > threshold). */
float gb_squeeze_threshold(const float *clean, int64_t n, double fpr);

/* ---- randomized smoothing (Cohen, Rosenfeld & Kolter 2019) ------------------ *
 * The smoothed classifier g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c). */
typedef struct gb_smooth_params {
    float sigma;   /* noise standard deviation, in [0,1] pixel units */
    int64_t n0;    /* CERTIFY: samples to pick the class (100) */
    int64_t n;     /* samples to estimate its probability (100000) */
    double alpha;  /* failure probability (0.001) */
    int batch;     /* noisy copies per forward (400) */
    uint64_t seed;
} gb_smooth_params;
gb_smooth_params gb_smooth_default_params(void);

/* CERTIFY (Cohen et al., alg. 1 "certify") for each image of x (N, C, H, W):
 * pred[i] = the class, or -1 to abstain (p_A lower bound < 1/2); radius[i] =
 * sigma * Phi^-1(p_A lower) (0 when abstaining); pa_lower (may be NULL) =
 * the one-sided (1 - alpha) Clopper-Pearson lower bound on p_A. With
 * probability >= 1 - alpha per image, g's prediction is pred[i] within the
 * L2 ball of that radius. Runs in inference mode. */
gb_status gb_smooth_certify(gb_model *m, const gb_tensor *x, const gb_smooth_params *p, int *pred,
                            double *radius, double *pa_lower);
/* PREDICT (ibid., alg. 1 "predict"): n noisy samples, the top two counts
 * nA, nB; pred[i] = the top class if the two-sided binomial test of nA in
 * nA + nB at 1/2 gives a p-value <= alpha, else -1 (abstain). */
gb_status gb_smooth_predict(gb_model *m, const gb_tensor *x, const gb_smooth_params *p, int *pred);

/* ---- universal perturbations and destruction rate --------------------------- */

/* Predictions of m on clip(x + v, 0, 1) (v: one image, C*H*W floats, or
 * NULL for x itself) for a whole set x (N, C, H, W), `batch` at a time. */
gb_status gb_predict_set(gb_model *m, const gb_tensor *x, const float *v, int batch, int *pred);

/* Universal adversarial perturbation (Moosavi-Dezfooli et al. 2017, alg. 1):
 * one v with ||v||_p <= eps for a whole set. DEEPFOOL: for every image whose
 * prediction v does not yet change, an L2 DeepFool step from x + v is added
 * to v and v is projected onto the ball, pass after pass, until the fooling
 * rate P(k(x+v) != k(x)) on the set reaches target_rate. SGD: signed (L-inf)
 * or normalized (L2) gradient ascent of the summed cross-entropy of the
 * clean predictions, one step per minibatch, then projection. */
typedef enum gb_uap_method { GB_UAP_DEEPFOOL, GB_UAP_SGD } gb_uap_method;
typedef struct gb_uap_params {
    gb_uap_method method;
    gb_norm norm;      /* GB_NORM_LINF or GB_NORM_L2 */
    float eps;         /* radius in [0,1] pixel units (10/255) */
    float target_rate; /* stop when the fooling rate on the set reaches it (0.8 = 1 - delta) */
    int max_passes;    /* passes over the set at most (5) */
    int batch;         /* images per DeepFool batch / SGD step (1: the paper's loop; SGD wants ~32) */
    int df_steps;      /* DeepFool iterations per image (10) */
    float overshoot;   /* DeepFool overshoot (0.02) */
    float step_size;   /* SGD step (0: eps / 10) */
    uint64_t seed;     /* order of the images */
    /* After every pass with the fooling rate on the set; non-zero stops. */
    int (*progress)(int pass, double rate, void *user);
    void *user;
} gb_uap_params;
typedef struct gb_uap_info {
    int passes;
    double fooling_rate; /* on the fitting set after the last pass */
    int64_t grad_evals;  /* backward passes */
} gb_uap_info;
gb_uap_params gb_uap_default_params(void);
/* Fits v (*v_out: (1, C, H, W), owned by the caller) on x (N, C, H, W) in
 * inference mode; info may be NULL. GB_ERR_ARG for bad parameters. */
gb_status gb_uap_fit(gb_model *m, const gb_tensor *x, const gb_uap_params *p, gb_tensor **v_out,
                     gb_uap_info *info);
/* Fraction of x whose prediction changes under v (fooling rate) and, with
 * labels y (may be NULL: NaN), the accuracy on clip(x + v). */
gb_status gb_uap_fooling_rate(gb_model *m, const gb_tensor *x, const float *v, const int *y, int batch,
                              double *fooling, double *accuracy);
/* Projects v (D) onto the ball of radius eps (L-inf: clamp; L2: rescale). */
void gb_uap_project(gb_norm norm, float *v, int64_t D, float eps);
/* A random perturbation of norm exactly eps: a random vertex of the L-inf
 * cube, or a Gaussian direction scaled to L2 norm eps (the baseline). */
void gb_uap_random(gb_norm norm, float eps, int64_t D, gb_rng *rng, float *v);

/* Destruction rate (Kurakin, Goodfellow & Bengio 2017, eq. 1): of the
 * examples classified correctly when clean (clean_ok) and wrongly after the
 * attack (adv_ok == 0), the fraction a transformation T makes correct again
 * (tf_ok: C(T(X_adv), y)):
 *   d = sum_k clean_ok (1 - adv_ok) tf_ok / sum_k clean_ok (1 - adv_ok).
 * Flags are 0/1, n entries. *count (may be NULL) gets the denominator; with
 * no such example *rate is NaN. */
void gb_destruction_rate(const int *clean_ok, const int *adv_ok, const int *tf_ok, int64_t n,
                         double *rate, int64_t *count);
/* The transformations of the destruction table, applied to x (N, C, H, W)
 * into y (resized like x), forward only, drawn deterministically from seed:
 *   blur        Gaussian blur, sigma 1 pixel
 *   noise       additive Gaussian noise, std 0.03
 *   jpeg        JPEG quantization at quality 75 (gb_defense "jpeg:75")
 *   brightness  brightness +0.1 and contrast 0.85
 *   photo       print-and-photo (gb_tf pipeline "print=1" with a small
 *               misalignment: rotate -3:3, scale 0.95:1.05)
 * Other names are GB_ERR_ARG listing these. */
gb_status gb_destruction_transform(const char *name, const gb_tensor *x, uint64_t seed, gb_tensor *y);

/* ---- physical-world transformations (EOT) --------------------------------- *
 * Differentiable transformations of a batch (N, C, H, W) in [0,1], drawn per
 * example from a seeded distribution, for Expectation over Transformation
 * (Athalye et al. 2018): an attack averages its gradient over samples so the
 * result survives them. One sample applies, in this order:
 *   warp (homography; rotation, scale, translation, shear, perspective, with
 *   bilinear sampling, zero outside) -> print gamut -> per-channel gain/bias
 *   (contrast, brightness, exposure, colour cast) -> gamma -> Gaussian blur
 *   -> additive Gaussian noise -> clamp to [0,1].
 * Photometric stages handle C = 1 or 3 (a grey image uses channel 0's gain).
 * Backward is the exact vector-Jacobian product w.r.t. the input image (the
 * transformation parameters themselves get no gradient). */
typedef struct gb_tf_params {
    float warp[9];        /* row-major 3x3: OUTPUT pixel coords -> INPUT coords (pixel (i,j) is
                           * the point (j+0.5, i+0.5)); identity = no geometric change */
    float gamut;          /* print gamut strength in [0,1]: desaturate and compress the range (0 off) */
    float gain[3], bias[3]; /* y_c = gain_c * x_c + bias_c */
    float gamma;          /* y = max(x, 1e-3)^gamma (1 off) */
    float blur;           /* Gaussian blur sigma in pixels, edges clamped (0 off; at most 4) */
    float noise;          /* standard deviation of additive Gaussian noise (0 off) */
    uint64_t noise_seed;  /* the noise is a function of this seed: forward is repeatable */
} gb_tf_params;

/* The identity sample (every stage off). */
gb_tf_params gb_tf_identity(void);

/* A distribution over gb_tf_params plus the scratch its forward/backward
 * need (so one pipeline per thread). Built from a spec string of
 * comma-separated key=LO:HI (uniform) or key=V (fixed), e.g.
 *   "rotate=-15:15,scale=0.9:1.1,brightness=-0.1:0.1,noise=0.02"
 * keys: rotate (degrees), scale, translate (fraction of the side, x and y
 * drawn apart), shear (x shear factor), perspective=D (each corner moves up
 * to D of the side), brightness (added), contrast (around 0.5), exposure
 * (multiplied), cast (per-channel factor, drawn per channel), gamma, blur
 * (sigma, pixels), noise (std), print=S (print-and-photo simulation of
 * strength S in [0,1]: gamut S, and unless given blur 0.3:1, noise
 * 0.005:0.02, exposure 0.85:1.15). "" or "none": the identity.
 * Errors (GB_ERR_ARG): unknown key, bad number, LO > HI, value out of range. */
typedef struct gb_tf_pipeline gb_tf_pipeline;
gb_status gb_tf_pipeline_parse(const char *spec, gb_tf_pipeline **out);
void gb_tf_pipeline_free(gb_tf_pipeline *p);
/* The spec in canonical form (every key in effect, print defaults expanded); borrowed. */
const char *gb_tf_pipeline_spec(const gb_tf_pipeline *p);
/* Draws n samples for images of h x w pixels into out (n entries). */
void gb_tf_pipeline_sample(const gb_tf_pipeline *p, int64_t n, int h, int w, gb_rng *rng,
                           gb_tf_params *out);
/* y = T_i(x_i) per example with params[i] (N entries); y is resized like x.
 * Keeps what backward needs: call backward before the next forward. */
gb_status gb_tf_pipeline_forward(gb_tf_pipeline *p, const gb_tf_params *params,
                                 const gb_tensor *x, gb_tensor *y);
/* After forward on the same params and x: dx += J^T dy (dx has x's shape). */
gb_status gb_tf_pipeline_backward(gb_tf_pipeline *p, const gb_tf_params *params,
                                  const gb_tensor *dy, gb_tensor *dx);

/* ---- patches, masks, printability ------------------------------------------ */

/* Pastes a patch (C, P, P) with mask (P, P) (1 = patch, 0 = transparent;
 * soft values blend) into each image of x (N, C, H, W) through the
 * homography hinv (N, 9: image coords -> patch coords, bilinear, see
 * gb_tf_params.warp):  y = (1 - W(m)) * x + W(m * patch). y is resized like x. */
gb_status gb_patch_paste_forward(const gb_tensor *x, const gb_tensor *patch, const float *mask,
                                 const float *hinv, gb_tensor *y);
/* Backward of the paste: dx (may be NULL) += (1 - W(m)) * dy; dpatch (may be
 * NULL, shape of patch) += m * W^T(dy), summed over the batch. */
gb_status gb_patch_paste_backward(const gb_tensor *dy, const gb_tensor *patch, const float *mask,
                                  const float *hinv, gb_tensor *dx, gb_tensor *dpatch);
/* A random placement (Brown et al. 2017): a P x P patch scaled so that its
 * side is sqrt(area * h * w) pixels times a factor in [1 - jitter, 1 + jitter],
 * rotated by a uniform angle in [-max_rot, max_rot] degrees, centred uniformly
 * where the unrotated square fits in the image. Writes the inverse map hinv[9]. */
void gb_patch_placement(int h, int w, int P, float area, float jitter, float max_rot, gb_rng *rng,
                        float hinv[9]);
/* The same with the patch centre drawn uniformly among the pixels where
 * region (h * w, may be NULL: anywhere) is >= 0.5, then shifted the least
 * that keeps the patch in the image (a sticker on the object). */
void gb_patch_placement_in(int h, int w, int P, float area, float jitter, float max_rot, const float *region,
                           gb_rng *rng, float hinv[9]);

/* Masks of h x w pixels in [0,1] (1 = may change). name: "square", "circle"
 * (inscribed disc), "rect" (two sticker bars across the middle, as RP2's
 * stickers on a sign), "rect:X0,Y0,X1,Y1" (one rectangle, fractions of the
 * side), "glasses" (an eyeglass frame scaled to the image, Sharif et al.
 * 2016), or a PNG file (grey or colour, resized by nearest neighbour,
 * thresholded at half intensity). Errors name the file or the name. */
gb_status gb_mask_make(const char *name, int h, int w, float *mask);

/* A printable-colour palette: a text file with one "R G B" triple (0-255)
 * per line ('#' comments and blank lines ignored). *rgb (3 * *n floats in
 * [0,1]) is allocated; release with gb_free. */
gb_status gb_palette_load(const char *path, float **rgb, int *n);
/* Non-printability score (Sharif et al. 2016, eq. 3) of img (C, H, W), C = 1
 * (grey = r = g = b) or 3, over the pixels where mask (h*w, may be NULL: all)
 * is > 0: sum_pixels prod_k ||p - c_k||_2 over the n palette colours.
 * grad (may be NULL; img's shape) += d NPS / d img. */
double gb_nps(const float *img, const float *mask, int c, int h, int w, const float *palette,
              int n, float *grad);
/* Total variation (Sharif et al. 2016, eq. 2) of v (C, H, W):
 * sum_{c,i,j} sqrt((v[i][j] - v[i+1][j])^2 + (v[i][j] - v[i][j+1])^2 + 1e-8).
 * grad (may be NULL) += d TV / d v. */
double gb_tv(const float *v, int c, int h, int w, float *grad);

/* ---- physical attacks: adversarial patch, masked stickers --------------------- */

/* Fraction of `samples` transformations from pipe (may be NULL: identity)
 * under which each example of x (N, C, H, W) is adversarial: predicted
 * target[i] (target != NULL) or anything but y[i]. rate has N entries. Used
 * for EOT success and, with a photo-like pipeline, Kurakin's destruction
 * rate. Model in inference mode. */
gb_status gb_eot_success_rate(gb_model *m, const gb_tensor *x, const int *y, const int *target,
                              gb_tf_pipeline *pipe, int samples, gb_rng *rng, float *rate);

/* Adversarial patch (Brown et al. 2017): one patch, trained over a data set,
 * that sends any image it is pasted into to `target`, wherever it lands. */
typedef struct gb_patch_params {
    int target;          /* the class every patched image should become */
    float area;          /* patch area as a fraction of the image (0.1) */
    int circle;          /* 1: circular patch, 0: square (0) */
    float jitter;        /* scale jitter around the nominal side (0.2) */
    float max_rot;       /* rotations drawn in [-max_rot, max_rot] degrees (22.5) */
    int on_object;       /* 1: on the data set's object (gb_dataset.masks; a sticker on the
                            sign): centres where >= 90% of the unrotated patch covers the
                            object, or where it covers most; 0: anywhere in the image (0) */
    const char *transforms; /* gb_tf_pipeline spec applied after pasting (NULL/"": none) */
    int steps;           /* optimizer steps (300) */
    int batch;           /* images per step (32); images of the target class are skipped */
    int eot;             /* placements+transformations per image per step (1) */
    int signed_steps;    /* 0: Adam with learning rate lr; 1: patch += lr * sign(grad) */
    float lr;            /* (0.05) */
    float disguise_eps;  /* > 0: keep ||patch - init||_inf <= disguise_eps (needs init) */
    gb_loss_kind loss;   /* GB_LOSS_CE: Brown et al.'s log P(target) (default); GB_LOSS_CW:
                            the target margin capped at kappa (stops pushing won placements) */
    float kappa;         /* (5) */
    const gb_tensor *init; /* (C, P, P) start (NULL: uniform random) */
    uint64_t seed;
    /* Called every step (may be NULL); non-zero stops training. */
    int (*progress)(int step, int steps, float loss, float hit_rate, void *user);
    void *user;
} gb_patch_params;

gb_patch_params gb_patch_default_params(void);
/* Side P of the patch's own pixel grid: round(sqrt(area * h * w)), at least 2. */
int gb_patch_side(float area, int h, int w);
/* The patch's mask (P*P floats): disc or square per p->circle. */
void gb_patch_mask(const gb_patch_params *p, int P, float *mask);
/* Trains a patch on the images of d (model in inference mode; only the
 * patch changes). *patch (C, P, P) is allocated (gb_tensor_free).
 * Errors: bad parameters (GB_ERR_ARG), a data set with only target images. */
gb_status gb_patch_train(gb_model *m, const gb_dataset *d, const gb_patch_params *p,
                         gb_tensor **patch);
/* Pastes patch at a fresh placement per image of x, then a sample of pipe
 * (may be NULL); y is resized like x. regions (N, H, W): the images' object
 * masks, used when p->on_object (NULL: anywhere). */
gb_status gb_patch_apply_random(const gb_tensor *x, const float *regions, const gb_tensor *patch,
                                const gb_patch_params *p, gb_tf_pipeline *pipe, gb_rng *rng, gb_tensor *y);
/* Success rate of a patch: over the images of d not of class p->target,
 * `samples` random placements (+ pipe) each, the fraction classified as
 * p->target; *trials (may be NULL) gets the count. */
gb_status gb_patch_evaluate(gb_model *m, const gb_dataset *d, const gb_tensor *patch,
                            const gb_patch_params *p, gb_tf_pipeline *pipe, int samples,
                            uint64_t seed, double *success, int64_t *trials);

/* Masked perturbations (RP2, Eykholt et al. 2018; Sharif et al. 2016): per
 * example a delta confined to a mask M, x_adv = x + M * delta kept in
 * [0,1], minimizing over Adam steps
 *   E_T[-objective(T(x_adv))] + lambda ||M delta||_p + tv_weight TV(M delta)
 *   + nps_weight NPS(x_adv on M)
 * with the expectation over `eot` samples of `transforms` per step. Dodging
 * (target NULL) or impersonation (targeted). two_stage: RP2's mask search,
 * stage 1 with p = 1 over M, then the `keep` fraction of M's pixels with the
 * largest |delta| (summed over channels) becomes the sticker mask for stage
 * 2 with p = 2, each stage `steps` long. */
typedef struct gb_sticker_params {
    const float *mask;   /* (H*W) region the sticker may cover (required) */
    int two_stage;       /* (0) */
    float keep;          /* two-stage: fraction of the mask kept (0.3) */
    gb_norm norm;        /* one stage: GB_NORM_L1 or GB_NORM_L2 (L2) */
    float lambda;        /* weight of ||M delta||_p (0.002) */
    float tv_weight;     /* (0) */
    float nps_weight;    /* (0; needs palette) */
    const float *palette; /* palette_n RGB triples in [0,1] */
    int palette_n;
    gb_loss_kind loss;   /* objective (GB_LOSS_CW: CE's gradient vanishes on confident images) */
    float kappa;         /* C&W margin (5) */
    const char *transforms; /* EOT distribution (NULL/"": none) */
    int eot;             /* samples per step (1) */
    int steps;           /* Adam steps per stage (200) */
    float lr;            /* Adam learning rate (0.05) */
    uint64_t seed;
} gb_sticker_params;

typedef struct gb_sticker_result {
    int64_t n;
    gb_tensor *x_adv;    /* (N, C, H, W): the stickered images, before any transformation */
    float *mask;         /* (N, H*W): the mask each sticker ended on */
    int *clean_pred, *adv_pred; /* without transformations */
    int *success;        /* adv_pred adversarial (== target, or != y) */
    float *l1, *l2, *linf; /* of x_adv - x */
    float *tv, *nps;     /* of the sticker M * delta / of x_adv on the mask (nps 0 without palette) */
    int64_t grad_evals;  /* backward passes through the model */
} gb_sticker_result;

gb_sticker_params gb_sticker_default_params(void);
gb_status gb_sticker_run(gb_model *m, const gb_tensor *x, const int *y, const int *target,
                         const gb_sticker_params *p, gb_sticker_result *out);
void gb_sticker_result_free(gb_sticker_result *r);

#ifdef __cplusplus
}
#endif
#endif
