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
} gb_status;

/* The message recorded by the last failing call on this thread ("" if none). */
const char *gb_last_error(void);
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
} gb_dataset;

/* Loads "fashion-mnist:train", "fashion-mnist:test" (optionally with
 * "[:N]" to keep the first N), a directory holding IDX files, or a pair of
 * .npy files "images.npy,labels.npy". */
gb_status gb_dataset_load(const char *spec, gb_dataset **out);
void gb_dataset_free(gb_dataset *d);

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
                        * APGD: LINF, L2; DeepFool: L2, LINF */
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

/* Gradient w.r.t. the input batch x (N,C,H,W) of the SUMMED cross-entropy
 * loss for labels y (so each row is that example's own loss gradient,
 * undiluted by the batch size); grad (same shape as x) is overwritten;
 * *loss (may be NULL) gets the mean loss. Runs in inference mode and skips
 * every weight gradient. */
gb_status gb_input_gradient(gb_model *m, const gb_tensor *x, const int *y, gb_tensor *grad,
                            float *loss);

#ifdef __cplusplus
}
#endif
#endif
