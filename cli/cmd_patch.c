/* cmd_patch.c — `gibbon patch`: trains a universal targeted adversarial
 * patch (Brown et al. 2017) for each requested size, measures on held-out
 * images how often it wins under random placement (+ transformations), and
 * writes patch_<size>.png/.npy, success_vs_size.{csv,svg}, grid.png and
 * summary.json (all atomically). */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attacks/attacks.h"

#define MAX_SIZES 16

typedef struct size_run {
    float area;
    int side;
    double success, success_plain, seconds;
    int64_t trials;
} size_run;

static int progress(int step, int steps, float loss, float hit, void *user) {
    const float *area = user;
    if (isatty(2)) {
        fprintf(stderr, "\r\033[Kpatch %.3g: step %d/%d  loss %.4f  target hit %.1f%%", (double)*area, step, steps, loss,
                100 * hit);
        if (step == steps) fputs("\r\033[K", stderr);
    } else if (step % GB_MAX(steps / 5, 1) == 0) {
        fprintf(stderr, "patch %.3g: step %d/%d  loss %.4f  target hit %.1f%%\n", (double)*area, step, steps, loss, 100 * hit);
    }
    return 0;
}

/* The patch as a picture: pixels outside its mask white. */
static gb_status write_patch_png(const char *path, const gb_tensor *patch, const gb_patch_params *p) {
    const int C = (int)patch->shape[0], P = (int)patch->shape[1];
    float *mask = malloc((size_t)P * P * sizeof *mask), *img = malloc((size_t)patch->size * sizeof *img);
    if (!mask || !img) {
        free(mask), free(img);
        return GB_ERR_NOMEM;
    }
    gb_patch_mask(p, P, mask);
    for (int c = 0; c < C; c++)
        for (int k = 0; k < P * P; k++) img[c * P * P + k] = mask[k] > 0.5f ? patch->data[c * P * P + k] : 1.0f;
    gb_status s = cli_write_png(path, img, C, P, P, GB_MAX(1, 256 / P));
    free(mask), free(img);
    return s;
}

/* grid.png: for the first `cols` non-target test images, the clean image
 * and `rows - 1` patched, transformed samples, captioned with predictions. */
static gb_status write_patch_grid(const char *path, gb_model *m, const gb_dataset *d, const gb_tensor *patch,
                                  const gb_patch_params *p, gb_tf_pipeline *pipe, int cols, uint64_t seed) {
    const int rows = 4, C = (int)d->images->shape[1], H = (int)d->images->shape[2], W = (int)d->images->shape[3];
    const int64_t D = (int64_t)C * H * W;
    gb_tensor *x = gb_tensor_new4((int64_t)rows * cols, C, H, W), y = {0};
    cli_cell *cells = calloc((size_t)rows * cols, sizeof *cells);
    int *pred = malloc((size_t)rows * cols * sizeof *pred);
    float *conf = malloc((size_t)rows * cols * sizeof *conf);
    /* The patched rows' object masks (on-object placement). */
    float *regions = d->masks ? malloc((size_t)(rows - 1) * cols * H * W * sizeof *regions) : NULL;
    gb_status s = (!x || !cells || !pred || !conf || (d->masks && !regions)) ? GB_ERR_NOMEM : GB_OK;
    int n = 0;
    for (int64_t i = 0; i < d->n && n < cols && !s; i++) {
        if (d->labels[i] == p->target) continue;
        for (int r = 0; r < rows; r++) memcpy(x->data + ((int64_t)r * cols + n) * D, d->images->data + i * D, (size_t)D * sizeof(float));
        for (int r = 0; regions && r < rows - 1; r++)
            memcpy(regions + ((int64_t)r * cols + n) * H * W, d->masks + i * H * W, (size_t)H * W * sizeof(float));
        n++;
    }
    gb_rng rng;
    gb_rng_seed(&rng, seed, 77);
    if (!s && n > 0) {
        /* Row 0 stays clean; the others get the patch. */
        gb_tensor rest = *x;
        rest.shape[0] = (int64_t)(rows - 1) * cols;
        rest.size = rest.shape[0] * D;
        rest.data = x->data + (int64_t)cols * D;
        rest.cap = 0;
        s = gb_patch_apply_random(&rest, regions, patch, p, pipe, &rng, &y);
        if (!s) memcpy(rest.data, y.data, (size_t)rest.size * sizeof(float));
    }
    if (!s) s = gb_predict(m, x, pred, conf);
    for (int r = 0; r < rows && !s; r++)
        for (int k = 0; k < n; k++) {
            cli_cell *c = &cells[r * cols + k];
            char nb[32];
            int j = r * cols + k;
            c->chw = x->data + (int64_t)j * D;
            c->hit = r > 0 && pred[j] == p->target;
            snprintf(c->caption, sizeof c->caption, "%.12s %.0f%%", cli_class_name(d, pred[j], nb, sizeof nb),
                     100 * conf[j]);
        }
    char title[160];
    snprintf(title, sizeof title, "top row clean; below: patch at random placements (red: classified as target)");
    if (!s) s = cli_write_grid(path, C, H, W, cells, rows, cols, title);
    gb_tensor_free(x);
    gb_tensor_release(&y);
    free(cells), free(pred), free(conf), free(regions);
    return s;
}

/* The fraction of non-target images of t classified as target with no
 * patch (under one sample of the transformations): what a patch must beat. */
static gb_status baseline(gb_model *m, const gb_dataset *t, int target, gb_tf_pipeline *pipe, uint64_t seed,
                          double *rate) {
    const int64_t D = t->images->size / GB_MAX(t->n, 1);
    int64_t n = 0;
    for (int64_t i = 0; i < t->n; i++) n += t->labels[i] != target;
    gb_tensor *x = gb_tensor_new4(GB_MAX(n, 1), t->images->shape[1], t->images->shape[2], t->images->shape[3]);
    int *y = malloc((size_t)GB_MAX(n, 1) * sizeof *y), *tg = malloc((size_t)GB_MAX(n, 1) * sizeof *tg);
    float *r = malloc((size_t)GB_MAX(n, 1) * sizeof *r);
    gb_status s = (!x || !y || !tg || !r) ? GB_ERR_NOMEM : GB_OK;
    for (int64_t i = 0, k = 0; i < t->n && !s; i++)
        if (t->labels[i] != target) {
            memcpy(x->data + k * D, t->images->data + i * D, (size_t)D * sizeof(float));
            y[k] = t->labels[i], tg[k++] = target;
        }
    x->shape[0] = n;
    x->size = n * D;
    gb_rng rng;
    gb_rng_seed(&rng, seed, 99);
    *rate = 0;
    if (!s && n > 0) s = gb_eot_success_rate(m, x, y, tg, pipe, 1, &rng, r);
    for (int64_t i = 0; i < n && !s; i++) *rate += r[i] / (double)n;
    gb_tensor_free(x);
    free(y), free(tg), free(r);
    return s;
}

int cmd_patch(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:train:10000", *test_data = "fashion-mnist:test:1000";
    const char *out = NULL, *sizes_s = "0.1", *shape = "square", *transforms = "", *target_s = NULL, *init = NULL;
    const char *placement = "anywhere", *loss_s = "ce";
    int steps = -1, batch = -1, eot = -1, signed_steps = 0, samples = 4, grid = 8;
    float lr = NAN, jitter = NAN, rotate = NAN, disguise = 0, kappa = NAN;
    uint64_t seed = 1;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "ONNX model file (required)"},
        {"target", OPT_STR, &target_s, "class the patch should force: a number or a class name (required)"},
        {"data", OPT_STR, &data, "training images (default fashion-mnist:train:10000)"},
        {"test-data", OPT_STR, &test_data, "held-out images for the success rate (default fashion-mnist:test:1000)"},
        {"size", OPT_STR, &sizes_s, "patch area(s) as fractions of the image, comma-separated (default 0.1)"},
        {"shape", OPT_STR, &shape, "square or circle (default square)"},
        {"transforms", OPT_STR, &transforms, "EOT transformations after pasting, e.g. rotate=-10:10,brightness=-0.1:0.1"},
        {"jitter", OPT_FLOAT, &jitter, "patch scale jitter (default 0.2: side x [0.8, 1.2])"},
        {"rotate", OPT_FLOAT, &rotate, "patch rotation range in degrees (default 22.5)"},
        {"placement", OPT_STR, &placement, "anywhere, or sign: centred on the object mask (signs data) (default anywhere)"},
        {"steps", OPT_INT, &steps, "optimizer steps per size (default 300)"},
        {"batch", OPT_INT, &batch, "images per step (default 32)"},
        {"eot", OPT_INT, &eot, "placements per image per step (default 1)"},
        {"lr", OPT_FLOAT, &lr, "Adam learning rate, or the signed step (default 0.05)"},
        {"signed", OPT_FLAG, &signed_steps, "signed-gradient steps instead of Adam"},
        {"loss", OPT_STR, &loss_s, "ce (log P(target), Brown et al.; default) or cw (target margin capped at --kappa)"},
        {"kappa", OPT_FLOAT, &kappa, "cw margin to reach (default 5)"},
        {"init", OPT_STR, &init, "start patch: a grey level in [0,1] or a (C,P,P) .npy (default random)"},
        {"disguise", OPT_FLOAT, &disguise, "keep the patch within this L-inf distance of --init"},
        {"samples", OPT_INT, &samples, "placements per test image when measuring (default 4)"},
        {"grid", OPT_INT, &grid, "columns of grid.png (default 8; 0: none)"},
        {"seed", OPT_U64, &seed, "seed (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    int r = cli_parse("patch", "Trains a universal targeted adversarial patch (Brown et al. 2017).", argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model || !out || !target_s) {
        fprintf(stderr, "gibbon patch: --model, --target and --out are required\n");
        return 2;
    }
    gb_patch_params p = gb_patch_default_params();
    float sizes[MAX_SIZES];
    int nsizes = cli_parse_floats(sizes_s, sizes, MAX_SIZES);
    if (nsizes < 1) {
        fprintf(stderr, "gibbon patch: --size: '%s' is not a comma-separated list of numbers\n", sizes_s);
        return 2;
    }
    for (int i = 0; i < nsizes; i++)
        if (!(sizes[i] > 0 && sizes[i] <= 1)) {
            fprintf(stderr, "gibbon patch: --size: %g is not in (0, 1]\n", (double)sizes[i]);
            return 2;
        }
    if (strcmp(shape, "square") && strcmp(shape, "circle")) {
        fprintf(stderr, "gibbon patch: --shape: '%s' is not square or circle\n", shape);
        return 2;
    }
    p.circle = strcmp(shape, "circle") == 0;
    if (strcmp(placement, "anywhere") && strcmp(placement, "sign")) {
        fprintf(stderr, "gibbon patch: --placement: '%s' is not anywhere or sign\n", placement);
        return 2;
    }
    p.on_object = strcmp(placement, "sign") == 0;
    if (gb_loss_parse(loss_s, &p.loss) || (p.loss != GB_LOSS_CE && p.loss != GB_LOSS_CW)) {
        fprintf(stderr, "gibbon patch: --loss: '%s' is not ce or cw\n", loss_s);
        return 2;
    }
    if (!isnan(kappa)) {
        if (!(kappa >= 0)) {
            fprintf(stderr, "gibbon patch: --kappa: %g is not a non-negative number\n", (double)kappa);
            return 2;
        }
        p.kappa = kappa;
    }
    if (steps >= 0) p.steps = steps;
    if (batch >= 0) p.batch = batch;
    if (eot >= 0) p.eot = eot;
    if (!isnan(lr)) p.lr = lr;
    if (!isnan(jitter)) p.jitter = jitter;
    if (!isnan(rotate)) p.max_rot = rotate;
    p.signed_steps = signed_steps;
    p.transforms = transforms;
    p.seed = seed;
    p.disguise_eps = disguise;
    if (samples < 1 || samples > 256) {
        fprintf(stderr, "gibbon patch: --samples must be in [1, 256]\n");
        return 2;
    }
    if (disguise < 0 || (disguise > 0 && !init)) {
        fprintf(stderr, "gibbon patch: --disguise needs a non-negative value and --init\n");
        return 2;
    }
    gb_tf_pipeline *pipe = NULL;
    if (gb_tf_pipeline_parse(transforms, &pipe)) {
        fprintf(stderr, "gibbon patch: --transforms: %s\n", gb_last_error());
        return 2;
    }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon patch: --out: cannot create directory '%s'\n", out);
        gb_tf_pipeline_free(pipe);
        return 1;
    }
    gb_model *m = NULL;
    gb_dataset *d = NULL, *t = NULL;
    gb_tensor *patch = NULL, *init_t = NULL;
    size_run runs[MAX_SIZES];
    int rc = 0;
    char path[4300], nb[32];
    if ((r = cli_load_model("patch", model, &mo, &m))) {
        gb_tf_pipeline_free(pipe);
        return r;
    }
    if (gb_dataset_load(data, &d) || gb_dataset_load(test_data, &t)) {
        rc = cli_fail("");
        goto done;
    }
    if (cli_check_images(m, d->images) || cli_check_images(m, t->images)) {
        rc = 1;
        goto done;
    }
    if (p.on_object && (!d->masks || !t->masks)) {
        fprintf(stderr, "gibbon patch: --placement sign: %s has no object masks (only signs:... data sets do)\n",
                d->masks ? test_data : data);
        rc = 2;
        goto done;
    }
    int K = gb_model_num_classes(m);
    if (cli_parse_class(d, target_s, K > 1 ? K : d->num_classes, &p.target)) {
        fprintf(stderr, "gibbon patch: --target: '%s' is not a class number below %d or a class name\n", target_s, K);
        rc = 2;
        goto done;
    }
    const int C = (int)d->images->shape[1], H = (int)d->images->shape[2], W = (int)d->images->shape[3];
    /* Baseline: how often held-out images are the target class without any patch. */
    double base = 0;
    if (baseline(m, t, p.target, pipe, seed, &base)) {
        rc = cli_fail("baseline");
        goto done;
    }
    printf("%s: target %d (%s); without a patch %.2f%% of non-target test images are classified as it\n", model,
           p.target, cli_class_name(d, p.target, nb, sizeof nb), 100 * base);
    for (int i = 0; i < nsizes; i++) {
        p.area = sizes[i];
        int P = gb_patch_side(p.area, H, W);
        gb_tensor_free(init_t);
        init_t = NULL;
        if (init) {
            char *end;
            double g = strtod(init, &end);
            if (end != init && !*end) {
                if (!(g >= 0 && g <= 1)) {
                    fprintf(stderr, "gibbon patch: --init: grey level %g not in [0,1]\n", g);
                    rc = 2;
                    goto done;
                }
                init_t = gb_tensor_new4(1, C, P, P);
                int64_t sh[3] = {C, P, P};
                if (!init_t || gb_tensor_resize(init_t, 3, sh)) {
                    rc = cli_fail("");
                    goto done;
                }
                for (int64_t k = 0; k < init_t->size; k++) init_t->data[k] = (float)g;
            } else if (gb_npy_read(init, &init_t)) {
                rc = cli_fail("--init");
                goto done;
            }
        }
        p.init = init_t;
        p.progress = progress;
        p.user = &sizes[i];
        double t0 = gb_now();
        gb_tensor_free(patch);
        patch = NULL;
        if (gb_patch_train(m, d, &p, &patch)) {
            rc = cli_fail("patch");
            goto done;
        }
        runs[i].area = p.area;
        runs[i].side = P;
        runs[i].seconds = gb_now() - t0;
        if (gb_patch_evaluate(m, t, patch, &p, pipe, samples, seed + 1000, &runs[i].success, &runs[i].trials) ||
            gb_patch_evaluate(m, t, patch, &p, NULL, samples, seed + 1000, &runs[i].success_plain, NULL)) {
            rc = cli_fail("evaluate");
            goto done;
        }
        snprintf(path, sizeof path, "%s/patch_%g.png", out, (double)p.area);
        gb_status s = write_patch_png(path, patch, &p);
        snprintf(path, sizeof path, "%s/patch_%g.npy", out, (double)p.area);
        if (!s) s = gb_npy_write(path, patch);
        if (!s && grid > 0 && i == nsizes - 1) {
            snprintf(path, sizeof path, "%s/grid.png", out);
            s = write_patch_grid(path, m, t, patch, &p, pipe, grid, seed + 2000);
        }
        if (s) {
            rc = cli_fail("");
            goto done;
        }
        printf("patch %5.1f%% of the image (%dx%d px): success %.2f%% under transforms, %.2f%% placement only "
               "(%lld trials, %.1f s training, %.0f img/s)\n", 100 * p.area, P, P, 100 * runs[i].success,
               100 * runs[i].success_plain, (long long)runs[i].trials, runs[i].seconds,
               runs[i].seconds > 0 ? p.steps * (double)p.batch * p.eot / runs[i].seconds : 0);
    }
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/success_vs_size.csv", out);
    if (gb_atomic_open(&af, path)) {
        rc = cli_fail("");
        goto done;
    }
    fprintf(af.f, "area,side_px,success_rate,success_rate_placement_only,trials,train_s\n");
    double xs[MAX_SIZES], ys[MAX_SIZES];
    for (int i = 0; i < nsizes; i++) {
        fprintf(af.f, "%g,%d,%.6f,%.6f,%lld,%.3f\n", (double)runs[i].area, runs[i].side, runs[i].success,
                runs[i].success_plain, (long long)runs[i].trials, runs[i].seconds);
        xs[i] = 100.0 * runs[i].area;
        ys[i] = runs[i].success;
    }
    snprintf(path, sizeof path, "%s/success_vs_size.svg", out);
    char title[200];
    snprintf(title, sizeof title, "adversarial patch -> %s: success vs patch size", cli_class_name(d, p.target, nb, sizeof nb));
    if (gb_atomic_commit(&af) || cli_write_curve_svg(path, title, "patch area (% of image)", "success rate", xs, ys, nsizes)) {
        rc = cli_fail("");
        goto done;
    }
    snprintf(path, sizeof path, "%s/summary.json", out);
    if (gb_atomic_open(&af, path)) {
        rc = cli_fail("");
        goto done;
    }
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_str(&j, "test_data", test_data);
    json_int(&j, "target", p.target);
    json_str(&j, "target_name", cli_class_name(d, p.target, nb, sizeof nb));
    json_num(&j, "baseline_target_rate", base);
    json_str(&j, "shape", shape);
    json_str(&j, "transforms", gb_tf_pipeline_spec(pipe));
    json_num(&j, "jitter", p.jitter);
    json_num(&j, "max_rotation_deg", p.max_rot);
    json_str(&j, "placement", placement);
    json_int(&j, "steps", p.steps);
    json_int(&j, "batch", p.batch);
    json_int(&j, "eot", p.eot);
    json_str(&j, "optimizer", p.signed_steps ? "signed" : "adam");
    json_str(&j, "loss", gb_loss_name(p.loss));
    json_num(&j, "kappa", p.kappa);
    json_num(&j, "lr", p.lr);
    json_num(&j, "disguise_eps", p.disguise_eps);
    json_int(&j, "samples_per_test_image", samples);
    json_int(&j, "seed", (long long)seed);
    json_begin_array(&j, "sizes");
    for (int i = 0; i < nsizes; i++) {
        json_begin_object(&j, NULL);
        json_num(&j, "area", runs[i].area);
        json_int(&j, "side_px", runs[i].side);
        json_num(&j, "success_rate", runs[i].success);
        json_num(&j, "success_rate_placement_only", runs[i].success_plain);
        json_int(&j, "trials", runs[i].trials);
        json_num(&j, "train_s", runs[i].seconds);
        json_num(&j, "train_images_per_s", runs[i].seconds > 0 ? p.steps * (double)p.batch * p.eot / runs[i].seconds : 0);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    if (gb_atomic_commit(&af)) rc = cli_fail("");
done:
    gb_tensor_free(patch);
    gb_tensor_free(init_t);
    gb_tf_pipeline_free(pipe);
    gb_dataset_free(d);
    gb_dataset_free(t);
    gb_model_free(m);
    return rc;
}
