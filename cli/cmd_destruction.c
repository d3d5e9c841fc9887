/* cmd_destruction.c — `gibbon destruction`: Kurakin et al. 2017's destruction
 * rate (eq. 1) of adversarial examples from FGSM, BIM and ILL at several
 * budgets under blur, noise, JPEG, brightness/contrast and print-and-photo,
 * as a table like their Table 3: destruction.csv and destruction.json,
 * written atomically. Every attack and budget sees the same transformation
 * samples (one seed per transformation), so rows compare like with like. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_LIST 16

typedef struct cell {
    int attack; /* index into the attack list */
    float eps;
    int tf;
    int64_t adversarial; /* denominator: clean-correct examples the attack broke */
    double rate;
} cell;

/* Splits a comma-separated list in place into at most MAX_LIST items. */
static int split(char *s, char **items) {
    int n = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (n == MAX_LIST) return -1;
        items[n++] = tok;
    }
    return n;
}

static gb_status attack_set(gb_model *m, gb_attack_kind kind, float eps, const gb_dataset *d, int batch,
                            uint64_t seed, gb_tensor *xadv) {
    int64_t N = d->n, D = d->images->size / N;
    gb_attack a = gb_attack_default_params(kind);
    a.eps = eps;
    a.seed = seed;
    GB_TRY(gb_tensor_resize(xadv, 4, d->images->shape));
    for (int64_t start = 0; start < N; start += batch) {
        int64_t nb = GB_MIN((int64_t)batch, N - start);
        gb_tensor view = *d->images;
        view.shape[0] = nb;
        view.size = nb * D;
        view.cap = 0;
        view.data = d->images->data + start * D;
        gb_attack_result r = {0};
        GB_TRY(gb_attack_run(&a, m, &view, d->labels + start, NULL, &r));
        memcpy(xadv->data + start * D, r.x_adv->data, (size_t)(nb * D) * sizeof(float));
        gb_attack_result_free(&r);
    }
    return GB_OK;
}

static gb_status write_table(const char *out, char **atk, char **tfs, int ntf, const cell *cells, int nc,
                             const double *clean_tf, const char *model, const char *data, double clean_acc,
                             int64_t n) {
    char path[4200];
    gb_atomic_file csv, js;
    snprintf(path, sizeof path, "%s/destruction.csv", out);
    GB_TRY(gb_atomic_open(&csv, path));
    fprintf(csv.f, "attack,eps,transform,adversarial,destruction_rate\n");
    for (int i = 0; i < nc; i++)
        fprintf(csv.f, "%s,%g,%s,%lld,%.6f\n", atk[cells[i].attack], (double)cells[i].eps, tfs[cells[i].tf],
                (long long)cells[i].adversarial, cells[i].rate);
    GB_TRY(gb_atomic_commit(&csv));
    snprintf(path, sizeof path, "%s/destruction.json", out);
    GB_TRY(gb_atomic_open(&js, path));
    json j = {js.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_int(&j, "n", n);
    json_num(&j, "clean_accuracy", clean_acc);
    json_begin_object(&j, "clean_accuracy_transformed");
    for (int t = 0; t < ntf; t++) json_num(&j, tfs[t], clean_tf[t]);
    json_end_object(&j);
    json_begin_array(&j, "rows");
    for (int i = 0; i < nc; i++) {
        json_begin_object(&j, NULL);
        json_str(&j, "attack", atk[cells[i].attack]);
        json_num(&j, "eps", cells[i].eps);
        json_str(&j, "transform", tfs[cells[i].tf]);
        json_int(&j, "adversarial", cells[i].adversarial);
        json_num(&j, "destruction_rate", cells[i].rate);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_end_object(&j);
    return gb_atomic_commit(&js);
}

int cmd_destruction(int argc, char **argv) {
    const char *model = NULL, *data = NULL, *out = NULL;
    const char *attacks_s = "fgsm,bim,ill", *eps_s = "0.05,0.1", *tfs_s = "blur,noise,jpeg,brightness,photo";
    int batch = 128;
    uint64_t seed = 1;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "model (.onnx, required)"},
        {"data", OPT_STR, &data, "data set (required)"},
        {"attacks", OPT_STR, &attacks_s, "comma-separated attacks (default fgsm,bim,ill)"},
        {"eps", OPT_STR, &eps_s, "comma-separated L-inf budgets (default 0.05,0.1)"},
        {"transforms", OPT_STR, &tfs_s, "comma-separated: blur, noise, jpeg, brightness, photo (default all)"},
        {"batch", OPT_INT, &batch, "attack batch size (default 128)"},
        {"seed", OPT_U64, &seed, "seed of the transformation samples (default 1)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    int r = cli_parse("destruction",
                      "Destruction rate of adversarial examples under transformations (Kurakin et al. 2017, eq. 1).",
                      argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!model || !data || !out) {
        fprintf(stderr, "gibbon destruction: --model, --data and --out are required\n");
        return 2;
    }
    if (batch < 1) {
        fprintf(stderr, "gibbon destruction: --batch must be positive\n");
        return 2;
    }
    char abuf[1024], tbuf[1024], *atk[MAX_LIST], *tfs[MAX_LIST];
    snprintf(abuf, sizeof abuf, "%s", attacks_s);
    snprintf(tbuf, sizeof tbuf, "%s", tfs_s);
    int natk = split(abuf, atk), ntf = split(tbuf, tfs);
    gb_attack_kind kinds[MAX_LIST];
    if (natk < 1) {
        fprintf(stderr, "gibbon destruction: --attacks: '%s' is not a list of 1 to %d attacks\n", attacks_s, MAX_LIST);
        return 2;
    }
    for (int i = 0; i < natk; i++)
        if (gb_attack_parse(atk[i], &kinds[i]) ||
            (kinds[i] != GB_ATTACK_FGSM && kinds[i] != GB_ATTACK_BIM && kinds[i] != GB_ATTACK_ILL)) {
            fprintf(stderr, "gibbon destruction: --attacks: '%s' is not fgsm, bim or ill\n", atk[i]);
            return 2;
        }
    float eps[MAX_LIST];
    int neps = cli_parse_floats(eps_s, eps, MAX_LIST);
    if (neps < 1) {
        fprintf(stderr, "gibbon destruction: --eps: '%s' is not a comma-separated list of numbers\n", eps_s);
        return 2;
    }
    for (int i = 0; i < neps; i++)
        if (!(eps[i] > 0 && eps[i] <= 1)) {
            fprintf(stderr, "gibbon destruction: --eps: %g is outside (0, 1]\n", (double)eps[i]);
            return 2;
        }
    if (ntf < 1) {
        fprintf(stderr, "gibbon destruction: --transforms: '%s' is not a list of 1 to %d names\n", tfs_s, MAX_LIST);
        return 2;
    }
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    int rc = cli_load_model("destruction", model, &mo, &m);
    if (rc) return rc;
    int64_t N = 0;
    int *clean = NULL, *adv = NULL, *tfp = NULL, *clean_ok = NULL, *adv_ok = NULL, *tf_ok = NULL;
    gb_tensor xadv = {0}, xt = {0};
    cell *cells = NULL;
    double clean_tf[MAX_LIST], clean_acc = 0;
    if (gb_dataset_load(data, &d)) {
        rc = cli_fail("--data");
        goto done;
    }
    if (cli_check_images(m, d->images)) {
        rc = 1;
        goto done;
    }
    N = d->n;
    /* Unknown transformation names fail here, before any attack runs. */
    for (int t = 0; t < ntf; t++)
        if (gb_destruction_transform(tfs[t], d->images, seed + (uint64_t)t, &xt)) {
            fprintf(stderr, "gibbon destruction: --transforms: %s\n", gb_last_error());
            rc = 2;
            goto done;
        }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon destruction: --out: cannot create directory %s\n", out);
        rc = 1;
        goto done;
    }
    clean = malloc((size_t)N * sizeof *clean), adv = malloc((size_t)N * sizeof *adv);
    tfp = malloc((size_t)N * sizeof *tfp), clean_ok = malloc((size_t)N * sizeof *clean_ok);
    adv_ok = malloc((size_t)N * sizeof *adv_ok), tf_ok = malloc((size_t)N * sizeof *tf_ok);
    cells = malloc((size_t)(natk * neps * ntf) * sizeof *cells);
    if (!clean || !adv || !tfp || !clean_ok || !adv_ok || !tf_ok || !cells) {
        rc = cli_fail("destruction");
        goto done;
    }
    if (gb_predict_set(m, d->images, NULL, batch, clean)) {
        rc = cli_fail("destruction");
        goto done;
    }
    for (int64_t k = 0; k < N; k++) clean_ok[k] = clean[k] == d->labels[k], clean_acc += clean_ok[k];
    clean_acc /= (double)N;
    for (int t = 0; t < ntf; t++) {
        if (gb_destruction_transform(tfs[t], d->images, seed + (uint64_t)t, &xt) ||
            gb_predict_set(m, &xt, NULL, batch, tfp)) {
            rc = cli_fail("destruction");
            goto done;
        }
        int64_t right = 0;
        for (int64_t k = 0; k < N; k++) right += tfp[k] == d->labels[k];
        clean_tf[t] = (double)right / (double)N;
    }
    int nc = 0;
    printf("%-6s %6s", "attack", "eps");
    for (int t = 0; t < ntf; t++) printf(" %11s", tfs[t]);
    printf("   (destruction rate; clean accuracy %.2f%%, n %lld)\n", 100 * clean_acc, (long long)N);
    for (int a = 0; a < natk; a++)
        for (int e = 0; e < neps; e++) {
            if (attack_set(m, kinds[a], eps[e], d, batch, seed, &xadv) ||
                gb_predict_set(m, &xadv, NULL, batch, adv)) {
                rc = cli_fail(atk[a]);
                goto done;
            }
            for (int64_t k = 0; k < N; k++) adv_ok[k] = adv[k] == d->labels[k];
            printf("%-6s %6g", atk[a], (double)eps[e]);
            for (int t = 0; t < ntf; t++) {
                if (gb_destruction_transform(tfs[t], &xadv, seed + (uint64_t)t, &xt) ||
                    gb_predict_set(m, &xt, NULL, batch, tfp)) {
                    rc = cli_fail(tfs[t]);
                    goto done;
                }
                for (int64_t k = 0; k < N; k++) tf_ok[k] = tfp[k] == d->labels[k];
                cell *c = &cells[nc++];
                c->attack = a, c->eps = eps[e], c->tf = t;
                gb_destruction_rate(clean_ok, adv_ok, tf_ok, N, &c->rate, &c->adversarial);
                printf(" %10.2f%%", 100 * c->rate);
            }
            printf("\n");
            fflush(stdout);
        }
    if (write_table(out, atk, tfs, ntf, cells, nc, clean_tf, model, data, clean_acc, N)) rc = cli_fail(out);
done:
    free(clean), free(adv), free(tfp), free(clean_ok), free(adv_ok), free(tf_ok), free(cells);
    gb_tensor_release(&xadv), gb_tensor_release(&xt);
    gb_dataset_free(d);
    gb_model_free(m);
    return rc;
}
