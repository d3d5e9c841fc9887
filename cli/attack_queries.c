/* attack_queries.c — `gibbon attack` with black-box attacks: the oracle
 * behind --oracle, targets without a model, and the success-vs-query-budget
 * curve (queries_curve.csv / .svg).
 *
 * The score-based attacks stop an example at its first success, so the
 * queries it spent (evals[]) are the queries it needed: the success rate at
 * budget b is the fraction of examples with success and evals <= b, read off
 * one run at the largest budget. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>

#include "eval/svg.h"

int cli_query_targets(const gb_dataset *d, gb_target_mode mode, int fixed, uint64_t seed, int *target) {
    const int K = d->num_classes;
    if (K < 2) {
        fprintf(stderr, "gibbon attack: --targeted with --oracle needs labels of at least 2 classes\n");
        return 2;
    }
    if (mode == GB_TARGET_LEAST_LIKELY) {
        fprintf(stderr, "gibbon attack: --target ll needs the model's logits: use next, random or a class with --oracle\n");
        return 2;
    }
    if (mode == GB_TARGET_FIXED && (fixed < 0 || fixed >= K)) {
        fprintf(stderr, "gibbon attack: --target %d: the data has %d classes\n", fixed, K);
        return 2;
    }
    gb_rng rng;
    gb_rng_seed(&rng, seed, 5);
    for (int64_t i = 0; i < d->n; i++) {
        if (mode == GB_TARGET_NEXT) {
            target[i] = (d->labels[i] + 1) % K;
        } else if (mode == GB_TARGET_RANDOM) {
            int t = (int)gb_rng_below(&rng, (uint32_t)(K - 1));
            target[i] = t >= d->labels[i] ? t + 1 : t;
        } else {
            target[i] = fixed;
        }
    }
    return 0;
}

gb_status cli_write_query_curve(const char *dir, const char *attack, const gb_attack_result *r, const int *labels,
                                const int *target, int64_t budget) {
    enum { POINTS = 50 };
    double xs[POINTS + 1], ys[POINTS + 1];
    int64_t denom = 0;
    for (int64_t i = 0; i < r->n; i++) denom += target ? 1 : r->clean_pred[i] == labels[i];
    int np = 0;
    xs[np] = 1, ys[np++] = 0; /* the clean query alone never succeeds on a correctly classified image */
    for (int k = 1; k <= POINTS; k++) {
        const int64_t b = GB_MAX((int64_t)llround((double)budget * k / POINTS), 1);
        if (b <= (int64_t)xs[np - 1]) continue;
        int64_t won = 0;
        for (int64_t i = 0; i < r->n; i++)
            won += (target || r->clean_pred[i] == labels[i]) && r->success[i] && r->evals[i] <= b;
        xs[np] = (double)b;
        ys[np++] = denom ? (double)won / denom : 0;
    }
    char path[4200];
    gb_atomic_file af;
    snprintf(path, sizeof path, "%s/queries_curve.csv", dir);
    GB_TRY(gb_atomic_open(&af, path));
    fprintf(af.f, "queries,success_rate\n");
    for (int i = 0; i < np; i++) fprintf(af.f, "%.0f,%.6f\n", xs[i], ys[i]);
    GB_TRY(gb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/queries_curve.svg", dir);
    GB_TRY(gb_atomic_open(&af, path));
    char title[128];
    snprintf(title, sizeof title, "%s: success rate vs queries per image", attack);
    gb_plot_series s = {attack, xs, ys, np};
    gb_line_plot p = {0};
    p.title = title, p.xlabel = "query budget per image", p.ylabel = "success rate";
    p.series = &s, p.nseries = 1;
    p.xmin = 0, p.xmax = (double)budget, p.ymin = 0, p.ymax = 1;
    p.hline = NAN;
    gb_status st = gb_svg_line_plot(af.f, &p);
    if (st) {
        gb_atomic_abort(&af);
        return st;
    }
    return gb_atomic_commit(&af);
}
