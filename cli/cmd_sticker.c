/* cmd_sticker.c — `gibbon sticker`: masked physical perturbations (RP2
 * stickers, Eykholt et al. 2018; eyeglass frames, Sharif et al. 2016) on
 * correctly classified images, optimized under EOT, then measured on fresh
 * samples of the transformations. Writes adv.npy, sticker.png (the first
 * example: clean, sticker, stickered), grid.png (clean, stickered and
 * transformed samples with predictions), examples.csv and summary.json,
 * atomically. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attacks/attacks.h"

static gb_status write_sticker_png(const char *path, const float *x, const float *adv, const float *mask, int C,
                                   int H, int W) {
    const int64_t hw = (int64_t)H * W, D = C * hw;
    const int scale = GB_MAX(1, 160 / GB_MAX(H, W)), pw = W * scale + 12;
    float *st = malloc((size_t)D * sizeof *st);
    gb_image *im = gb_image_new(3 * pw, H * scale + 26, 255, 255, 255);
    if (!st || !im) {
        free(st);
        gb_image_free(im);
        return GB_ERR_NOMEM;
    }
    /* The sticker alone: its pixels on white. */
    for (int c = 0; c < C; c++)
        for (int64_t j = 0; j < hw; j++) st[c * hw + j] = mask[j] > 0 ? adv[c * hw + j] : 1.0f;
    const float *panels[3] = {x, st, adv};
    const char *names[3] = {"clean", "sticker", "stickered"};
    for (int k = 0; k < 3; k++) {
        gb_image_blit(im, panels[k], C, H, W, 0, 1, k * pw + 6, 4, scale);
        gb_image_text(im, k * pw + 6, H * scale + 10, names[k], 1, 0, 0, 0);
    }
    gb_status s = gb_png_write(path, im);
    gb_image_free(im);
    free(st);
    return s;
}

/* grid.png: per example a column; rows clean, stickered, then `nt` samples
 * of the transformations applied to the stickered image. */
static gb_status write_sticker_grid(const char *path, gb_model *m, const gb_dataset *d, const gb_tensor *x,
                                    const gb_tensor *adv, const int *target, gb_tf_pipeline *pipe, int cols,
                                    const int *y, uint64_t seed) {
    const int nt = pipe ? 3 : 0, rows = 2 + nt, C = (int)x->shape[1], H = (int)x->shape[2], W = (int)x->shape[3];
    const int64_t D = (int64_t)C * H * W;
    cols = (int)GB_MIN((int64_t)cols, x->shape[0]);
    gb_tensor *all = gb_tensor_new4((int64_t)rows * cols, C, H, W), tx = {0};
    gb_tf_params *q = malloc((size_t)GB_MAX(nt * cols, 1) * sizeof *q);
    cli_cell *cells = calloc((size_t)rows * cols, sizeof *cells);
    int *pred = malloc((size_t)rows * cols * sizeof *pred);
    float *conf = malloc((size_t)rows * cols * sizeof *conf);
    gb_status s = (!all || !q || !cells || !pred || !conf) ? GB_ERR_NOMEM : GB_OK;
    for (int k = 0; k < cols && !s; k++) {
        memcpy(all->data + (int64_t)k * D, x->data + (int64_t)k * D, (size_t)D * sizeof(float));
        for (int r = 1; r < rows; r++)
            memcpy(all->data + ((int64_t)r * cols + k) * D, adv->data + (int64_t)k * D, (size_t)D * sizeof(float));
    }
    if (!s && nt > 0) {
        gb_rng rng;
        gb_rng_seed(&rng, seed, 31);
        gb_tensor rest = *all;
        rest.shape[0] = (int64_t)nt * cols;
        rest.size = rest.shape[0] * D;
        rest.data = all->data + 2 * (int64_t)cols * D;
        rest.cap = 0;
        gb_tf_pipeline_sample(pipe, rest.shape[0], H, W, &rng, q);
        s = gb_tf_pipeline_forward(pipe, q, &rest, &tx);
        if (!s) memcpy(rest.data, tx.data, (size_t)rest.size * sizeof(float));
    }
    if (!s) s = gb_predict(m, all, pred, conf);
    for (int r = 0; r < rows && !s; r++)
        for (int k = 0; k < cols; k++) {
            int j = r * cols + k;
            char nb[32];
            cells[j].chw = all->data + (int64_t)j * D;
            cells[j].hit = r > 0 && (target ? pred[j] == target[k] : pred[j] != y[k]);
            snprintf(cells[j].caption, sizeof cells[j].caption, "%.12s %.0f%%", cli_class_name(d, pred[j], nb, sizeof nb),
                     100 * conf[j]);
        }
    if (!s) s = cli_write_grid(path, C, H, W, cells, rows, cols,
                               "rows: clean, stickered, stickered under sampled transformations (red: attack holds)");
    gb_tensor_free(all);
    gb_tensor_release(&tx);
    free(q), free(cells), free(pred), free(conf);
    return s;
}

int cmd_sticker(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test", *out = NULL, *mask_s = "rect", *target_s = NULL;
    const char *palette = NULL, *transforms = "", *norm_s = "l2", *loss_s = "cw", *class_s = NULL, *eval_tf = NULL;
    int n = 16, two_stage = 0, eot = -1, steps = -1, eval_samples = 100, grid = 8;
    float keep = NAN, lambda = NAN, tv = 0, nps = 0, lr = NAN, kappa = NAN;
    uint64_t seed = 1;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "ONNX model file (required)"},
        {"data", OPT_STR, &data, "images (default fashion-mnist:test)"},
        {"n", OPT_INT, &n, "attack the first N correctly classified images (also -n; default 16)"},
        {"class", OPT_STR, &class_s, "only images of this true class (number or name, e.g. stop)"},
        {"mask", OPT_STR, &mask_s, "rect (two sticker bars), rect:X0,Y0,X1,Y1, glasses, or FILE.png (default rect)"},
        {"two-stage", OPT_FLAG, &two_stage, "RP2 mask search: L1 stage over the mask, keep the top pixels, then L2"},
        {"keep", OPT_FLOAT, &keep, "two-stage: fraction of the mask kept as the sticker (default 0.3)"},
        {"target", OPT_STR, &target_s, "impersonation: class to become (number or name); default: dodging"},
        {"norm", OPT_STR, &norm_s, "penalty norm of M*delta, one stage: l1 or l2 (default l2)"},
        {"lambda", OPT_FLOAT, &lambda, "weight of the norm penalty (default 0.002)"},
        {"tv-weight", OPT_FLOAT, &tv, "weight of total variation (default 0)"},
        {"nps-weight", OPT_FLOAT, &nps, "weight of the non-printability score (default 0)"},
        {"palette", OPT_STR, &palette, "printable colours, one 'R G B' per line (default data/palette.txt)"},
        {"loss", OPT_STR, &loss_s, "cw (C&W margin, default) or ce"},
        {"kappa", OPT_FLOAT, &kappa, "cw margin to reach (default 5)"},
        {"transforms", OPT_STR, &transforms, "EOT distribution, e.g. rotate=-15:15,scale=0.9:1.1,brightness=-0.1:0.1"},
        {"eot", OPT_INT, &eot, "transformations averaged per step (default 1)"},
        {"eval-transforms", OPT_STR, &eval_tf, "distribution for measuring success (default: --transforms)"},
        {"eval-samples", OPT_INT, &eval_samples, "fresh transformations per image when measuring (default 100)"},
        {"steps", OPT_INT, &steps, "Adam steps per stage (default 200)"},
        {"lr", OPT_FLOAT, &lr, "Adam learning rate (default 0.05)"},
        {"grid", OPT_INT, &grid, "columns of grid.png (default 8; 0: none)"},
        {"seed", OPT_U64, &seed, "seed (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    /* "-n N" as the brief spelling of --n. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-n") == 0) argv[i] = "--n";
    int r = cli_parse("sticker", "Masked physical perturbations (RP2 stickers, eyeglass frames) under EOT.", argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model || !out) {
        fprintf(stderr, "gibbon sticker: --model and --out are required\n");
        return 2;
    }
    gb_sticker_params p = gb_sticker_default_params();
    p.two_stage = two_stage;
    if (!isnan(keep)) p.keep = keep;
    if (!isnan(lambda)) p.lambda = lambda;
    if (!isnan(lr)) p.lr = lr;
    if (steps >= 0) p.steps = steps;
    if (eot >= 0) p.eot = eot;
    p.tv_weight = tv;
    p.nps_weight = nps;
    if (!isnan(kappa)) p.kappa = kappa;
    p.transforms = transforms;
    p.seed = seed;
    if (gb_norm_parse(norm_s, &p.norm) || (p.norm != GB_NORM_L1 && p.norm != GB_NORM_L2)) {
        fprintf(stderr, "gibbon sticker: --norm: '%s' is not l1 or l2\n", norm_s);
        return 2;
    }
    if (gb_loss_parse(loss_s, &p.loss) || p.loss == GB_LOSS_DLR) {
        fprintf(stderr, "gibbon sticker: --loss: '%s' is not ce or cw\n", loss_s);
        return 2;
    }
    if (n < 1 || eval_samples < 1 || grid < 0) {
        fprintf(stderr, "gibbon sticker: --n and --eval-samples must be positive\n");
        return 2;
    }
    gb_tf_pipeline *pipe = NULL, *epipe = NULL;
    if (gb_tf_pipeline_parse(transforms, &pipe)) {
        fprintf(stderr, "gibbon sticker: --transforms: %s\n", gb_last_error());
        return 2;
    }
    if (gb_tf_pipeline_parse(eval_tf ? eval_tf : transforms, &epipe)) {
        fprintf(stderr, "gibbon sticker: --eval-transforms: %s\n", gb_last_error());
        gb_tf_pipeline_free(pipe);
        return 2;
    }
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    float *mask = NULL, *pal = NULL, *rate = NULL;
    int *sel = NULL, *ys = NULL, *ts = NULL, rc = 0, npal = 0;
    gb_tensor *x = NULL;
    gb_sticker_result res = {0};
    int64_t *idx = NULL;
    char path[4300], nb[32];
    if (nps > 0 || palette) {
        if (gb_palette_load(palette ? palette : "data/palette.txt", &pal, &npal)) {
            rc = cli_fail("--palette");
            goto done;
        }
        p.palette = pal;
        p.palette_n = npal;
    }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon sticker: --out: cannot create directory '%s'\n", out);
        rc = 1;
        goto done;
    }
    if ((r = cli_load_model("sticker", model, &mo, &m))) {
        rc = r;
        goto done;
    }
    if (gb_dataset_load(data, &d)) {
        rc = cli_fail("");
        goto done;
    }
    if (cli_check_images(m, d->images)) {
        rc = 1;
        goto done;
    }
    int K = gb_model_num_classes(m), cls = -1, target = -1;
    if (K < 2) K = d->num_classes;
    if (target_s && cli_parse_class(d, target_s, K, &target)) {
        fprintf(stderr, "gibbon sticker: --target: '%s' is not a class number below %d or a class name\n", target_s, K);
        rc = 2;
        goto done;
    }
    if (class_s && cli_parse_class(d, class_s, K, &cls)) {
        fprintf(stderr, "gibbon sticker: --class: '%s' is not a class number below %d or a class name\n", class_s, K);
        rc = 2;
        goto done;
    }
    const int C = (int)d->images->shape[1], H = (int)d->images->shape[2], W = (int)d->images->shape[3];
    const int64_t D = (int64_t)C * H * W;
    mask = malloc((size_t)H * W * sizeof *mask);
    if (!mask || gb_mask_make(mask_s, H, W, mask)) {
        rc = cli_fail("--mask");
        goto done;
    }
    p.mask = mask;
    /* Correctly classified images of the wanted class, not already the target. */
    sel = malloc((size_t)GB_MAX(d->n, 1) * sizeof *sel);
    idx = malloc((size_t)n * sizeof *idx);
    float *conf = malloc((size_t)GB_MAX(d->n, 1) * sizeof *conf);
    int64_t got = 0;
    if (!sel || !idx || !conf) {
        free(conf);
        rc = cli_fail("");
        goto done;
    }
    for (int64_t start = 0; start < d->n && got < n; start += 256) {
        gb_tensor xb = *d->images;
        xb.shape[0] = GB_MIN((int64_t)256, d->n - start);
        xb.size = xb.shape[0] * D;
        xb.data = d->images->data + start * D;
        xb.cap = 0;
        if (gb_predict(m, &xb, sel + start, conf + start)) {
            free(conf);
            rc = cli_fail("");
            goto done;
        }
        for (int64_t i = start; i < start + xb.shape[0] && got < n; i++)
            if (sel[i] == d->labels[i] && (cls < 0 || d->labels[i] == cls) && d->labels[i] != target) idx[got++] = i;
    }
    free(conf);
    if (got == 0) {
        fprintf(stderr, "gibbon sticker: no correctly classified image%s%s in %s\n", cls >= 0 ? " of class " : "",
                cls >= 0 ? cli_class_name(d, cls, nb, sizeof nb) : "", data);
        rc = 1;
        goto done;
    }
    x = gb_tensor_new4(got, C, H, W);
    ys = malloc((size_t)got * sizeof *ys);
    ts = malloc((size_t)got * sizeof *ts);
    rate = malloc((size_t)got * sizeof *rate);
    if (!x || !ys || !ts || !rate) {
        rc = cli_fail("");
        goto done;
    }
    for (int64_t k = 0; k < got; k++) {
        memcpy(x->data + k * D, d->images->data + idx[k] * D, (size_t)D * sizeof(float));
        ys[k] = d->labels[idx[k]];
        ts[k] = target;
    }
    double t0 = gb_now();
    /* One run over all selected images: each has its own delta, and the
     * EOT batch is n * eot rows. */
    if (gb_sticker_run(m, x, ys, target >= 0 ? ts : NULL, &p, &res)) {
        rc = cli_fail("sticker");
        goto done;
    }
    double secs = gb_now() - t0;
    gb_rng erng;
    gb_rng_seed(&erng, seed + 4242, 3);
    if (gb_eot_success_rate(m, res.x_adv, ys, target >= 0 ? ts : NULL, epipe, eval_samples, &erng, rate)) {
        rc = cli_fail("evaluate");
        goto done;
    }
    double succ = 0, eot_mean = 0, eot80 = 0, l1 = 0, l2 = 0, linf = 0, tvm = 0, npsm = 0, mask_px = 0;
    for (int64_t k = 0; k < got; k++) {
        succ += res.success[k], eot_mean += rate[k], eot80 += rate[k] >= 0.8f;
        l1 += res.l1[k], l2 += res.l2[k], linf += res.linf[k], tvm += res.tv[k], npsm += res.nps[k];
        for (int64_t j = 0; j < (int64_t)H * W; j++) mask_px += res.mask[k * H * W + j] > 0;
    }
    const double g = (double)got;
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/examples.csv", out);
    if (gb_atomic_open(&af, path)) {
        rc = cli_fail("");
        goto done;
    }
    fprintf(af.f, "index,true_label,target,clean_pred,adv_pred,success,eot_success_rate,l1,l2,linf,tv,nps,mask_pixels\n");
    for (int64_t k = 0; k < got; k++) {
        int mp = 0;
        for (int64_t j = 0; j < (int64_t)H * W; j++) mp += res.mask[k * H * W + j] > 0;
        fprintf(af.f, "%lld,%d,%d,%d,%d,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.6g,%d\n", (long long)idx[k], ys[k], target,
                res.clean_pred[k], res.adv_pred[k], res.success[k], rate[k], res.l1[k], res.l2[k], res.linf[k],
                res.tv[k], res.nps[k], mp);
    }
    if (gb_atomic_commit(&af)) {
        rc = cli_fail("");
        goto done;
    }
    snprintf(path, sizeof path, "%s/adv.npy", out);
    gb_status s = gb_npy_write(path, res.x_adv);
    snprintf(path, sizeof path, "%s/sticker.png", out);
    if (!s) s = write_sticker_png(path, x->data, res.x_adv->data, res.mask, C, H, W);
    snprintf(path, sizeof path, "%s/grid.png", out);
    if (!s && grid > 0) s = write_sticker_grid(path, m, d, x, res.x_adv, target >= 0 ? ts : NULL, epipe, grid, ys, seed + 5);
    snprintf(path, sizeof path, "%s/summary.json", out);
    if (!s) s = gb_atomic_open(&af, path);
    if (s) {
        rc = cli_fail("");
        goto done;
    }
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_int(&j, "n", got);
    json_str(&j, "mode", target >= 0 ? "impersonation" : "dodging");
    if (target >= 0) json_str(&j, "target_name", cli_class_name(d, target, nb, sizeof nb));
    json_int(&j, "target", target);
    if (cls >= 0) json_int(&j, "class", cls);
    json_str(&j, "mask", mask_s);
    json_bool(&j, "two_stage", two_stage);
    json_num(&j, "keep", p.keep);
    json_str(&j, "norm", two_stage ? "l1 then l2" : gb_norm_name(p.norm));
    json_num(&j, "lambda", p.lambda);
    json_num(&j, "tv_weight", p.tv_weight);
    json_num(&j, "nps_weight", p.nps_weight);
    json_str(&j, "loss", gb_loss_name(p.loss));
    json_str(&j, "transforms", gb_tf_pipeline_spec(pipe));
    json_int(&j, "eot", p.eot);
    json_int(&j, "steps", p.steps);
    json_num(&j, "lr", p.lr);
    json_str(&j, "eval_transforms", gb_tf_pipeline_spec(epipe));
    json_int(&j, "eval_samples", eval_samples);
    json_num(&j, "success_rate", succ / g);
    json_num(&j, "eot_success_rate", eot_mean / g);
    json_num(&j, "fraction_eot_success_ge_0.8", eot80 / g);
    json_num(&j, "mean_l1", l1 / g);
    json_num(&j, "mean_l2", l2 / g);
    json_num(&j, "mean_linf", linf / g);
    json_num(&j, "mean_tv", tvm / g);
    json_num(&j, "mean_nps", npsm / g);
    json_num(&j, "mean_mask_fraction", mask_px / g / (double)(H * W));
    json_int(&j, "grad_evals", res.grad_evals);
    json_num(&j, "time_s", secs);
    json_int(&j, "seed", (long long)seed);
    json_end_object(&j);
    if (gb_atomic_commit(&af)) {
        rc = cli_fail("");
        goto done;
    }
    printf("sticker (%s, mask %s%s) on %lld images: success %.2f%% without transforms; under %d sampled "
           "transformations %.2f%% (%.0f%% of images >= 80%%); mean L2 %.3f, mask %.1f%% of the image (%.1f s)\n",
           target >= 0 ? "impersonation" : "dodging", mask_s, two_stage ? ", two-stage" : "", (long long)got,
           100 * succ / g, eval_samples, 100 * eot_mean / g, 100 * eot80 / g, l2 / g, 100 * mask_px / g / (H * W), secs);
done:
    gb_sticker_result_free(&res);
    gb_tensor_free(x);
    gb_tf_pipeline_free(pipe);
    gb_tf_pipeline_free(epipe);
    free(mask), free(sel), free(ys), free(ts), free(rate), free(idx);
    gb_free(pal);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
