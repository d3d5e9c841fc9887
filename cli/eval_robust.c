/* eval_robust.c — `gibbon eval --eps ...`: the AutoAttack ensemble over the
 * first n examples of a data set at one or more budgets, resumable.
 *
 * Output, under --out DIR:
 *   eval.json                 RobustBench-style summary of every budget, flags
 *   eps_<e>/examples.csv      one row per example: predictions, who broke it, norms
 *   eps_<e>/x_adv.npy         the adversarial (or clean, if robust) images
 *   eps_<e>/state/            per-batch results (resume state) and config.txt
 * A batch's results are saved as soon as it finishes; running the same
 * command again continues where it stopped. Randomness is seeded by the
 * index of each batch's first example, so results do not depend on
 * interruptions. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dist.h"
#include "eval_dist.h"
#include "eval_robust.h"
#include "internal.h"

#define MAX_EPS 32

typedef struct run {
    float eps;
    char dir[64];
    int complete;
    int64_t done; /* examples finished */
    gb_aa_stats stats[GB_AA_MAX_ATTACKS];
    double robust_acc;
    int64_t robust, correct;
    int slot; /* dist_next counter of its chunks */
} run;

/* The configuration a state directory was made with: resuming with other
 * settings would silently mix two evaluations. */
static void config_text(const eval_robust_opts *o, const gb_autoattack *p, const gb_aa_member *plan, int count,
                        int64_t n, char *buf, size_t len) {
    struct stat st;
    long long size = stat(o->model, &st) == 0 ? (long long)st.st_size : -1;
    long long mtime = size >= 0 ? (long long)st.st_mtime : 0;
    int k = snprintf(buf, len,
                     "model %s\nmodel_bytes %lld\nmodel_mtime %lld\ndata %s\nn %lld\nbatch %d\nnorm %s\neps %.9g\n"
                     "version %s\niters %d\ntargets %d\nqueries %d\neot %d\nseed %llu\nattacks",
                     o->model, size, mtime, o->data, (long long)n, o->batch, gb_norm_name(p->norm),
                     (double)p->eps, gb_aa_version_name(p->version), p->iters, p->n_target_classes,
                     p->square_queries, p->eot_iter, (unsigned long long)p->seed);
    for (int a = 0; a < count && k > 0 && (size_t)k < len; a++)
        k += snprintf(buf + k, len - (size_t)k, " %s", plan[a].name);
    if (k > 0 && (size_t)k < len) snprintf(buf + k, len - (size_t)k, "\n");
}

static int write_text(const char *path, const char *text) {
    gb_atomic_file af;
    if (gb_atomic_open(&af, path)) return cli_fail("");
    fputs(text, af.f);
    if (gb_atomic_commit(&af)) return cli_fail("");
    return 0;
}

/* Prepares eps_<e>/state: a fresh one, or the same configuration to resume. */
static int prepare_state(const char *state, const char *config, int fresh) {
    if (cli_mkdirs(state)) {
        fprintf(stderr, "gibbon eval: %s: cannot create the directory: %s\n", state, strerror(errno));
        return 1;
    }
    char path[4400], old[4096];
    snprintf(path, sizeof path, "%s/config.txt", state);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(old, 1, sizeof old - 1, f);
        old[n] = 0;
        fclose(f);
        if (strcmp(old, config) != 0 && !fresh) {
            fprintf(stderr,
                    "gibbon eval: %s was made by an evaluation with other settings; resuming would mix them.\n"
                    "  Use another --out, or --fresh to discard it. Saved settings:\n%s",
                    path, old);
            return 2;
        }
        if (strcmp(old, config) != 0 || fresh) {
            /* Discard the old chunks: their names would collide with the new ones. */
            for (int c = 0;; c++) {
                char chunk[4400];
                snprintf(chunk, sizeof chunk, "%s/chunk_%06d.bin", state, c);
                if (unlink(chunk) != 0) break;
            }
        }
    }
    return write_text(path, config);
}

static int write_outputs(const char *dir, const gb_dataset *d, int64_t n, const gb_tensor *x_adv,
                         const gb_aa_example *ex, const gb_aa_member *plan) {
    char path[4300], b[3][32];
    snprintf(path, sizeof path, "%s/x_adv.npy", dir);
    if (gb_npy_write(path, x_adv)) return cli_fail("");
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/examples.csv", dir);
    if (gb_atomic_open(&af, path)) return cli_fail("");
    fprintf(af.f, "index,label,clean_pred,clean_conf,adv_pred,adv_conf,robust,broken_by,linf,l2,label_name,adv_name\n");
    for (int64_t i = 0; i < n; i++) {
        const gb_aa_example *e = &ex[i];
        const char *by = e->broken_by >= 0 ? plan[e->broken_by].name : e->broken_by == -2 ? "clean" : "";
        fprintf(af.f, "%lld,%d,%d,%.6f,%d,%.6f,%d,%s,%.6f,%.6f,\"%s\",\"%s\"\n", (long long)i, d->labels[i],
                e->clean_pred, (double)e->clean_conf, e->adv_pred, (double)e->adv_conf, e->broken_by == -1, by,
                (double)e->linf, (double)e->l2, cli_class_name(d, d->labels[i], b[0], 32),
                cli_class_name(d, e->adv_pred, b[1], 32));
    }
    if (gb_atomic_commit(&af)) return cli_fail("");
    return 0;
}

/* Runs (or resumes) one budget. Returns an exit code; sets r->complete. */
static int run_eps(const eval_robust_opts *o, gb_model *m, const gb_dataset *d, int64_t n, const gb_autoattack *p,
                   run *r, double deadline, int *computed) {
    gb_aa_member plan[GB_AA_MAX_ATTACKS];
    int count;
    if (gb_autoattack_plan(p, plan, &count)) return cli_fail("");
    char dir[4200], state[4300], config[2048];
    snprintf(dir, sizeof dir, "%s/%s", o->out, r->dir);
    snprintf(state, sizeof state, "%s/state", dir);
    config_text(o, p, plan, count, n, config, sizeof config);
    int rc = dist_rank() == 0 ? prepare_state(state, config, o->fresh) : 0;
    if (rc && dist_size() > 1) dist_abort(rc);
    if (rc) return rc;
    const int collect = dist_size() > 1; /* the ranks compute; rank 0 then only reads chunk files */
    if (collect) {
        dist_barrier(); /* the state directory is ready */
        eval_dist_chunks(p, count, m, d, n, o->batch, state, r->slot, deadline, computed);
        if (dist_rank() != 0) return 0;
    }

    const int64_t D = d->images->size / d->n;
    int64_t shape[4] = {n, d->images->shape[1], d->images->shape[2], d->images->shape[3]};
    gb_tensor *x_adv = gb_tensor_new(4, shape);
    gb_aa_example *ex = calloc((size_t)(n ? n : 1), sizeof *ex);
    if (!x_adv || !ex) {
        fprintf(stderr, "gibbon eval: out of memory for %lld examples\n", (long long)n);
        gb_tensor_free(x_adv);
        free(ex);
        return 1;
    }
    memset(r->stats, 0, sizeof r->stats);
    r->done = 0;
    const int64_t chunks = (n + o->batch - 1) / o->batch;
    int64_t resumed = 0;
    double t_start = gb_now();
    for (int64_t c = 0; c < chunks && !rc; c++) {
        const int64_t start = c * o->batch, cnt = GB_MIN((int64_t)o->batch, n - start);
        char path[4400];
        snprintf(path, sizeof path, "%s/chunk_%06lld.bin", state, (long long)c);
        gb_aa_stats st[GB_AA_MAX_ATTACKS];
        gb_status s = gb_aa_chunk_read(path, start, cnt, D, count, x_adv->data + start * D, ex + start, st);
        if (s == GB_ERR_FORMAT) fprintf(stderr, "gibbon eval: %s; recomputing it\n", gb_last_error());
        if (s) {
            /* Past the budget, stop before the next batch; but always
             * finish one per invocation, so repeated runs make progress. */
            if (collect || (*computed && gb_now() > deadline)) {
                fprintf(stderr, "gibbon eval: time budget reached at eps %g after %lld of %lld examples; run the "
                                "same command again to continue\n",
                        (double)r->eps, (long long)start, (long long)n);
                break;
            }
            if (eval_chunk_compute(p, count, m, d, start, cnt, x_adv->data + start * D, ex + start, st, path)) {
                rc = cli_fail("");
                break;
            }
            ++*computed;
        } else {
            resumed += cnt;
        }
        for (int a = 0; a < count; a++) {
            r->stats[a].evaluated += st[a].evaluated;
            r->stats[a].newly_broken += st[a].newly_broken;
            r->stats[a].grad_evals += st[a].grad_evals;
            r->stats[a].queries += st[a].queries;
            r->stats[a].time_s += st[a].time_s;
        }
        r->done = start + cnt;
        int64_t rob = 0;
        for (int64_t i = 0; i < r->done; i++) rob += ex[i].broken_by == -1;
        double el = gb_now() - t_start, per = r->done > resumed ? el / (double)(r->done - resumed) : 0;
        fprintf(stderr, "eps %-8g %6lld/%lld examples  robust %5.1f%%  %s%.0f s left\n", (double)r->eps,
                (long long)r->done, (long long)n, 100.0 * (double)rob / (double)r->done,
                resumed == r->done ? "(resumed) " : "", per * (double)(n - r->done));
    }
    r->complete = !rc && r->done == n;
    r->robust = r->correct = 0;
    for (int64_t i = 0; i < r->done; i++) {
        r->robust += ex[i].broken_by == -1;
        r->correct += ex[i].broken_by != -2;
    }
    r->robust_acc = r->done ? (double)r->robust / (double)r->done : 0;
    if (r->complete) rc = write_outputs(dir, d, n, x_adv, ex, plan);
    gb_tensor_free(x_adv);
    free(ex);
    return rc;
}

/* The command line, shell-quoted, so the report can show how to reproduce. */
static void command_line(int argc, char **argv, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "gibbon");
    for (int i = 0; i < argc && k < len; i++) {
        const char *a = argv[i];
        int plain = *a != 0;
        for (const char *c = a; *c; c++)
            plain &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                     strchr("-_./:,=+@%", *c) != NULL;
        if (plain) {
            k += (size_t)snprintf(buf + k, len - k, " %s", a);
            continue;
        }
        k += (size_t)snprintf(buf + k, len - k, " '");
        for (const char *c = a; *c && k < len; c++)
            k += (size_t)snprintf(buf + k, len - k, *c == '\'' ? "'\\''" : "%c", *c);
        if (k < len) k += (size_t)snprintf(buf + k, len - k, "'");
    }
}

int eval_robust(const eval_robust_opts *o, gb_model *m, const gb_dataset *d) {
    dist_init(); /* under mpirun: chunks shared by the ranks, rank 0 writes the outputs */
    const int root = dist_rank() == 0;
    float eps[MAX_EPS];
    int neps = cli_parse_floats(o->eps, eps, MAX_EPS);
    if (neps < 1) {
        fprintf(stderr, "gibbon eval: --eps: '%s' is not a list of at most %d numbers\n", o->eps, MAX_EPS);
        return 2;
    }
    gb_autoattack base = gb_autoattack_default_params();
    if (gb_norm_parse(o->norm, &base.norm) || (base.norm != GB_NORM_LINF && base.norm != GB_NORM_L2 &&
                                               base.norm != GB_NORM_L1)) {
        fprintf(stderr, "gibbon eval: --norm: '%s' is not linf, l2 or l1\n", o->norm);
        return 2;
    }
    if (gb_aa_version_parse(o->version, &base.version)) {
        fprintf(stderr, "gibbon eval: --version: %s\n", gb_last_error());
        return 2;
    }
    base.iters = o->iters;
    base.n_target_classes = o->targets;
    base.square_queries = o->queries;
    base.attacks = o->attacks;
    base.seed = o->seed;
    run *runs = calloc((size_t)neps, sizeof *runs);
    if (!runs) return cli_fail("out of memory");
    for (int e = 0; e < neps; e++) {
        gb_autoattack p = base;
        p.eps = eps[e];
        gb_aa_member plan[GB_AA_MAX_ATTACKS];
        int count;
        if (!(eps[e] > 0) || (base.norm == GB_NORM_LINF && eps[e] > 1)) {
            fprintf(stderr, "gibbon eval: --eps: %g outside (0, %s]\n", (double)eps[e],
                    base.norm == GB_NORM_LINF ? "1" : "inf");
            free(runs);
            return 2;
        }
        if (gb_autoattack_plan(&p, plan, &count)) {
            fprintf(stderr, "gibbon eval: %s\n", gb_last_error());
            free(runs);
            return 2;
        }
        runs[e].eps = eps[e];
        runs[e].slot = e;
        snprintf(runs[e].dir, sizeof runs[e].dir, "eps_%g", (double)eps[e]);
    }
    const int64_t n = o->n > 0 && o->n < d->n ? o->n : d->n;
    if (cli_mkdirs(o->out)) {
        fprintf(stderr, "gibbon eval: --out %s: cannot create the directory: %s\n", o->out, strerror(errno));
        free(runs);
        return 1;
    }
    /* Checks that catch evaluations gradients cannot be trusted for. */
    gb_model_checks chk;
    gb_tensor xc = *d->images;
    const int64_t D = d->images->size / d->n, nc = GB_MIN(n, (int64_t)o->batch);
    xc.shape[0] = nc;
    xc.size = nc * D;
    xc.cap = 0;
    if (root && gb_model_check(m, &xc, d->labels, &chk)) {
        free(runs);
        if (dist_size() > 1) dist_abort(cli_fail("model checks"));
        return cli_fail("model checks");
    }
    float clean_acc = 0;
    int rc = 0;
    if (root) {
        gb_dataset sub = *d;
        gb_tensor xi = *d->images;
        xi.shape[0] = n;
        xi.size = n * D;
        xi.cap = 0;
        sub.images = &xi;
        sub.n = n;
        if (gb_evaluate(m, &sub, o->batch, &clean_acc, NULL)) rc = cli_fail("");
        if (rc && dist_size() > 1) dist_abort(rc);
    }
    if (!rc && root) printf("clean accuracy %.4f on %lld examples; ensemble:", (double)clean_acc, (long long)n);
    gb_aa_member plan[GB_AA_MAX_ATTACKS];
    int count = 0;
    {
        gb_autoattack p = base;
        p.eps = eps[0];
        gb_autoattack_plan(&p, plan, &count);
        for (int a = 0; a < count && !rc && root; a++) printf(" %s", plan[a].name);
        if (!rc && root) printf(" (%s, %s)\n", gb_aa_version_name(base.version), gb_norm_name(base.norm));
    }
    const double t0 = gb_now(), deadline = o->time_budget > 0 ? t0 + o->time_budget : INFINITY;
    int all_complete = 1, computed = 0;
    for (int e = 0; e < neps && !rc; e++) {
        gb_autoattack p = base;
        p.eps = eps[e];
        rc = run_eps(o, m, d, n, &p, &runs[e], deadline, &computed);
        all_complete &= runs[e].complete;
    }
    if (rc || !root) {
        free(runs);
        return rc;
    }

    /* Flags: the symptoms Croce & Hein (2020, sec. 5) and Athalye et al. (2018) list. */
    gb_aa_flag flags[16];
    gb_aa_budget budgets[MAX_EPS];
    for (int e = 0; e < neps; e++)
        budgets[e] = (gb_aa_budget){runs[e].eps, runs[e].robust_acc, runs[e].complete, runs[e].stats};
    const int nf = gb_aa_flags(&chk, plan, count, budgets, neps, flags, 16);

    /* eval.json */
    char path[4200], cmd[8192];
    command_line(o->argc, o->argv, cmd, sizeof cmd);
    snprintf(path, sizeof path, "%s/eval.json", o->out);
    gb_atomic_file af;
    if (gb_atomic_open(&af, path)) {
        free(runs);
        return cli_fail("");
    }
    json j = {af.f, 0, {1}};
    json_begin_object(&j, NULL);
    json_begin_object(&j, "gibbon");
    json_str(&j, "version", gb_version());
    json_end_object(&j);
    json_str(&j, "command", cmd);
    json_str(&j, "model", o->model);
    json_str(&j, "data", o->data);
    json_int(&j, "n", n);
    json_int(&j, "batch", o->batch);
    json_int(&j, "seed", (long long)o->seed);
    const char *tm = base.norm == GB_NORM_LINF ? "Linf" : base.norm == GB_NORM_L2 ? "L2" : "L1";
    json_str(&j, "threat_model", tm);
    json_str(&j, "norm", gb_norm_name(base.norm));
    json_str(&j, "version", gb_aa_version_name(base.version));
    if (d->class_names) {
        json_begin_array(&j, "classes");
        for (int k = 0; k < d->num_classes; k++) json_str(&j, NULL, d->class_names[k]);
        json_end_array(&j);
    }
    json_num(&j, "clean_accuracy", clean_acc);
    json_bool(&j, "complete", all_complete);
    json_begin_array(&j, "runs");
    for (int e = 0; e < neps; e++) {
        const run *r = &runs[e];
        json_begin_object(&j, NULL);
        json_num(&j, "eps", r->eps);
        json_str(&j, "dir", r->dir);
        json_int(&j, "n", r->done);
        json_num(&j, "robust_accuracy", r->robust_acc);
        json_bool(&j, "complete", r->complete);
        double t = 0;
        for (int a = 0; a < count; a++) t += r->stats[a].time_s;
        json_num(&j, "time_s", t);
        json_begin_array(&j, "attacks");
        int64_t left = r->correct; /* robust after each attack, cumulatively */
        for (int a = 0; a < count; a++) {
            const gb_aa_stats *st = &r->stats[a];
            left -= st->newly_broken;
            json_begin_object(&j, NULL);
            json_str(&j, "name", plan[a].name);
            json_num(&j, "robust_accuracy", r->done ? (double)left / (double)r->done : 0);
            json_int(&j, "newly_broken", st->newly_broken);
            json_int(&j, "evaluated", st->evaluated);
            json_num(&j, "time_s", st->time_s);
            json_int(&j, "grad_evals", st->grad_evals);
            json_int(&j, "queries", st->queries);
            json_num(&j, "grad_evals_per_s", st->time_s > 0 ? (double)st->grad_evals / st->time_s : 0);
            json_end_object(&j);
        }
        json_end_array(&j);
        json_end_object(&j);
    }
    json_end_array(&j);
    json_begin_array(&j, "flags");
    for (int f = 0; f < nf; f++) {
        json_begin_object(&j, NULL);
        json_str(&j, "code", flags[f].code);
        json_str(&j, "severity", "warning");
        json_str(&j, "message", flags[f].message);
        json_end_object(&j);
    }
    json_end_array(&j);
    /* RobustBench's per-model entry names (for the first budget). */
    json_num(&j, "clean_acc", 100.0 * clean_acc);
    json_num(&j, "autoattack_acc", 100.0 * runs[0].robust_acc);
    json_num(&j, "eps", runs[0].eps);
    json_end_object(&j);
    fprintf(af.f, "\n");
    if (gb_atomic_commit(&af)) {
        free(runs);
        return cli_fail("");
    }

    printf("%-10s %-10s", "eps", "robust");
    for (int a = 0; a < count; a++) printf(" %10s", plan[a].name);
    printf("   (robust accuracy after each attack)\n");
    for (int e = 0; e < neps; e++) {
        const run *r = &runs[e];
        int64_t left = r->correct;
        char buf[16];
        snprintf(buf, sizeof buf, "%.2f%%%s", 100 * r->robust_acc, r->complete ? "" : "*");
        printf("%-10g %-10s", (double)r->eps, buf);
        for (int a = 0; a < count; a++) {
            left -= r->stats[a].newly_broken;
            printf(" %9.2f%%", r->done ? 100.0 * (double)left / (double)r->done : 0);
        }
        printf("\n");
    }
    if (!all_complete) printf("* incomplete: stopped by --time-budget; run the same command again to continue\n");
    for (int f = 0; f < nf; f++) printf("FLAG %s: %s\n", flags[f].code, flags[f].message);
    printf("wrote %s\n", path);
    free(runs);
    if (o->report) {
        if (!all_complete) {
            printf("report skipped: the evaluation is incomplete\n");
            return 0;
        }
        gb_report_params rp = gb_report_default_params();
        if (gb_report_write(o->out, &rp)) return cli_fail("report");
        printf("wrote %s/report.html\n", o->out);
    }
    return 0;
}
