/* cmd_attack.c — `gibbon attack`: run any attack of the suite over a data set
 * at one or more budgets; write adversarial images (.npy), per-example CSV
 * and JSON, summary.json, an optional PNG grid, and the classic figure. With
 * several budgets each gets its own subdirectory eps_<e>/, DIR/summary.json
 * lists them, and robust_vs_eps.{csv,svg} plot robust accuracy against eps.
 * Every file is written atomically. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attacks/attacks.h"
#include "eval/svg.h"

#define MAX_EPS 32

typedef struct run_stats {
    float eps;
    double robust_accuracy, success_rate, mean_linf, mean_l2, mean_l0, seconds;
    double median_linf, median_l2, median_l0; /* over successful examples */
    int64_t n, correct_clean, grad_evals;
} run_stats;

/* What the figure needs from the best example found so far. */
typedef struct figure_pick {
    int found;
    float eps, score;
    int64_t index;
    int clean_pred, adv_pred;
    float clean_conf, adv_conf;
    float *clean, *adv; /* copies (C*H*W) */
} figure_pick;

static gb_status write_examples(const char *dir, const gb_dataset *d, const int *target,
                                const gb_attack_result *r) {
    char path[4200], nb[3][32];
    gb_atomic_file csv, js;
    snprintf(path, sizeof path, "%s/examples.csv", dir);
    GB_TRY(gb_atomic_open(&csv, path));
    snprintf(path, sizeof path, "%s/examples.json", dir);
    gb_status s = gb_atomic_open(&js, path);
    if (s) {
        gb_atomic_abort(&csv);
        return s;
    }
    fprintf(csv.f, "index,true_label,true_class,target,clean_pred,clean_conf,adv_pred,adv_class,adv_conf,linf,l2,success,l0,grad_evals\n");
    json j = {js.f, 0, {1}};
    json_begin_array(&j, NULL);
    for (int64_t i = 0; i < r->n; i++) {
        int t = target ? target[i] : -1;
        fprintf(csv.f, "%lld,%d,\"%s\",%d,%d,%.6f,%d,\"%s\",%.6f,%.6f,%.6f,%d,%.0f,%lld\n", (long long)i,
                d->labels[i], cli_class_name(d, d->labels[i], nb[0], 32), t, r->clean_pred[i],
                r->clean_conf[i], r->adv_pred[i], cli_class_name(d, r->adv_pred[i], nb[1], 32),
                r->adv_conf[i], r->linf[i], r->l2[i], r->success[i], r->l0[i], (long long)r->evals[i]);
        json_begin_object(&j, NULL);
        json_int(&j, "index", i);
        json_int(&j, "true_label", d->labels[i]);
        if (target) json_int(&j, "target", t);
        json_int(&j, "clean_pred", r->clean_pred[i]);
        json_num(&j, "clean_conf", r->clean_conf[i]);
        json_int(&j, "adv_pred", r->adv_pred[i]);
        json_num(&j, "adv_conf", r->adv_conf[i]);
        json_num(&j, "linf", r->linf[i]);
        json_num(&j, "l2", r->l2[i]);
        json_bool(&j, "success", r->success[i]);
        json_num(&j, "l0", r->l0[i]);
        json_int(&j, "grad_evals", r->evals[i]);
        json_end_object(&j);
    }
    json_end_array(&j);
    fputc('\n', js.f);
    s = gb_atomic_commit(&csv);
    gb_status s2 = gb_atomic_commit(&js);
    return s ? s : s2;
}

static void write_params(json *j, const gb_attack *a, const char *target_mode) {
    json_begin_object(j, "attack");
    json_str(j, "name", gb_attack_name(a->kind));
    json_num(j, "eps", a->eps);
    json_str(j, "norm", gb_norm_name(a->norm));
    json_bool(j, "targeted", a->targeted);
    if (a->targeted) json_str(j, "target", target_mode);
    if (a->targeted && strcmp(target_mode, "top") == 0) json_int(j, "n_target_classes", a->n_target_classes);
    json_num(j, "clip_min", a->clip_min);
    json_num(j, "clip_max", a->clip_max);
    json_str(j, "loss", gb_loss_name(a->loss));
    json_int(j, "steps", a->steps);
    json_num(j, "step_size", a->step_size);
    json_int(j, "restarts", a->restarts);
    json_bool(j, "random_start", a->random_start);
    json_bool(j, "early_stop", a->early_stop);
    json_num(j, "momentum", a->momentum);
    json_num(j, "kappa", a->kappa);
    json_int(j, "binary_steps", a->binary_steps);
    json_num(j, "initial_const", a->initial_const);
    json_num(j, "lr", a->lr);
    json_num(j, "overshoot", a->overshoot);
    json_num(j, "theta", a->theta);
    json_num(j, "gamma", a->gamma);
    json_num(j, "sparsity", a->sparsity);
    json_int(j, "seed", (long long)a->seed);
    if (a->kind == GB_ATTACK_FAB) {
        json_num(j, "alpha_max", a->alpha_max);
        json_num(j, "eta", a->eta);
        json_num(j, "beta", a->beta);
    }
    json_int(j, "eot_samples", a->eot_samples);
    json_end_object(j);
}

static gb_status write_summary(const char *dir, const char *model, const char *data,
                               const gb_attack *a, const char *target_mode, const run_stats *st,
                               double clean_acc) {
    char path[4200];
    snprintf(path, sizeof path, "%s/summary.json", dir);
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_str(&j, "model", model);
    json_str(&j, "data", data);
    json_int(&j, "n", st->n);
    json_num(&j, "clean_accuracy", clean_acc);
    json_num(&j, "robust_accuracy", st->robust_accuracy);
    json_num(&j, "success_rate", st->success_rate);
    json_num(&j, "mean_linf", st->mean_linf);
    json_num(&j, "mean_l2", st->mean_l2);
    json_num(&j, "mean_l0", st->mean_l0);
    json_num(&j, "median_linf", st->median_linf);
    json_num(&j, "median_l2", st->median_l2);
    json_num(&j, "median_l0", st->median_l0);
    json_int(&j, "grad_evals", st->grad_evals);
    json_num(&j, "grad_evals_per_example", st->n ? (double)st->grad_evals / st->n : 0);
    json_num(&j, "time_s", st->seconds);
    json_num(&j, "images_per_s", st->seconds > 0 ? st->n / st->seconds : 0);
    write_params(&j, a, target_mode);
    json_end_object(&j);
    return gb_atomic_commit(&af);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of v over the examples with sel[i] (NAN when there are none). */
static double median_of(const float *v, const int *sel, int64_t n, float *tmp) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (sel[i]) tmp[m++] = v[i];
    if (m == 0) return NAN;
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_float);
    return m % 2 ? tmp[m / 2] : 0.5 * ((double)tmp[m / 2 - 1] + tmp[m / 2]);
}

/* A bar with throughput and ETA on a terminal; a line per ~10% otherwise
 * when the run is long enough for anyone to wonder. */
static void progress(const char *what, float eps, int64_t done, int64_t total, double t0, int *last_decile) {
    double el = gb_now() - t0, rate = el > 0 ? done / el : 0, eta = rate > 0 ? (total - done) / rate : 0;
    if (isatty(2)) {
        int w = 30, filled = (int)((double)done / total * w);
        fprintf(stderr, "\r\033[K%s eps %g [", what, eps);
        for (int i = 0; i < w; i++) fputc(i < filled ? '=' : (i == filled ? '>' : ' '), stderr);
        fprintf(stderr, "] %lld/%lld  %.1f img/s  ETA %.0f s", (long long)done, (long long)total, rate, eta);
        fflush(stderr);
    } else if (el > 10 && done * 10 / total > *last_decile) {
        *last_decile = (int)(done * 10 / total);
        fprintf(stderr, "%s eps %g: %lld/%lld  %.1f img/s  ETA %.0f s\n", what, eps, (long long)done,
                (long long)total, rate, eta);
    }
}

/* Runs one budget over the whole data set in batches. */
static gb_status run_eps(gb_model *m, gb_oracle *o, const gb_dataset *d, gb_attack a, const int *target,
                         int batch, const char *dir, run_stats *st, figure_pick *fig,
                         gb_attack_result *all) {
    const int64_t N = d->n, per = d->images->size / N;
    gb_status s = gb_attack_result_alloc(all, d->images);
    if (s) return s;
    double t0 = gb_now();
    int decile = 0;
    const uint64_t seed = a.seed;
    for (int64_t start = 0; start < N && !s; start += batch) {
        int64_t n = GB_MIN((int64_t)batch, N - start);
        gb_tensor x = *d->images;
        x.shape[0] = n;
        x.size = n * per;
        x.data = d->images->data + start * per;
        x.cap = 0;
        a.seed = seed + (uint64_t)(start / batch) * 1000003u; /* a stream per batch */
        gb_attack_result r;
        s = o ? gb_attack_run_oracle(&a, o, &x, d->labels + start, target ? target + start : NULL, &r)
              : gb_attack_run(&a, m, &x, d->labels + start, target ? target + start : NULL, &r);
        if (s) break;
        memcpy(all->x_adv->data + start * per, r.x_adv->data, (size_t)(n * per) * sizeof(float));
#define COPY(f) memcpy(all->f + start, r.f, (size_t)n * sizeof *r.f)
        COPY(clean_pred), COPY(adv_pred), COPY(clean_conf), COPY(adv_conf), COPY(linf), COPY(l2),
            COPY(success), COPY(l0), COPY(evals), COPY(target), COPY(cw_const);
#undef COPY
        all->grad_evals += r.grad_evals;
        gb_attack_result_free(&r);
        progress(gb_attack_name(a.kind), a.eps, start + n, N, t0, &decile);
    }
    if (isatty(2)) fputs("\r\033[K", stderr);
    if (!s) {
        memset(st, 0, sizeof *st);
        st->eps = a.eps;
        st->n = N;
        st->seconds = gb_now() - t0;
        st->grad_evals = all->grad_evals;
        int64_t robust = 0, flipped = 0;
        int *sel = malloc((size_t)N * sizeof *sel);
        float *tmp = malloc((size_t)N * sizeof *tmp);
        if (!sel || !tmp) {
            free(sel), free(tmp);
            return gb_error(GB_ERR_NOMEM, "attack: out of memory for statistics");
        }
        for (int64_t i = 0; i < N; i++) {
            int clean_ok = all->clean_pred[i] == d->labels[i];
            st->correct_clean += clean_ok;
            robust += all->adv_pred[i] == d->labels[i];
            /* Success counts among examples the model got right (untargeted) or
             * over all examples (targeted), the usual convention. */
            sel[i] = target ? all->success[i] : (clean_ok && all->success[i]);
            flipped += sel[i];
            st->mean_linf += all->linf[i] / N;
            st->mean_l2 += all->l2[i] / N;
            st->mean_l0 += all->l0[i] / N;
            /* Figure candidate: right when clean, wrong and sure when attacked,
             * the clean confidence lower than the adversarial one. */
            if (clean_ok && all->success[i] && all->adv_conf[i] >= 0.99f && all->clean_conf[i] < all->adv_conf[i]) {
                float score = all->adv_conf[i] - all->clean_conf[i];
                if (!fig->found || (fig->eps == a.eps && score > fig->score)) {
                    fig->found = 1;
                    fig->eps = a.eps;
                    fig->score = score;
                    fig->index = i;
                    fig->clean_pred = all->clean_pred[i];
                    fig->adv_pred = all->adv_pred[i];
                    fig->clean_conf = all->clean_conf[i];
                    fig->adv_conf = all->adv_conf[i];
                    memcpy(fig->clean, d->images->data + i * per, (size_t)per * sizeof(float));
                    memcpy(fig->adv, all->x_adv->data + i * per, (size_t)per * sizeof(float));
                }
            }
        }
        st->median_linf = median_of(all->linf, sel, N, tmp);
        st->median_l2 = median_of(all->l2, sel, N, tmp);
        st->median_l0 = median_of(all->l0, sel, N, tmp);
        free(sel), free(tmp);
        st->robust_accuracy = (double)robust / N;
        int64_t denom = target ? N : st->correct_clean;
        st->success_rate = denom ? (double)flipped / denom : 0;
        char path[4200];
        snprintf(path, sizeof path, "%s/adv.npy", dir);
        s = gb_npy_write(path, all->x_adv);
        if (!s) s = write_examples(dir, d, target, all);
        /* Score-based black-box attacks: success against queries spent. */
        if (!s && (a.kind == GB_ATTACK_SQUARE || a.kind == GB_ATTACK_SIMBA || a.kind == GB_ATTACK_NES))
            s = cli_write_query_curve(dir, gb_attack_name(a.kind), all, d->labels, target,
                                      a.steps > 0 ? a.steps : (a.kind == GB_ATTACK_SQUARE ? 5000 : 10000));
    }
    return s;
}

/* grid.png: the first n examples as columns; rows clean, perturbation
 * (amplified to the full gray range), adversarial; a caption per column. */
static gb_status write_grid(const char *path, const gb_dataset *d, const gb_attack_result *r, int n) {
    const gb_tensor *im = d->images;
    const int c = (int)im->shape[1], h = (int)im->shape[2], w = (int)im->shape[3];
    const int64_t per = (int64_t)c * h * w;
    n = (int)GB_MIN((int64_t)n, r->n);
    const int scale = GB_MAX(1, 56 / GB_MAX(h, 1)), cw = w * scale + 8, ch = h * scale + 4;
    gb_image *g = gb_image_new(GB_MAX(cw * n, 1), ch * 3 + 24, 255, 255, 255);
    float *delta = malloc((size_t)per * sizeof(float));
    if (!g || !delta) {
        gb_image_free(g);
        free(delta);
        return gb_error(GB_ERR_NOMEM, "attack: out of memory for the grid");
    }
    for (int i = 0; i < n; i++) {
        const float *x = im->data + i * per, *a = r->x_adv->data + i * per;
        double amax = 1e-12;
        for (int64_t k = 0; k < per; k++) amax = fmax(amax, fabs((double)a[k] - x[k]));
        for (int64_t k = 0; k < per; k++) delta[k] = (float)((a[k] - x[k]) / amax);
        gb_image_blit(g, x, c, h, w, 0, 1, i * cw + 4, 2, scale);
        gb_image_blit(g, delta, c, h, w, -1, 1, i * cw + 4, ch + 2, scale);
        gb_image_blit(g, a, c, h, w, 0, 1, i * cw + 4, 2 * ch + 2, scale);
        char cap[32];
        snprintf(cap, sizeof cap, "%d>%d", r->clean_pred[i], r->adv_pred[i]);
        uint8_t red = r->success[i] ? 200 : 0;
        gb_image_text(g, i * cw + 4, 3 * ch + 6, cap, 1, red, 0, 0);
    }
    gb_status s = gb_png_write(path, g);
    gb_image_free(g);
    free(delta);
    return s;
}

/* robust_vs_eps.csv and a hand-written SVG line plot of robust accuracy against eps. */
static gb_status write_sweep(const char *out, const gb_attack *a, const run_stats *st, int neps,
                             double clean_acc) {
    char path[4200];
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/robust_vs_eps.csv", out);
    GB_TRY(gb_atomic_open(&af, path));
    fprintf(af.f, "eps,robust_accuracy,success_rate,mean_linf,mean_l2,mean_l0,time_s\n");
    for (int i = 0; i < neps; i++)
        fprintf(af.f, "%g,%.6f,%.6f,%.6f,%.6f,%.3f,%.3f\n", st[i].eps, st[i].robust_accuracy, st[i].success_rate,
                st[i].mean_linf, st[i].mean_l2, st[i].mean_l0, st[i].seconds);
    GB_TRY(gb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/robust_vs_eps.svg", out);
    GB_TRY(gb_atomic_open(&af, path));
    double x[MAX_EPS + 1] = {0}, y[MAX_EPS + 1] = {clean_acc};
    for (int i = 0; i < neps && i < MAX_EPS; i++) x[i + 1] = st[i].eps, y[i + 1] = st[i].robust_accuracy;
    char title[96], label[32];
    snprintf(title, sizeof title, "%s (%s): robust accuracy vs eps", gb_attack_name(a->kind), gb_norm_name(a->norm));
    snprintf(label, sizeof label, "clean %.3f", clean_acc);
    gb_plot_series s = {gb_attack_name(a->kind), x, y, GB_MIN(neps, MAX_EPS) + 1};
    gb_line_plot lp = {title, "eps", "robust accuracy", &s, 1, 0, 0, 0, 1, clean_acc, label, 0, 0};
    gb_svg_line_plot(af.f, &lp);
    return gb_atomic_commit(&af);
}

#define UNSET_F NAN
#define SET_F(field, v) \
    if (!isnan(v)) a.field = (v)
#define SET_I(field, v) \
    if ((v) >= 0) a.field = (v)

int cmd_attack(int argc, char **argv) {
    const char *model = NULL, *data = "fashion-mnist:test", *attack = "fgsm", *eps_list = NULL;
    const char *out = NULL, *target_mode = "next", *norm_s = NULL, *loss_s = NULL;
    int targeted = 0, batch = 256, fixed_target = -1, grid = 0;
    int steps = -1, restarts = -1, binary_steps = -1, early_stop = 0, no_random_start = 0, random_start = 0;
    int target_classes = -1, eot = -1;
    float step_size = UNSET_F, momentum = UNSET_F, kappa = UNSET_F, initial_const = UNSET_F, lr = UNSET_F;
    float overshoot = UNSET_F, theta = UNSET_F, gamma = UNSET_F, sparsity = UNSET_F;
    uint64_t seed = 1;
    const char *oracle = NULL, *basis_s = NULL;
    int oracle_labels = 0, queries = -1, samples = -1;
    float di_prob = UNSET_F;
    int ti_kernel = -1;
    float oracle_timeout = 60, p_init = UNSET_F, sigma = UNSET_F, freq_ratio = UNSET_F;
    cli_model_opts mo = {0};
    cli_opt opts[] = {
        {"model", OPT_STR, &model, "ONNX model file (required)"},
        {"data", OPT_STR, &data, "data set: fashion-mnist:test[:N], DIR:split, or images.npy,labels.npy"},
        {"attack", OPT_STR, &attack, "fgsm fgm bim ill pgd mifgsm cw-l2 cw-linf deepfool jsma apgd fab (default fgsm)"},
        {"eps", OPT_STR, &eps_list, "budget(s) in pixel units of --norm, comma-separated (default 0.1; fab, boundary, hsj: "
                                          "0 = minimal-norm mode)"},
        {"norm", OPT_STR, &norm_s, "linf, l2 or l1 (pgd, fab), linf or l2 (apgd, deepfool)"},
        {"loss", OPT_STR, &loss_s, "objective of gradient attacks: ce, cw or dlr"},
        {"steps", OPT_INT, &steps, "iterations (default: the attack's own)"},
        {"step-size", OPT_FLOAT, &step_size, "step alpha (default: the attack's own rule)"},
        {"restarts", OPT_INT, &restarts, "pgd/apgd random restarts, best kept per example"},
        {"random-start", OPT_FLAG, &random_start, "start inside the ball at random"},
        {"no-random-start", OPT_FLAG, &no_random_start, "pgd: start at the clean image"},
        {"early-stop", OPT_FLAG, &early_stop, "iterative attacks: stop an example at its first success"},
        {"momentum", OPT_FLOAT, &momentum, "mifgsm decay mu (1.0), apgd momentum (0.75)"},
        {"kappa", OPT_FLOAT, &kappa, "C&W confidence margin (0)"},
        {"binary-steps", OPT_INT, &binary_steps, "cw-l2 binary search steps over c (9)"},
        {"initial-const", OPT_FLOAT, &initial_const, "cw-l2 first c (1e-3)"},
        {"lr", OPT_FLOAT, &lr, "cw-l2 Adam learning rate (1e-2)"},
        {"overshoot", OPT_FLOAT, &overshoot, "deepfool overshoot (0.02)"},
        {"theta", OPT_FLOAT, &theta, "jsma change per feature (+1)"},
        {"gamma", OPT_FLOAT, &gamma, "jsma largest fraction of features changed (0.1)"},
        {"sparsity", OPT_FLOAT, &sparsity, "pgd l1: percentile q of |grad| that steps (0.99)"},
        {"eot", OPT_INT, &eot, "gradient attacks: average the gradient over N passes (EOT, for a random --defense)"},
        {"targeted", OPT_FLAG, &targeted, "aim for a target class instead of any wrong class"},
        {"target", OPT_STR, &target_mode, "with --targeted: next (y+1), random, ll (least likely), a class number, "
                                          "or top (apgd, fab: each of the highest wrong clean logits in turn, "
                                          "success = misclassified; APGD-T / FAB-T)"},
        {"target-classes", OPT_INT, &target_classes, "with --target top: how many wrong classes (9)"},
        {"batch", OPT_INT, &batch, "batch size (default 256)"},
        {"seed", OPT_U64, &seed, "seed for random targets and random starts (default 1)"},
        {"grid", OPT_INT, &grid, "write grid.png with the first N examples (clean, perturbation, adversarial)"},
        {"out", OPT_STR, &out, "output directory (required)"},
        {"oracle", OPT_STR, &oracle, "black-box target: a command (run with /bin/sh -c) answering .npy batches "
                                     "(README \"Black-box attacks\"); replaces --model"},
        {"oracle-labels", OPT_FLAG, &oracle_labels, "the oracle answers top labels only"},
        {"oracle-timeout", OPT_FLOAT, &oracle_timeout, "seconds the oracle may take per batch (60)"},
        {"queries", OPT_INT, &queries, "black-box attacks: query budget per image (square, boundary, hsj 5000; simba/nes 10000)"},
        {"di", OPT_FLOAT, &di_prob, "iterative attacks: input diversity, probability of a random resize-and-pad per step"},
        {"ti", OPT_INT, &ti_kernel, "iterative attacks: translation invariance, Gaussian kernel size (odd; 5 for 28x28)"},
        {"p-init", OPT_FLOAT, &p_init, "square: fraction of the image the first squares cover (0.8)"},
        {"basis", OPT_STR, &basis_s, "simba: dct (low frequencies first) or pixel"},
        {"freq-ratio", OPT_FLOAT, &freq_ratio, "simba dct: side of the first low-frequency block / H (0.25)"},
        {"sigma", OPT_FLOAT, &sigma, "nes: standard deviation of the probes (0.001)"},
        {"samples", OPT_INT, &samples, "nes: probes per gradient estimate (100)"},
        CLI_MODEL_OPTS(mo),
        {0}};
    int r = cli_parse("attack", "Runs an adversarial attack over a data set and writes the results.",
                      argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if ((!model && !oracle) || !out) {
        fprintf(stderr, "gibbon attack: --model (or --oracle) and --out are required\n");
        return 2;
    }
    if (model && oracle) {
        fprintf(stderr, "gibbon attack: give --model or --oracle, not both\n");
        return 2;
    }
    if (oracle_labels && !oracle) {
        fprintf(stderr, "gibbon attack: --oracle-labels needs --oracle\n");
        return 2;
    }
    gb_attack_kind kind;
    if (gb_attack_parse(attack, &kind)) {
        fprintf(stderr, "gibbon attack: --attack: %s\n", gb_last_error());
        return 2;
    }
    gb_attack a = gb_attack_default_params(kind);
    if (norm_s && gb_norm_parse(norm_s, &a.norm)) {
        fprintf(stderr, "gibbon attack: --norm: %s\n", gb_last_error());
        return 2;
    }
    if (loss_s && gb_loss_parse(loss_s, &a.loss)) {
        fprintf(stderr, "gibbon attack: --loss: %s\n", gb_last_error());
        return 2;
    }
    SET_I(steps, steps);
    SET_I(steps, queries); /* black-box attacks count queries in steps */
    SET_F(di_prob, di_prob);
    SET_I(ti_kernel, ti_kernel);
    SET_I(samples, samples);
    SET_F(p_init, p_init);
    SET_F(sigma, sigma);
    SET_F(freq_ratio, freq_ratio);
    if (basis_s && strcmp(basis_s, "dct") && strcmp(basis_s, "pixel")) {
        fprintf(stderr, "gibbon attack: --basis: '%s' is not dct or pixel\n", basis_s);
        return 2;
    }
    if (basis_s) a.basis = strcmp(basis_s, "dct") == 0 ? GB_BASIS_DCT : GB_BASIS_PIXEL;
    SET_I(restarts, restarts);
    SET_I(binary_steps, binary_steps);
    SET_I(n_target_classes, target_classes);
    SET_I(eot_samples, eot);
    SET_F(step_size, step_size);
    SET_F(momentum, momentum);
    SET_F(kappa, kappa);
    SET_F(initial_const, initial_const);
    SET_F(lr, lr);
    SET_F(overshoot, overshoot);
    SET_F(theta, theta);
    SET_F(gamma, gamma);
    SET_F(sparsity, sparsity);
    if (random_start) a.random_start = 1;
    if (no_random_start) a.random_start = 0;
    if (early_stop) a.early_stop = 1;
    a.seed = seed;
    a.targeted = targeted;
    /* FAB, Boundary and HSJ find minimal perturbations: without a budget they report them. */
    if (!eps_list)
        eps_list = kind == GB_ATTACK_FAB || kind == GB_ATTACK_BOUNDARY || kind == GB_ATTACK_HSJ ? "0" : "0.1";
    float eps[MAX_EPS];
    int neps = cli_parse_floats(eps_list, eps, MAX_EPS);
    if (neps < 1) {
        fprintf(stderr, "gibbon attack: --eps: '%s' is not a comma-separated list of numbers\n", eps_list);
        return 2;
    }
    for (int i = 0; i < neps; i++)
        if (!(eps[i] >= 0 && (eps[i] <= 1 || a.norm != GB_NORM_LINF))) {
            fprintf(stderr, "gibbon attack: --eps: %g is outside [0, 1]%s\n", eps[i],
                    a.norm == GB_NORM_LINF ? " (an L-inf budget)" : "");
            return 2;
        }
    if (batch < 1) {
        fprintf(stderr, "gibbon attack: --batch must be positive\n");
        return 2;
    }
    gb_target_mode tmode = GB_TARGET_NEXT;
    const int top = targeted && strcmp(target_mode, "top") == 0; /* the attack picks: target stays NULL */
    if (top && kind != GB_ATTACK_APGD && kind != GB_ATTACK_FAB) {
        fprintf(stderr, "gibbon attack: --target top: only apgd and fab aim at the top classes in turn\n");
        return 2;
    }
    if (top && a.n_target_classes < 1) {
        fprintf(stderr, "gibbon attack: --target-classes must be at least 1\n");
        return 2;
    }
    if (top) tmode = GB_TARGET_NEXT;
    else if (strcmp(target_mode, "next") == 0) tmode = GB_TARGET_NEXT;
    else if (strcmp(target_mode, "random") == 0) tmode = GB_TARGET_RANDOM;
    else if (strcmp(target_mode, "ll") == 0 || strcmp(target_mode, "least-likely") == 0) tmode = GB_TARGET_LEAST_LIKELY;
    else {
        char *end;
        long v = strtol(target_mode, &end, 10);
        if (end == target_mode || *end || v < 0 || v > 1000000) {
            fprintf(stderr, "gibbon attack: --target: '%s' is not next, random, ll, top or a class number\n", target_mode);
            return 2;
        }
        tmode = GB_TARGET_FIXED;
        fixed_target = (int)v;
    }
    if (kind == GB_ATTACK_ILL && !targeted) {
        /* ILL is targeted by definition: at the least-likely class. */
        a.targeted = targeted = 1;
        tmode = GB_TARGET_LEAST_LIKELY;
        target_mode = "ll";
    }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon attack: --out: cannot create directory '%s'\n", out);
        return 1;
    }
    gb_model *m = NULL;
    gb_oracle *orc = NULL;
    gb_dataset *d = NULL;
    int *target = NULL, rc = 0;
    figure_pick fig = {0};
    run_stats stats[MAX_EPS];
    gb_attack_result all = {0};
    if (oracle) {
        if (gb_oracle_spawn(oracle, oracle_labels ? GB_ORACLE_LABELS : GB_ORACLE_SCORES, oracle_timeout, &orc))
            return cli_fail("--oracle");
        model = oracle; /* named in the summaries */
    } else if ((r = cli_load_model("attack", model, &mo, &m))) {
        return r;
    }
    if (gb_dataset_load(data, &d)) {
        rc = cli_fail("");
        goto done;
    }
    if (m && cli_check_images(m, d->images)) {
        rc = 1;
        goto done;
    }
    if (orc && targeted) {
        target = malloc((size_t)d->n * sizeof *target);
        if (top || !target) {
            fprintf(stderr, "gibbon attack: --target top needs --model\n");
            rc = 2;
            goto done;
        }
        if ((rc = cli_query_targets(d, tmode, fixed_target, seed, target))) goto done;
    }
    int K = m ? gb_model_num_classes(m) : d->num_classes;
    if (m && targeted && !top) {
        if (tmode == GB_TARGET_FIXED && K > 0 && fixed_target >= K) {
            fprintf(stderr, "gibbon attack: --target %d: the model has %d classes\n", fixed_target, K);
            rc = 2;
            goto done;
        }
        target = malloc((size_t)d->n * sizeof *target);
        gb_rng rng;
        gb_rng_seed(&rng, seed, 5);
        const int64_t per1 = d->images->size / d->n;
        for (int64_t start = 0; start < d->n && target; start += batch) {
            gb_tensor x = *d->images;
            x.shape[0] = GB_MIN((int64_t)batch, d->n - start);
            x.size = x.shape[0] * per1;
            x.data = d->images->data + start * per1;
            x.cap = 0;
            if (gb_attack_targets(m, &x, d->labels + start, tmode, fixed_target, &rng, target + start)) {
                rc = cli_fail("--target");
                goto done;
            }
        }
    }
    int64_t per = d->images->size / d->n;
    fig.clean = malloc((size_t)per * sizeof(float));
    fig.adv = malloc((size_t)per * sizeof(float));
    double t0 = gb_now();
    float clean_acc = NAN;
    if (m && gb_evaluate(m, d, batch, &clean_acc, NULL)) {
        rc = cli_fail("");
        goto done;
    }
    if (m) printf("%s on %s: clean accuracy %.4f (%lld examples)\n", model, data, clean_acc, (long long)d->n);
    for (int i = 0; i < neps; i++) {
        char dir[4096];
        if (neps == 1) snprintf(dir, sizeof dir, "%s", out);
        else snprintf(dir, sizeof dir, "%s/eps_%g", out, eps[i]);
        if (cli_mkdirs(dir)) {
            fprintf(stderr, "gibbon attack: cannot create directory '%s'\n", dir);
            rc = 1;
            goto done;
        }
        a.eps = eps[i];
        gb_attack_result_free(&all);
        if (run_eps(m, orc, d, a, target, batch, dir, &stats[i], &fig, &all)) {
            rc = cli_fail("");
            goto done;
        }
        if (orc && isnan(clean_acc)) { /* the oracle's answers about the clean images */
            clean_acc = d->n ? (float)stats[i].correct_clean / (float)d->n : 0;
            printf("oracle on %s: clean accuracy %.4f (%lld examples, %lld queries so far)\n", data, clean_acc,
                   (long long)d->n, (long long)gb_oracle_queries(orc));
        }
        if (write_summary(dir, model, data, &a, target_mode, &stats[i], clean_acc)) {
            rc = cli_fail("");
            goto done;
        }
        if (grid > 0) {
            char path[4200];
            snprintf(path, sizeof path, "%s/grid.png", dir);
            if (write_grid(path, d, &all, grid)) {
                rc = cli_fail("");
                goto done;
            }
        }
        printf("%s eps %-6g robust accuracy %.4f  success rate %.4f  mean L2 %.4f  (%.1f s, %.1f img/s)\n", attack,
               eps[i], stats[i].robust_accuracy, stats[i].success_rate, stats[i].mean_l2, stats[i].seconds,
               stats[i].seconds > 0 ? d->n / stats[i].seconds : 0);
    }
    if (neps > 1) {
        char path[4200];
        snprintf(path, sizeof path, "%s/summary.json", out);
        gb_atomic_file af;
        if (gb_atomic_open(&af, path)) {
            rc = cli_fail("");
            goto done;
        }
        json j = {af.f, 0, {1}};
        json_begin_object(&j, NULL);
        json_str(&j, "model", model);
        json_str(&j, "data", data);
        json_int(&j, "n", d->n);
        json_num(&j, "clean_accuracy", clean_acc);
        json_num(&j, "time_s", gb_now() - t0);
        json_begin_array(&j, "runs");
        for (int i = 0; i < neps; i++) {
            json_begin_object(&j, NULL);
            json_num(&j, "eps", stats[i].eps);
            json_num(&j, "robust_accuracy", stats[i].robust_accuracy);
            json_num(&j, "success_rate", stats[i].success_rate);
            json_num(&j, "mean_linf", stats[i].mean_linf);
            json_num(&j, "mean_l2", stats[i].mean_l2);
            json_num(&j, "mean_l0", stats[i].mean_l0);
            json_num(&j, "median_l2", stats[i].median_l2);
            json_int(&j, "grad_evals", stats[i].grad_evals);
            json_num(&j, "time_s", stats[i].seconds);
            char sub[64];
            snprintf(sub, sizeof sub, "eps_%g", eps[i]);
            json_str(&j, "dir", sub);
            json_end_object(&j);
        }
        json_end_array(&j);
        write_params(&j, &a, target_mode);
        json_end_object(&j);
        if (gb_atomic_commit(&af) || write_sweep(out, &a, stats, neps, clean_acc)) {
            rc = cli_fail("");
            goto done;
        }
        printf("sweep: %s/robust_vs_eps.csv, %s/robust_vs_eps.svg\n", out, out);
    }
    if (fig.found) {
        char path[4200], title[256], b1[32], b2[32];
        snprintf(path, sizeof path, "%s/figure.png", out);
        snprintf(title, sizeof title, "%s, eps = %g (test image %lld)", gb_attack_name(kind), fig.eps,
                 (long long)fig.index);
        gb_figure_panel clean = {fig.clean, cli_class_name(d, fig.clean_pred, b1, 32), fig.clean_conf};
        gb_figure_panel adv = {fig.adv, cli_class_name(d, fig.adv_pred, b2, 32), fig.adv_conf};
        const gb_tensor *im = d->images;
        /* The figure's perturbation panel is scaled by eps; unbounded attacks use their largest change. */
        float feps = fig.eps;
        if (a.norm != GB_NORM_LINF || kind == GB_ATTACK_CW_L2 || kind == GB_ATTACK_DEEPFOOL || kind == GB_ATTACK_JSMA ||
            fig.eps <= 0) {
            feps = 0;
            for (int64_t k = 0; k < per; k++) feps = fmaxf(feps, fabsf(fig.adv[k] - fig.clean[k]));
            if (feps <= 0) feps = 1;
        }
        if (gb_figure_adversarial(path, (int)im->shape[1], (int)im->shape[2], (int)im->shape[3], clean,
                                  adv, feps, title)) {
            rc = cli_fail("");
            goto done;
        }
        printf("figure: %s (\"%s\" %.1f%% -> \"%s\" %.1f%% at eps %g)\n", path, clean.label,
               100 * clean.confidence, adv.label, 100 * adv.confidence, fig.eps);
    } else {
        printf("figure: no example went from right to wrong with >= 99%% confidence; none written\n");
    }
done:
    gb_attack_result_free(&all);
    free(target);
    free(fig.clean);
    free(fig.adv);
    gb_dataset_free(d);
    gb_model_free(m);
    gb_oracle_free(orc);
    return rc;
}
