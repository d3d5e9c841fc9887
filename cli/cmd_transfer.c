/* cmd_transfer.c — `gibbon transfer`: craft adversarial examples on one or
 * more source models (and, with several, on their logit-averaged ensemble)
 * and show them to every target model: the transfer matrix of success rates
 * (rows: sources and the ensemble; columns: targets) as matrix.csv,
 * cells.csv, transfer.json and transfer.svg (heat map), plus each row's
 * adversarial images (adv_<row>.npy). All written atomically. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h" /* gb_atomic_file, gb_error */

#define MAX_MODELS 8

typedef struct model_list {
    int n;
    char *paths[MAX_MODELS];
    char names[MAX_MODELS][128];
    gb_model *m[MAX_MODELS];
} model_list;

/* Splits "a.onnx,b.onnx" into paths; names are the file names without
 * directory and ".onnx" (made unique with "#k"). Returns 0 or prints and 2. */
static int split_models(const char *flag, const char *spec, model_list *l, char *buf, size_t len) {
    snprintf(buf, len, "%s", spec);
    l->n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (l->n == MAX_MODELS) {
            fprintf(stderr, "gibbon transfer: --%s: at most %d models\n", flag, MAX_MODELS);
            return 2;
        }
        l->paths[l->n] = tok;
        const char *base = strrchr(tok, '/');
        base = base ? base + 1 : tok;
        size_t bl = strlen(base);
        if (bl > 5 && strcmp(base + bl - 5, ".onnx") == 0) bl -= 5;
        snprintf(l->names[l->n], sizeof l->names[0], "%.*s", (int)GB_MIN(bl, (size_t)100), base);
        for (int k = 0; k < l->n; k++)
            if (strcmp(l->names[k], l->names[l->n]) == 0) {
                char t[128];
                snprintf(t, sizeof t, "%.100s#%d", l->names[l->n], l->n + 1);
                memcpy(l->names[l->n], t, sizeof t);
            }
        l->n++;
    }
    if (l->n == 0) {
        fprintf(stderr, "gibbon transfer: --%s: no model given\n", flag);
        return 2;
    }
    return 0;
}

static void free_models(model_list *l) {
    for (int k = 0; k < l->n; k++) gb_model_free(l->m[k]);
}

/* Loads every model and checks that it takes the data and that all agree on
 * the number of classes. Returns 0 or an exit code (message printed). */
static int load_models(const char *flag, model_list *l, const gb_dataset *d, int *K, const char **kfrom) {
    cli_model_opts mo = {0};
    for (int k = 0; k < l->n; k++) {
        int r = cli_load_model("transfer", l->paths[k], &mo, &l->m[k]);
        if (r) {
            fprintf(stderr, "gibbon transfer: --%s: cannot use model '%s'\n", flag, l->paths[k]);
            return r;
        }
        gb_tensor one = *d->images;
        one.shape[0] = 1, one.size = d->images->size / d->n, one.cap = 0;
        if (gb_model_check_input(l->m[k], &one)) {
            fprintf(stderr, "gibbon transfer: --%s: %s: %s\n", flag, l->paths[k], gb_last_error());
            return 1;
        }
        int kk = gb_model_num_classes(l->m[k]);
        if (*K < 0) *K = kk, *kfrom = l->paths[k];
        if (kk != *K) {
            fprintf(stderr, "gibbon transfer: --%s: %s has %d classes, %s has %d: models must share their classes\n",
                    flag, l->paths[k], kk, *kfrom, *K);
            return 1;
        }
    }
    return 0;
}

static gb_status write_outputs(const char *out, const model_list *src, int nrows, const char *const *rows,
                               const model_list *tgt, const gb_transfer_cell *cells, const gb_attack *a,
                               const char *data, int64_t n, const char *target_mode, const double *secs) {
    char path[4200];
    gb_atomic_file af;
    const int nt = tgt->n;
    snprintf(path, sizeof path, "%s/matrix.csv", out);
    GB_TRY(gb_atomic_open(&af, path));
    fprintf(af.f, "source");
    for (int t = 0; t < nt; t++) fprintf(af.f, ",%s", tgt->names[t]);
    fputc('\n', af.f);
    for (int r = 0; r < nrows; r++) {
        fprintf(af.f, "%s", rows[r]);
        for (int t = 0; t < nt; t++) fprintf(af.f, ",%.6f", cells[r * nt + t].success_rate);
        fputc('\n', af.f);
    }
    GB_TRY(gb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/cells.csv", out);
    GB_TRY(gb_atomic_open(&af, path));
    fprintf(af.f, "source,target,n,clean_accuracy,adv_accuracy,success_rate,clean_correct,fooled\n");
    for (int r = 0; r < nrows; r++)
        for (int t = 0; t < nt; t++) {
            const gb_transfer_cell *c = &cells[r * nt + t];
            fprintf(af.f, "%s,%s,%lld,%.6f,%.6f,%.6f,%lld,%lld\n", rows[r], tgt->names[t], (long long)c->n,
                    c->clean_accuracy, c->adv_accuracy, c->success_rate, (long long)c->clean_correct,
                    (long long)c->fooled);
        }
    GB_TRY(gb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/transfer.json", out);
    GB_TRY(gb_atomic_open(&af, path));
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "data", data);
    json_int(&j, "n", n);
    json_begin_object(&j, "attack");
    json_str(&j, "name", gb_attack_name(a->kind));
    json_num(&j, "eps", a->eps);
    json_str(&j, "norm", gb_norm_name(a->norm));
    json_str(&j, "loss", gb_loss_name(a->loss));
    json_int(&j, "steps", a->steps);
    json_num(&j, "step_size", a->step_size);
    json_num(&j, "momentum", a->momentum);
    json_num(&j, "di_prob", a->di_prob);
    json_int(&j, "ti_kernel", a->ti_kernel);
    json_bool(&j, "targeted", a->targeted);
    if (a->targeted) json_str(&j, "target_class", target_mode);
    json_int(&j, "seed", (long long)a->seed);
    json_end_object(&j);
    json_str(&j, "ensemble", src->n > 1 ? "one graph: the mean of the sources' logits" : "none (one source)");
    json_begin_array(&j, "sources");
    for (int r = 0; r < nrows; r++) {
        json_begin_object(&j, NULL);
        json_str(&j, "name", rows[r]);
        json_str(&j, "path", r < src->n ? src->paths[r] : "ensemble");
        json_num(&j, "craft_time_s", secs[r]);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_begin_array(&j, "targets");
    for (int t = 0; t < nt; t++) {
        json_begin_object(&j, NULL);
        json_str(&j, "name", tgt->names[t]);
        json_str(&j, "path", tgt->paths[t]);
        json_num(&j, "clean_accuracy", cells[t].clean_accuracy);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_begin_array(&j, "success_rate"); /* the matrix, rows = sources */
    for (int r = 0; r < nrows; r++) {
        json_begin_array(&j, NULL);
        for (int t = 0; t < nt; t++) json_num(&j, NULL, cells[r * nt + t].success_rate);
        json_end_array(&j);
    }
    json_end_array(&j);
    json_begin_array(&j, "cells");
    for (int r = 0; r < nrows; r++)
        for (int t = 0; t < nt; t++) {
            const gb_transfer_cell *c = &cells[r * nt + t];
            json_begin_object(&j, NULL);
            json_str(&j, "source", rows[r]);
            json_str(&j, "target", tgt->names[t]);
            json_num(&j, "clean_accuracy", c->clean_accuracy);
            json_num(&j, "adv_accuracy", c->adv_accuracy);
            json_num(&j, "success_rate", c->success_rate);
            json_int(&j, "clean_correct", c->clean_correct);
            json_int(&j, "fooled", c->fooled);
            json_end_object(&j);
        }
    json_end_array(&j);
    json_end_object(&j);
    fputc('\n', af.f);
    GB_TRY(gb_atomic_commit(&af));
    double *v = malloc((size_t)(nrows * nt) * sizeof *v);
    const char *cols[MAX_MODELS];
    if (!v) return gb_error(GB_ERR_NOMEM, "transfer: out of memory");
    for (int i = 0; i < nrows * nt; i++) v[i] = cells[i].success_rate;
    for (int t = 0; t < nt; t++) cols[t] = tgt->names[t];
    char title[256];
    snprintf(title, sizeof title, "transfer success rate: %s, eps %g (%s)%s%s", gb_attack_name(a->kind), a->eps,
             gb_norm_name(a->norm), a->di_prob > 0 ? ", DI" : "", a->ti_kernel > 1 ? ", TI" : "");
    snprintf(path, sizeof path, "%s/transfer.svg", out);
    gb_status s = gb_transfer_svg(path, rows, nrows, cols, nt, v, title);
    free(v);
    return s;
}

#define SET_F(field, v) \
    if (!isnan(v)) a.field = (v)
#define SET_I(field, v) \
    if ((v) >= 0) a.field = (v)

int cmd_transfer(int argc, char **argv) {
    const char *sources = NULL, *targets = NULL, *data = "fashion-mnist:test", *attack = "fgsm", *out = NULL;
    const char *norm_s = NULL, *loss_s = NULL, *target_mode = "next";
    float eps = 0.1f, step_size = NAN, momentum = NAN, di = NAN;
    int n = -1, steps = -1, restarts = -1, ti = -1, batch = 256, targeted = 0, random_start = 0, early_stop = 0;
    uint64_t seed = 1;
    cli_opt opts[] = {
        {"source", OPT_STR, &sources, "model(s) the attack sees: A.onnx[,B.onnx...] (several: also their ensemble)"},
        {"target", OPT_STR, &targets, "model(s) the examples are shown to: X.onnx[,Y.onnx...]"},
        {"attack", OPT_STR, &attack, "a gradient attack: fgsm, bim, pgd, mifgsm, apgd, ... (default fgsm)"},
        {"eps", OPT_FLOAT, &eps, "budget in pixel units of --norm (default 0.1)"},
        {"norm", OPT_STR, &norm_s, "linf, l2 or l1 (pgd)"},
        {"loss", OPT_STR, &loss_s, "ce, cw or dlr"},
        {"steps", OPT_INT, &steps, "iterations (default: the attack's own)"},
        {"step-size", OPT_FLOAT, &step_size, "step alpha (default: the attack's own rule)"},
        {"momentum", OPT_FLOAT, &momentum, "mifgsm decay mu (1.0)"},
        {"restarts", OPT_INT, &restarts, "pgd random restarts"},
        {"random-start", OPT_FLAG, &random_start, "start inside the ball at random"},
        {"early-stop", OPT_FLAG, &early_stop, "stop an example at its first success on the source"},
        {"di", OPT_FLOAT, &di, "input diversity: probability of a random resize-and-pad per step (0.5 in the paper)"},
        {"ti", OPT_INT, &ti, "translation invariance: Gaussian kernel size for the gradient (odd; 5 for 28x28)"},
        {"targeted", OPT_FLAG, &targeted, "aim for a target class"},
        {"target-class", OPT_STR, &target_mode, "with --targeted: next (y+1), random, or a class number"},
        {"data", OPT_STR, &data, "data set (default fashion-mnist:test)"},
        {"n", OPT_INT, &n, "use the first N examples"},
        {"batch", OPT_INT, &batch, "batch size (default 256, as gibbon attack)"},
        {"seed", OPT_U64, &seed, "seed (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        {0}};
    int r = cli_parse("transfer", "Crafts adversarial examples on source models and measures how often they fool target models.",
                      argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!sources || !targets || !out) {
        fprintf(stderr, "gibbon transfer: --source, --target and --out are required\n");
        return 2;
    }
    gb_attack_kind kind;
    if (gb_attack_parse(attack, &kind)) {
        fprintf(stderr, "gibbon transfer: --attack: %s\n", gb_last_error());
        return 2;
    }
    if (kind >= GB_ATTACK_SQUARE && kind <= GB_ATTACK_HSJ) {
        fprintf(stderr, "gibbon transfer: --attack %s: transfer crafts with a white-box attack on the sources\n", attack);
        return 2;
    }
    gb_attack a = gb_attack_default_params(kind);
    if ((norm_s && gb_norm_parse(norm_s, &a.norm)) || (loss_s && gb_loss_parse(loss_s, &a.loss))) {
        fprintf(stderr, "gibbon transfer: --%s: %s\n", norm_s && gb_norm_parse(norm_s, &a.norm) ? "norm" : "loss",
                gb_last_error());
        return 2;
    }
    a.eps = eps;
    SET_I(steps, steps);
    SET_I(restarts, restarts);
    SET_I(ti_kernel, ti);
    SET_F(step_size, step_size);
    SET_F(momentum, momentum);
    SET_F(di_prob, di);
    if (random_start) a.random_start = 1;
    if (early_stop) a.early_stop = 1;
    a.seed = seed;
    a.targeted = targeted;
    if (!(a.di_prob >= 0 && a.di_prob <= 1) || (a.ti_kernel > 1 && a.ti_kernel % 2 == 0)) {
        fprintf(stderr, "gibbon transfer: --di must be in [0, 1] and --ti odd\n");
        return 2;
    }
    if (batch < 1 || n == 0 || n < -1) {
        fprintf(stderr, "gibbon transfer: --batch and -n must be positive\n");
        return 2;
    }
    char sbuf[4096], tbuf[4096];
    model_list src = {0}, tgt = {0};
    if ((r = split_models("source", sources, &src, sbuf, sizeof sbuf)) ||
        (r = split_models("target", targets, &tgt, tbuf, sizeof tbuf)))
        return r;
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon transfer: --out: cannot create directory '%s'\n", out);
        return 1;
    }
    gb_dataset *d = NULL;
    gb_model *ens = NULL;
    gb_tensor *xadv = NULL;
    int *tcls = NULL, rc = 0, K = -1;
    const char *kfrom = NULL;
    gb_transfer_cell *cells = NULL;
    if (gb_dataset_load(data, &d)) {
        rc = cli_fail("--data");
        goto done;
    }
    if (n > 0 && n < d->n) { /* the first n examples */
        int64_t per = d->images->size / d->n;
        d->n = n;
        d->images->shape[0] = n;
        d->images->size = n * per;
    }
    if ((rc = load_models("source", &src, d, &K, &kfrom)) || (rc = load_models("target", &tgt, d, &K, &kfrom)))
        goto done;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= K) {
            fprintf(stderr, "gibbon transfer: --data: label %d outside the models' 0..%d\n", d->labels[i], K - 1);
            rc = 1;
            goto done;
        }
    if (targeted) {
        tcls = malloc((size_t)d->n * sizeof *tcls);
        gb_rng rng;
        gb_rng_seed(&rng, seed, 5);
        gb_target_mode tm = strcmp(target_mode, "random") == 0 ? GB_TARGET_RANDOM : GB_TARGET_NEXT;
        int fixed = -1;
        if (strcmp(target_mode, "next") && strcmp(target_mode, "random")) {
            char *end;
            long v = strtol(target_mode, &end, 10);
            if (end == target_mode || *end || v < 0 || v >= K) {
                fprintf(stderr, "gibbon transfer: --target-class: '%s' is not next, random or a class in 0..%d\n",
                        target_mode, K - 1);
                rc = 2;
                goto done;
            }
            tm = GB_TARGET_FIXED, fixed = (int)v;
        }
        if (!tcls || gb_attack_targets(src.m[0], d->images, d->labels, tm, fixed, &rng, tcls)) {
            rc = cli_fail("--target-class");
            goto done;
        }
    }
    const int nrows = src.n > 1 ? src.n + 1 : src.n, nt = tgt.n;
    const char *rows[MAX_MODELS + 1];
    for (int k = 0; k < src.n; k++) rows[k] = src.names[k];
    if (src.n > 1) {
        rows[src.n] = "ensemble";
        if (gb_model_ensemble(src.m, src.n, &ens)) {
            rc = cli_fail("--source");
            goto done;
        }
    }
    cells = calloc((size_t)(nrows * nt), sizeof *cells);
    xadv = gb_tensor_new(d->images->ndim, d->images->shape);
    double secs[MAX_MODELS + 1];
    if (!cells || !xadv) {
        rc = cli_fail("");
        goto done;
    }
    printf("%s %s eps %g on %lld examples of %s\n", attack, gb_norm_name(a.norm), a.eps, (long long)d->n, data);
    for (int row = 0; row < nrows; row++) {
        gb_model *m = row < src.n ? src.m[row] : ens;
        double t0 = gb_now();
        fprintf(stderr, "gibbon transfer: crafting on %s...\n", rows[row]);
        if (gb_transfer_craft(&a, m, d->images, d->labels, tcls, batch, xadv)) {
            rc = cli_fail(rows[row]);
            goto done;
        }
        secs[row] = gb_now() - t0;
        char path[4200];
        snprintf(path, sizeof path, "%s/adv_%s.npy", out, rows[row]);
        for (char *p = path + strlen(out) + 1; *p; p++)
            if (*p == '#') *p = '_';
        if (gb_npy_write(path, xadv)) {
            rc = cli_fail("");
            goto done;
        }
        for (int t = 0; t < nt; t++)
            if (gb_transfer_eval(tgt.m[t], d->images, xadv, d->labels, tcls, batch, &cells[row * nt + t])) {
                rc = cli_fail(tgt.paths[t]);
                goto done;
            }
    }
    if (write_outputs(out, &src, nrows, rows, &tgt, cells, &a, data, d->n, target_mode, secs)) {
        rc = cli_fail("");
        goto done;
    }
    printf("%-16s", "success rate");
    for (int t = 0; t < nt; t++) printf(" %12.12s", tgt.names[t]);
    printf("\n%-16s", "(clean acc)");
    for (int t = 0; t < nt; t++) printf(" %12.4f", cells[t].clean_accuracy);
    printf("\n");
    for (int row = 0; row < nrows; row++) {
        printf("%-16.16s", rows[row]);
        for (int t = 0; t < nt; t++) printf(" %12.4f", cells[row * nt + t].success_rate);
        printf("\n");
    }
    printf("written: %s/matrix.csv, cells.csv, transfer.json, transfer.svg\n", out);
done:
    free(cells);
    free(tcls);
    gb_tensor_free(xadv);
    gb_model_free(ens);
    free_models(&src);
    free_models(&tgt);
    gb_dataset_free(d);
    return rc;
}
