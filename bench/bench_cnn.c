/* bench_cnn.c — throughput of the zoo "cnn" (conv32-conv64-fc128-drop0.3)
 * on random 28x28 gray images, the numbers bench/bench_torch.py measures
 * for PyTorch:
 *   train       forward in training mode + cross-entropy + backward
 *               (GB_GRAD_PARAMS) + zero_grad + an Adam step (one attack-free
 *               training step, as in gb_train)
 *   forward     inference-mode forward
 *   input_grad  gb_input_gradient: inference forward + loss + backward to
 *               the input only (one attack step)
 * Each measurement: warm-up iterations, then R repetitions of K iterations;
 * prints one JSON line with the median images/s and the median CPU/wall
 * ratio (about 2.0 when both vCPUs were ours, about 1.0 when the host took
 * one away — rerun then).
 *
 * With --profile (or GIBBON_PROFILE=1 in the environment) it also prints a
 * per-node time breakdown of the training step and of the input-gradient
 * step to stderr; see bench_profile.c.
 *
 * Usage: bench_cnn [--batch 128] [--threads 2] [--warmup 3] [--reps 5]
 *                  [--iters 10] [--only train|forward|input_grad] [--profile]
 *                  [--blas-threads N] [--no-fuse] [--no-winograd]
 * --blas-threads is an experiment: it overrides the OpenBLAS thread count
 * that gb_set_num_threads set (1 since src/core/threads.c stopped OpenBLAS
 * threading; 2 shows what its pthread pool next to OpenMP's costs).
 * --no-winograd runs the 3x3 convolutions by im2col + GEMM instead of
 * Winograd (ops/conv_winograd.c), to measure what Winograd gains.
 * --no-fuse runs Relu and MaxPool as their own nodes (graph/fuse.c), to
 * measure what the fusion gains.
 */
#include "internal.h" /* gb_model.no_fuse */
#include "bench_profile.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_opts {
    int batch, threads, warmup, reps, iters, profile, blas_threads, no_fuse, no_winograd;
    const char *only;
} bench_opts;

/* The Adam step gb_train runs (src/train/optim.c with weight decay 0), on
 * the bench's own state: one fused pass per parameter tensor. Its work is
 * that of torch.optim.Adam's (three reads, three writes per scalar). */
typedef struct bench_adam {
    int n;
    float **m, **v;
    long t;
} bench_adam;

typedef struct bench_ctx {
    gb_model *m;
    gb_tensor *x, *dlogits, *grad;
    int *labels;
    bench_adam adam;
} bench_ctx;

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void check(gb_status s, const char *what) {
    if (s == GB_OK) return;
    fprintf(stderr, "bench_cnn: %s failed: %s (%s)\n", what, gb_last_error(), gb_status_name(s));
    exit(1);
}

static void adam_init(bench_adam *a, gb_model *m) {
    a->n = gb_model_num_params(m);
    a->m = calloc((size_t)a->n, sizeof *a->m);
    a->v = calloc((size_t)a->n, sizeof *a->v);
    if (!a->m || !a->v) check(GB_ERR_NOMEM, "adam state");
    for (int i = 0; i < a->n; i++) {
        int64_t size = gb_model_param(m, i).size;
        a->m[i] = calloc((size_t)size, sizeof(float));
        a->v[i] = calloc((size_t)size, sizeof(float));
        if (!a->m[i] || !a->v[i]) check(GB_ERR_NOMEM, "adam state");
    }
    a->t = 0;
}

static void adam_free(bench_adam *a) {
    for (int i = 0; i < a->n; i++) {
        free(a->m[i]);
        free(a->v[i]);
    }
    free(a->m);
    free(a->v);
}

void bench_adam_step(void *adam, gb_model *model) {
    bench_adam *a = adam;
    const float lr = 1e-3f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    a->t++;
    float s1 = (float)(1 / (1 - pow(b1, (double)a->t))), s2 = (float)(1 / (1 - pow(b2, (double)a->t)));
    for (int i = 0; i < a->n; i++) {
        gb_param p = gb_model_param(model, i);
        float *w = p.data, *mm = a->m[i], *vv = a->v[i];
        const float *g = p.grad;
#pragma omp parallel for schedule(static) if (p.size > 32768)
        for (int64_t k = 0; k < p.size; k++) {
            mm[k] = b1 * mm[k] + (1 - b1) * g[k];
            vv[k] = b2 * vv[k] + (1 - b2) * g[k] * g[k];
            w[k] -= lr * (mm[k] * s1 / (sqrtf(vv[k] * s2) + eps));
        }
    }
}

/* ---- the three steps ---------------------------------------------------- */

static void step_train(bench_ctx *c) {
    const gb_tensor *logits;
    float loss;
    check(gb_model_forward(c->m, c->x, &logits), "forward");
    check(gb_loss_cross_entropy(logits, c->labels, NULL, 1.0f, &loss, c->dlogits), "loss");
    gb_model_zero_grad(c->m);
    check(gb_model_backward(c->m, c->dlogits, GB_GRAD_PARAMS, NULL), "backward");
    bench_adam_step(&c->adam, c->m);
}

static void step_forward(bench_ctx *c) {
    const gb_tensor *logits;
    check(gb_model_forward(c->m, c->x, &logits), "forward");
}

static void step_input_grad(bench_ctx *c) {
    float loss;
    check(gb_input_gradient(c->m, c->x, c->labels, c->grad, &loss), "input gradient");
}

/* ---- measuring ---------------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) check(GB_ERR_NOMEM, "median");
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double r = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return r;
}

static void print_list(const char *key, const double *v, int n) {
    printf(", \"%s\": [", key);
    for (int i = 0; i < n; i++) printf("%s%.4g", i ? ", " : "", v[i]);
    printf("]");
}

static void measure(const char *name, void (*step)(bench_ctx *), bench_ctx *c, const bench_opts *o) {
    double *ips = malloc((size_t)o->reps * sizeof *ips), *ratio = malloc((size_t)o->reps * sizeof *ratio);
    if (!ips || !ratio) check(GB_ERR_NOMEM, "measure");
    for (int i = 0; i < o->warmup; i++) step(c);
    double total = 0;
    for (int r = 0; r < o->reps; r++) {
        double w0 = wall_now(), c0 = cpu_now();
        for (int k = 0; k < o->iters; k++) step(c);
        double w = wall_now() - w0, cpu = cpu_now() - c0;
        ips[r] = (double)o->iters * o->batch / w;
        ratio[r] = cpu / w;
        total += w;
    }
    printf("{\"impl\": \"gibbon\", \"measure\": \"%s\", \"batch\": %d, \"threads\": %d, \"reps\": %d, "
           "\"iters\": %d, \"img_per_s\": %.1f, \"cpu_wall\": %.3f, \"wall_s\": %.3f",
           name, o->batch, o->threads, o->reps, o->iters, median(ips, o->reps), median(ratio, o->reps),
           total);
    if (o->blas_threads) printf(", \"blas_threads\": %d", o->blas_threads);
    if (o->no_fuse) printf(", \"no_fuse\": 1");
    if (o->no_winograd) printf(", \"no_winograd\": 1");
    print_list("img_per_s_reps", ips, o->reps);
    print_list("cpu_wall_reps", ratio, o->reps);
    printf("}\n");
    fflush(stdout);
    free(ips);
    free(ratio);
}

static int parse_int(const char *flag, const char *v, int lo) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > 1000000) {
        fprintf(stderr, "bench_cnn: %s needs an integer >= %d\n", flag, lo);
        exit(2);
    }
    return (int)x;
}

int main(int argc, char **argv) {
    bench_opts o = {128, 2, 3, 5, 10, 0, 0, 0, 0, NULL};
    const char *env = getenv("GIBBON_PROFILE");
    o.profile = env && *env && strcmp(env, "0") != 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--batch") == 0) o.batch = parse_int(a, v, 1), i++;
        else if (strcmp(a, "--threads") == 0) o.threads = parse_int(a, v, 1), i++;
        else if (strcmp(a, "--warmup") == 0) o.warmup = parse_int(a, v, 0), i++;
        else if (strcmp(a, "--reps") == 0) o.reps = parse_int(a, v, 1), i++;
        else if (strcmp(a, "--iters") == 0) o.iters = parse_int(a, v, 1), i++;
        else if (strcmp(a, "--blas-threads") == 0) o.blas_threads = parse_int(a, v, 1), i++;
        else if (strcmp(a, "--only") == 0 && v) o.only = v, i++;
        else if (strcmp(a, "--profile") == 0) o.profile = 1;
        else if (strcmp(a, "--no-fuse") == 0) o.no_fuse = 1;
        else if (strcmp(a, "--no-winograd") == 0) o.no_winograd = 1;
        else {
            fprintf(stderr, "bench_cnn: unknown argument '%s' (see the comment at the top of "
                            "bench/bench_cnn.c)\n", a);
            return 2;
        }
    }
    if (o.only && strcmp(o.only, "train") && strcmp(o.only, "forward") && strcmp(o.only, "input_grad")) {
        fprintf(stderr, "bench_cnn: --only takes train, forward or input_grad\n");
        return 2;
    }
    gb_set_num_threads(o.threads);
    if (o.blas_threads) openblas_set_num_threads(o.blas_threads);

    gb_no_winograd = o.no_winograd;
    bench_ctx c = {0};
    check(gb_model_from_zoo("cnn", 1, 28, 28, 10, 1, &c.m), "model");
    gb_model_set_seed(c.m, 2);
    c.m->no_fuse = o.no_fuse;
    int64_t ls[2] = {o.batch, 10};
    c.x = gb_tensor_new4(o.batch, 1, 28, 28);
    c.grad = gb_tensor_new4(o.batch, 1, 28, 28);
    c.dlogits = gb_tensor_new(2, ls);
    c.labels = malloc((size_t)o.batch * sizeof *c.labels);
    if (!c.x || !c.grad || !c.dlogits || !c.labels) check(GB_ERR_NOMEM, "inputs");
    gb_rng rng;
    gb_rng_seed(&rng, 42, 1);
    for (int64_t i = 0; i < c.x->size; i++) c.x->data[i] = gb_rng_uniform(&rng);
    for (int i = 0; i < o.batch; i++) c.labels[i] = (int)gb_rng_below(&rng, 10);
    adam_init(&c.adam, c.m);

    if (!o.only || strcmp(o.only, "train") == 0) {
        gb_model_set_training(c.m, 1);
        measure("train", step_train, &c, &o);
    }
    gb_model_set_training(c.m, 0);
    if (!o.only || strcmp(o.only, "forward") == 0) measure("forward", step_forward, &c, &o);
    if (!o.only || strcmp(o.only, "input_grad") == 0) measure("input_grad", step_input_grad, &c, &o);

    if (o.profile) {
        bench_profile prof = {c.m, c.x, c.dlogits, c.labels, &c.adam, o.warmup, o.reps * o.iters};
        bench_profile_run(&prof, 1);
        bench_profile_run(&prof, 0);
    }

    adam_free(&c.adam);
    free(c.labels);
    gb_tensor_free(c.x);
    gb_tensor_free(c.grad);
    gb_tensor_free(c.dlogits);
    gb_model_free(c.m);
    return 0;
}
