/* test_physical.c — physical-world attacks on the shipped Fashion-MNIST
 * model (and the synthetic road-sign model when models/signs_cnn.onnx
 * exists): the EOT gradient through transformations and the model against
 * finite differences; an adversarial patch covering 10% of the image,
 * trained briefly, must send far more held-out images to its target than
 * chance and than no patch; eyeglass-frame dodging must reach 90%; RP2's
 * two-stage search must end on a sticker inside the mask of the requested
 * size; the disguise bound must hold; a stop sign must read as a speed
 * limit under >= 80% of sampled transformations. Thresholds are measured
 * values minus slack (see the comments); a broken attack cannot meet them.
 * Under sanitizers (GIBBON_TEST_SANITIZED) the work shrinks and only the
 * mechanics are checked. */
#include "check.h"
#include "attacks/physical.h"

#include <math.h>
#include <unistd.h>

static const char *fmnist = "models/fmnist_cnn.onnx", *signs = "models/signs_cnn.onnx";

static int sanitized(void) {
    const char *s = getenv("GIBBON_TEST_SANITIZED");
    return s && *s && strcmp(s, "0") != 0;
}

/* First n correctly classified images of d (of class cls if >= 0, not of
 * class `avoid`) into a new tensor with labels. */
static gb_tensor *pick(gb_model *m, const gb_dataset *d, int n, int cls, int avoid, int *y) {
    const int64_t D = d->images->size / d->n;
    gb_tensor *x = gb_tensor_new4(n, d->images->shape[1], d->images->shape[2], d->images->shape[3]);
    int got = 0, pred;
    float conf;
    for (int64_t i = 0; i < d->n && got < n; i++) {
        if ((cls >= 0 && d->labels[i] != cls) || d->labels[i] == avoid) continue;
        gb_tensor one = *d->images;
        one.shape[0] = 1, one.size = D, one.data = d->images->data + i * D, one.cap = 0;
        if (gb_predict(m, &one, &pred, &conf) || pred != d->labels[i]) continue;
        memcpy(x->data + (int64_t)got * D, one.data, (size_t)D * sizeof(float));
        y[got++] = d->labels[i];
    }
    x->shape[0] = got;
    x->size = got * D;
    return x;
}

/* d/dx of the EOT objective (one fixed transformation: the rng is reseeded
 * for every evaluation) through the pipeline and the real model, against
 * central differences at 40 random pixels. */
static void test_eot_gradient(void) {
    gb_model *m;
    gb_dataset *d;
    CHECK_OK(gb_model_load_onnx(fmnist, &m));
    CHECK_OK(gb_dataset_load("fashion-mnist:test:4", &d));
    gb_tf_pipeline *p;
    CHECK_OK(gb_tf_pipeline_parse("rotate=-20:20,scale=0.9:1.1,blur=0.5:1,contrast=0.8:1.2,gamma=0.8:1.2", &p));
    gb_eot e;
    gb_eot_init(&e, m, p, 1);
    int64_t D = d->images->size / d->n;
    float *g = malloc((size_t)d->images->size * sizeof *g), obj[4], op[4], om[4], o0[4];
    int t[4] = {3, 3, 5, 0};
    gb_rng r;
    gb_rng_seed(&r, 5, 0);
    CHECK_OK(gb_eot_eval(&e, d->images, d->labels, t, GB_LOSS_CE, 0, &r, g, obj, NULL));
    gb_rng pick_r;
    gb_rng_seed(&pick_r, 1, 1);
    /* The CNN's ReLUs and max-pools have kinks: as in gradcheck.h's
     * kink_aware mode, a probe whose one-sided differences disagree sits on
     * one and must match either side. */
    int bad = 0, kinks = 0;
    for (int k = 0; k < 40; k++) {
        int64_t i = gb_rng_below(&pick_r, (uint32_t)d->images->size);
        /* Probes on the garment: flat black background makes max-pool ties,
         * where the subgradient is neither one-sided difference. */
        if (!(d->images->data[i] > 0.1f && d->images->data[i] < 0.9f)) {
            k--;
            continue;
        }
        float saved = d->images->data[i], h = 1e-3f;
        d->images->data[i] = saved + h;
        gb_rng_seed(&r, 5, 0);
        gb_eot_eval(&e, d->images, d->labels, t, GB_LOSS_CE, 0, &r, g, op, NULL);
        d->images->data[i] = saved - h;
        gb_rng_seed(&r, 5, 0);
        gb_eot_eval(&e, d->images, d->labels, t, GB_LOSS_CE, 0, &r, g, om, NULL);
        d->images->data[i] = saved;
        /* Last: the analytic gradient at the unperturbed point. */
        gb_rng_seed(&r, 5, 0);
        gb_eot_eval(&e, d->images, d->labels, t, GB_LOSS_CE, 0, &r, g, o0, NULL);
        const int64_t b = i / D;
        double fwd = ((double)op[b] - o0[b]) / h, bwd = ((double)o0[b] - om[b]) / h, num = 0.5 * (fwd + bwd);
        double a = g[i], tol = 2e-3 + 5e-2 * fabs(num);
        int kink = fabs(fwd - bwd) > tol;
        kinks += kink;
        double err = kink ? fmin(fabs(a - fwd), fabs(a - bwd)) : fabs(a - num);
        if (err > tol) {
            if (bad < 3) fprintf(stderr, "  eot grad [%lld]: analytic %g numeric %g (one-sided %g, %g)\n", (long long)i, a, num, fwd, bwd);
            bad++;
        }
    }
    printf("  EOT gradient: 40 probes, %d at kinks\n", kinks);
    CHECKF(bad == 0 && kinks <= 15, "EOT gradient: %d of 40 probes off (%d kinks)", bad, kinks);
    free(g);
    gb_eot_free(&e);
    gb_tf_pipeline_free(p);
    gb_dataset_free(d);
    gb_model_free(m);
}

/* Trains a patch with p on train, then measures on test (2 placements per
 * non-target image) its success and that of a flat grey patch of the same
 * size: what covering pixels alone does. Prints one line labelled `what`. */
static void patch_vs_grey(gb_model *m, const gb_dataset *train, const gb_dataset *test, const gb_patch_params *p,
                          const char *what, gb_tensor **patch, gb_tensor **grey, double *succ, double *grey_rate,
                          int64_t *trials) {
    double t0 = gb_now();
    *succ = *grey_rate = 0;
    *trials = 0;
    CHECK_OK(gb_patch_train(m, train, p, patch));
    CHECK_OK(gb_patch_evaluate(m, test, *patch, p, NULL, 2, 99, succ, trials));
    *grey = gb_tensor_clone(*patch);
    for (int64_t k = 0; k < (*grey)->size; k++) (*grey)->data[k] = 0.5f;
    CHECK_OK(gb_patch_evaluate(m, test, *grey, p, NULL, 2, 99, grey_rate, NULL));
    printf("  %s -> class %d: %.1f%% of %lld placements (grey patch %.1f%%), %.1f s\n", what, p->target, 100 * *succ,
           (long long)*trials, 100 * *grey_rate, gb_now() - t0);
}

static void test_patch_fmnist(void) {
    gb_model *m;
    gb_dataset *train, *test;
    CHECK_OK(gb_model_load_onnx(fmnist, &m));
    CHECK_OK(gb_dataset_load("fashion-mnist:train:4000", &train));
    CHECK_OK(gb_dataset_load(sanitized() ? "fashion-mnist:test:100" : "fashion-mnist:test:300", &test));
    gb_patch_params p = gb_patch_default_params();
    p.target = 8; /* Bag */
    p.area = 0.1f;
    p.steps = sanitized() ? 5 : 150;
    p.batch = 32;
    p.lr = 0.1f;
    gb_tensor *patch = NULL, *grey = NULL;
    double succ, none;
    int64_t trials;
    patch_vs_grey(m, train, test, &p, "patch 10%", &patch, &grey, &succ, &none, &trials);
    CHECK(patch->shape[1] == gb_patch_side(0.1f, 28, 28));
    int in_box = 1;
    for (int64_t k = 0; k < patch->size; k++) in_box &= patch->data[k] >= 0 && patch->data[k] <= 1;
    CHECK(in_box);
    if (!sanitized()) {
        /* Measured PATCH_MEASURED; the grey patch stays near 0. */
        CHECKF(succ >= 0.03 && succ > 3 * none, "patch success %.3f (grey %.3f)", succ, none);
    }
    /* The disguise bound holds. */
    gb_patch_params q = p;
    q.steps = 3;
    q.disguise_eps = 0.05f;
    q.init = grey;
    gb_tensor *disguised = NULL;
    CHECK_OK(gb_patch_train(m, train, &q, &disguised));
    double worst = 0;
    for (int64_t k = 0; disguised && k < disguised->size; k++) worst = fmax(worst, fabs(disguised->data[k] - 0.5));
    CHECKF(worst <= 0.05 + 1e-6 && worst > 0.01, "disguise: max change %g", worst);
    gb_tensor_free(disguised);
    disguised = NULL;
    /* Bad parameters are errors, not crashes. */
    q = p;
    q.area = 1.5f;
    CHECK(gb_patch_train(m, train, &q, &disguised) == GB_ERR_ARG);
    q = p;
    q.target = 10;
    CHECK(gb_patch_train(m, train, &q, &disguised) == GB_ERR_ARG && !disguised);
    gb_tensor_free(grey);
    gb_tensor_free(patch);
    gb_dataset_free(train);
    gb_dataset_free(test);
    gb_model_free(m);
}

static void test_glasses_dodging(void) {
    gb_model *m;
    gb_dataset *d;
    CHECK_OK(gb_model_load_onnx(fmnist, &m));
    CHECK_OK(gb_dataset_load("fashion-mnist:test:200", &d));
    int n = sanitized() ? 4 : 24, y[24];
    gb_tensor *x = pick(m, d, n, -1, -1, y);
    float mask[28 * 28];
    CHECK_OK(gb_mask_make("glasses", 28, 28, mask));
    gb_sticker_params p = gb_sticker_default_params();
    p.mask = mask;
    p.steps = sanitized() ? 5 : 60;
    gb_sticker_result r;
    double t0 = gb_now();
    CHECK_OK(gb_sticker_run(m, x, y, NULL, &p, &r));
    int ok = 0, inside = 1;
    for (int64_t i = 0; i < r.n; i++) {
        ok += r.success[i];
        for (int64_t j = 0; j < 28 * 28; j++)
            inside &= mask[j] > 0 || r.x_adv->data[i * 784 + j] == x->data[i * 784 + j];
    }
    printf("  glasses dodging: %d/%lld (%.1f s)\n", ok, (long long)r.n, gb_now() - t0);
    CHECK(inside); /* nothing outside the frame changed */
    if (!sanitized()) CHECKF(ok >= 0.9 * r.n, "glasses dodging %d of %lld", ok, (long long)r.n);
    gb_sticker_result_free(&r);

    /* RP2's two stages: the final sticker is the requested share of the
     * region, inside it, and still fools the model on most images. */
    p.two_stage = 1;
    p.keep = 0.4f;
    float region[28 * 28];
    CHECK_OK(gb_mask_make("rect:0.1,0.1,0.9,0.9", 28, 28, region));
    p.mask = region;
    CHECK_OK(gb_sticker_run(m, x, y, NULL, &p, &r));
    double want = 0;
    for (int j = 0; j < 784; j++) want += region[j];
    want = ceil(0.4 * want);
    int sized = 1, within = 1;
    ok = 0;
    for (int64_t i = 0; i < r.n; i++) {
        double a = 0;
        for (int j = 0; j < 784; j++) a += r.mask[i * 784 + j], within &= r.mask[i * 784 + j] <= region[j];
        sized &= a == want;
        ok += r.success[i];
    }
    printf("  two-stage sticker (40%% of the region): %d/%lld\n", ok, (long long)r.n);
    CHECK(sized && within);
    if (!sanitized()) CHECKF(ok >= 0.75 * r.n, "two-stage dodging %d of %lld", ok, (long long)r.n);
    gb_sticker_result_free(&r);
    gb_tensor_free(x);
    gb_dataset_free(d);
    gb_model_free(m);
}

/* RP2's demonstration: a stop sign with stickers read as a speed limit
 * under sampled physical transformations. Runs when the sign model exists. */
static void test_stop_sign(void) {
    if (access(signs, R_OK) != 0) {
        printf("  skipped: %s not present\n", signs);
        return;
    }
    gb_model *m;
    gb_dataset *d;
    CHECK_OK(gb_model_load_onnx(signs, &m));
    CHECK_OK(gb_dataset_load("signs:test:200", &d));
    int n = sanitized() ? 2 : 6, y[6], t[6];
    gb_tensor *x = pick(m, d, n, 0 /* stop */, -1, y);
    CHECK(x->shape[0] == n);
    const int H = (int)x->shape[2], W = (int)x->shape[3];
    float *mask = malloc((size_t)H * W * sizeof *mask);
    CHECK_OK(gb_mask_make("rect", H, W, mask));
    for (int i = 0; i < n; i++) t[i] = 3; /* speed 50 */
    gb_sticker_params p = gb_sticker_default_params();
    p.mask = mask;
    const char *tf = "rotate=-10:10,scale=0.9:1.1,translate=-0.05:0.05,brightness=-0.1:0.1,contrast=0.8:1.2,blur=0:1,noise=0.01";
    p.transforms = tf;
    p.eot = sanitized() ? 1 : 8;
    /* The sticker kept is the best iterate by (EOT hits, margin capped at
     * kappa): here every sign reaches 8/8 with full margin well before 60
     * steps, and 150 steps returned the very same stickers (99.3%). */
    p.steps = sanitized() ? 3 : 60;
    gb_sticker_result r;
    CHECK_OK(gb_sticker_run(m, x, y, t, &p, &r));
    gb_tf_pipeline *pipe;
    CHECK_OK(gb_tf_pipeline_parse(tf, &pipe));
    float rate[6];
    gb_rng rng;
    gb_rng_seed(&rng, 777, 0);
    CHECK_OK(gb_eot_success_rate(m, r.x_adv, y, t, pipe, 50, &rng, rate));
    double mean = 0;
    for (int i = 0; i < n; i++) mean += rate[i] / n;
    printf("  stop sign -> speed 50 under fresh transformations: %.1f%%\n", 100 * mean);
    if (!sanitized()) CHECKF(mean >= 0.8, "stop -> speed limit under transformations: %.3f", mean);
    gb_tf_pipeline_free(pipe);
    gb_sticker_result_free(&r);
    free(mask);
    gb_tensor_free(x);
    gb_dataset_free(d);
    gb_model_free(m);
}

/* Brown et al.'s demonstration on the road signs, in a reduced setting
 * that runs in seconds: a patch covering 20% of the image (random place,
 * scale +-20%, rotation +-22.5 degrees), 60 Adam steps on 1000 training
 * signs, must send most held-out non-target signs to "speed 50" under
 * fresh placements. Measured 73.6% (a flat grey patch of the same size:
 * 2.8%); a patch whose training does nothing stays near the grey one. The
 * full-length curve (10%: 38%) is in README. */
static void test_patch_signs(void) {
    if (access(signs, R_OK) != 0) {
        printf("  skipped: %s not present\n", signs);
        return;
    }
    gb_model *m;
    gb_dataset *train, *test;
    CHECK_OK(gb_model_load_onnx(signs, &m));
    CHECK_OK(gb_dataset_load("signs:train:1000", &train));
    CHECK_OK(gb_dataset_load(sanitized() ? "signs:test:40" : "signs:test:200", &test));
    gb_patch_params p = gb_patch_default_params();
    p.target = 3; /* speed 50 */
    p.area = 0.2f;
    p.steps = sanitized() ? 3 : 60;
    p.lr = 0.1f;
    gb_tensor *patch = NULL, *grey = NULL;
    double succ, grey_rate;
    int64_t trials;
    patch_vs_grey(m, train, test, &p, "signs patch 20%", &patch, &grey, &succ, &grey_rate, &trials);
    int64_t others = 0;
    for (int64_t i = 0; i < test->n; i++) others += test->labels[i] != p.target;
    CHECK(trials == 2 * others); /* two placements of every non-target sign */
    if (!sanitized()) CHECKF(succ >= 0.5 && grey_rate <= 0.1, "signs patch %.3f (grey %.3f)", succ, grey_rate);
    gb_tensor_free(grey);
    gb_tensor_free(patch);
    gb_dataset_free(train);
    gb_dataset_free(test);
    gb_model_free(m);
}

/* The fraction of the patch's pixels that land on the sign (mask >= 0.5),
 * over `samples` placements on each of the first 20 images of d: a white
 * patch pasted into black images marks where it went. */
static double on_sign_fraction(const gb_dataset *d, const gb_patch_params *p, int samples) {
    const int H = (int)d->images->shape[2], W = (int)d->images->shape[3], P = gb_patch_side(p->area, H, W);
    const int n = 20 * samples;
    gb_tensor *x = gb_tensor_new4(n, 3, H, W), *patch = gb_tensor_new4(1, 3, P, P), y = {0};
    int64_t ps[3] = {3, P, P};
    float *reg = malloc((size_t)n * H * W * sizeof *reg);
    CHECK(x && patch && reg && gb_tensor_resize(patch, 3, ps) == GB_OK);
    if (!x || !patch || !reg) return 0;
    for (int64_t k = 0; k < patch->size; k++) patch->data[k] = 1;
    for (int i = 0; i < n; i++) memcpy(reg + (int64_t)i * H * W, d->masks + (int64_t)(i / samples) * H * W, (size_t)H * W * sizeof(float));
    gb_rng rng;
    gb_rng_seed(&rng, 4, 0);
    double on = 0, all = 0;
    CHECK_OK(gb_patch_apply_random(x, reg, patch, p, NULL, &rng, &y));
    for (int i = 0; i < n && y.data; i++)
        for (int k = 0; k < H * W; k++) {
            float v = y.data[(int64_t)i * 3 * H * W + k];
            all += v, on += v * (reg[(int64_t)i * H * W + k] >= 0.5f);
        }
    gb_tensor_release(&y);
    gb_tensor_free(x), gb_tensor_free(patch), free(reg);
    return all > 0 ? on / all : 0;
}

/* Brown et al.'s demonstration on the signs: a patch of exactly 10% of the
 * image (15 x 15 px, no scale jitter, rotation +-22.5 degrees) placed on the
 * sign (--placement sign: >= 90% of the unrotated square on the sign mask,
 * or where it overlaps most on signs too small for that) sends >= 80% of
 * non-target held-out signs to "speed 50" at full length (README: 300 steps,
 * 83%). Here 60 steps on 1000 signs: measured 80.0% (a flat grey patch at
 * the same placements 2.5%); asserted >= 70% and grey <= 15%. The placement
 * itself: 96.3% of the patch's pixels on the sign (asserted >= 90%), 55.4%
 * when placed anywhere (the signs are large and central). */
static void test_patch_on_sign(void) {
    if (access(signs, R_OK) != 0) {
        printf("  skipped: %s not present\n", signs);
        return;
    }
    gb_model *m;
    gb_dataset *train, *test, *fm;
    CHECK_OK(gb_model_load_onnx(signs, &m));
    CHECK_OK(gb_dataset_load("signs:train:1000", &train));
    CHECK_OK(gb_dataset_load(sanitized() ? "signs:test:40" : "signs:test:200", &test));
    CHECK(train->masks && test->masks);
    /* Every sign mask is a coverage in [0, 1] over a plausible part of the image. */
    int masks_ok = 1;
    for (int64_t i = 0; i < test->n && test->masks; i++) {
        double a = 0;
        for (int k = 0; k < 48 * 48; k++) {
            float v = test->masks[i * 48 * 48 + k];
            masks_ok &= v >= 0 && v <= 1;
            a += v / (48.0 * 48.0);
        }
        masks_ok &= a > 0.02 && a < 0.8;
    }
    CHECK(masks_ok);
    gb_patch_params p = gb_patch_default_params();
    p.target = 3; /* speed 50 */
    p.area = 0.1f;
    p.jitter = 0;
    p.on_object = 1;
    p.steps = sanitized() ? 3 : 60;
    p.lr = 0.1f;
    double on = on_sign_fraction(test, &p, 8);
    gb_patch_params q = p;
    q.on_object = 0;
    double anywhere = on_sign_fraction(test, &q, 8);
    printf("  patch pixels on the sign: %.1f%% placed on it, %.1f%% placed anywhere\n", 100 * on, 100 * anywhere);
    CHECKF(on >= 0.9 && anywhere < 0.75, "on-sign placement: %.3f on the sign (anywhere %.3f)", on, anywhere);
    gb_tensor *patch = NULL, *grey = NULL;
    double succ, grey_rate;
    int64_t trials;
    patch_vs_grey(m, train, test, &p, "signs patch 10% on the sign", &patch, &grey, &succ, &grey_rate, &trials);
    if (!sanitized()) CHECKF(succ >= 0.7 && grey_rate <= 0.15, "on-sign patch %.3f (grey %.3f)", succ, grey_rate);
    /* A data set without object masks cannot place on the object. */
    CHECK_OK(gb_dataset_load("fashion-mnist:test:20", &fm));
    gb_tensor *none = NULL;
    CHECK(gb_patch_train(m, fm, &p, &none) == GB_ERR_ARG && !none);
    gb_dataset_free(fm);
    gb_tensor_free(grey);
    gb_tensor_free(patch);
    gb_dataset_free(train);
    gb_dataset_free(test);
    gb_model_free(m);
}

int main(void) {
    gb_set_num_threads(2);
    RUN(test_eot_gradient);
    RUN(test_patch_fmnist);
    RUN(test_glasses_dodging);
    RUN(test_stop_sign);
    RUN(test_patch_signs);
    RUN(test_patch_on_sign);
    CHECK_DONE();
}
