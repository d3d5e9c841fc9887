/* aa_flags.c — the symptoms of an evaluation that cannot be trusted
 * (Athalye et al. 2018, sec. 3.1; Croce & Hein 2020, sec. 5 and the
 * reference implementation's checks), from the model checks of a clean
 * batch and the per-budget results of the ensemble. Kept apart from the
 * command line so each rule can be tested on constructed results. */
#include "blackbox/blackbox.h"

#include <stdarg.h>
#include <stdlib.h>

static int add(gb_aa_flag *out, int nf, int max, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int add(gb_aa_flag *out, int nf, int max, const char *code, const char *fmt, ...) {
    if (nf >= max) return nf;
    snprintf(out[nf].code, sizeof out[nf].code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[nf].message, sizeof out[nf].message, fmt, ap);
    va_end(ap);
    return nf + 1;
}

static int by_eps(const void *a, const void *b) {
    float x = (*(const gb_aa_budget *const *)a)->eps, y = (*(const gb_aa_budget *const *)b)->eps;
    return (x > y) - (x < y);
}

int gb_aa_flags(const gb_model_checks *chk, const gb_aa_member *plan, int count, const gb_aa_budget *runs,
                int nruns, gb_aa_flag *out, int max) {
    int nf = 0;
    if (chk && chk->zero_grad > 0)
        nf = add(out, nf, max, "zero_gradients",
                 "%lld of %lld clean examples have an input gradient of the cross-entropy that is exactly zero: "
                 "gradient-based attacks cannot move them (masked or shattered gradients; try --bpda)",
                 (long long)chk->zero_grad, (long long)chk->n);
    if (chk && chk->randomized)
        nf = add(out, nf, max, "randomized_outputs",
                 "two forward passes on the same input gave different outputs: the model is randomized; "
                 "evaluate it with --version rand (EOT)");
    if (chk && chk->probabilities)
        nf = add(out, nf, max, "probability_outputs",
                 "the outputs look like probabilities (non-negative, rows sum to 1): attacks on them see "
                 "vanishing gradients; use --output to choose the logits");
    /* A larger ball contains the smaller one, so the true robust accuracy
     * cannot rise with eps; only finished budgets (same examples) count. */
    const gb_aa_budget **s = malloc((size_t)(nruns > 0 ? nruns : 1) * sizeof *s);
    if (s) {
        int n = 0;
        for (int e = 0; e < nruns; e++)
            if (runs[e].complete) s[n++] = &runs[e];
        qsort(s, (size_t)n, sizeof *s, by_eps);
        for (int e = 1; e < n; e++)
            if (s[e]->eps > s[e - 1]->eps && s[e]->robust_acc > s[e - 1]->robust_acc)
                nf = add(out, nf, max, "robust_accuracy_rises_with_eps",
                         "robust accuracy rises from %.2f%% at eps %g to %.2f%% at eps %g: a larger ball contains "
                         "the smaller one, so the attacks are failing (gradient masking?)",
                         100 * s[e - 1]->robust_acc, (double)s[e - 1]->eps, 100 * s[e]->robust_acc,
                         (double)s[e]->eps);
        free(s);
    }
    /* A black-box attack that breaks what white-box attacks run before it
     * missed: the gradients mislead. A black-box member with no white-box
     * one before it proves nothing of the kind. */
    for (int e = 0; e < nruns; e++) {
        int whitebox_before = 0;
        for (int a = 0; a < count; a++) {
            const int bb = gb_bb_is_blackbox(plan[a].attack.kind);
            if (bb && whitebox_before && runs[e].stats[a].newly_broken > 0)
                nf = add(out, nf, max, "blackbox_beats_whitebox",
                         "at eps %g the black-box %s attack broke %lld examples that every white-box attack "
                         "before it failed on: the gradients mislead (gradient masking)",
                         (double)runs[e].eps, plan[a].name, (long long)runs[e].stats[a].newly_broken);
            whitebox_before |= !bb;
        }
    }
    return nf;
}
