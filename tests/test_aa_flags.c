/* test_aa_flags.c — the gradient-masking flags of `gibbon eval`, each case
 * constructed so the flag must fire, next to a case where it must not:
 *  - rules on constructed results: robust accuracy rising with eps (in any
 *    order of the eps list; unfinished budgets ignored; equal or falling
 *    accuracy silent); a black-box member breaking examples only after a
 *    white-box one ran (a black-box member first proves nothing);
 *  - model checks on real models: the shipped CNN behind a bit-depth front
 *    (true derivative zero: every example's input gradient is exactly 0) and
 *    the same with BPDA (not zero); behind random resize-and-pad (two
 *    forwards differ); the plain shipped CNN (no check fires);
 *  - end to end through the ensemble: on the bit-depth front, APGD-CE is
 *    stuck and Square breaks what it missed (blackbox_beats_whitebox and
 *    zero_gradients fire); on the shipped CNN, APGD-CE and APGD-T leave
 *    Square nothing and no flag fires. */
#include "check.h"

#include <unistd.h>

static const char *shipped = "models/fmnist_cnn.onnx";

static int has(const gb_aa_flag *f, int n, const char *code) {
    int k = 0;
    for (int i = 0; i < n; i++) k += strcmp(f[i].code, code) == 0;
    return k;
}

static void plan_of(const char *attacks, gb_aa_member *plan, int *count) {
    gb_autoattack p = gb_autoattack_default_params();
    p.eps = 0.1f;
    p.attacks = attacks;
    CHECK_OK(gb_autoattack_plan(&p, plan, count));
}

static void test_rises_with_eps(void) {
    gb_aa_member plan[GB_AA_MAX_ATTACKS];
    int count;
    plan_of("apgd-ce", plan, &count);
    gb_aa_stats st[3][GB_AA_MAX_ATTACKS];
    memset(st, 0, sizeof st);
    gb_aa_flag f[8];
    /* Listed out of order: 0.1 -> 0.30, 0.05 -> 0.40, 0.2 -> 0.35. Sorted,
     * 0.05 -> 0.1 falls and 0.1 -> 0.2 rises: exactly one flag, naming
     * the two budgets. */
    gb_aa_budget b[3] = {{0.1f, 0.30, 1, st[0]}, {0.05f, 0.40, 1, st[1]}, {0.2f, 0.35, 1, st[2]}};
    int n = gb_aa_flags(NULL, plan, count, b, 3, f, 8);
    CHECK(n == 1 && has(f, n, "robust_accuracy_rises_with_eps") == 1);
    CHECKF(n == 1 && strstr(f[0].message, "eps 0.1 ") && strstr(f[0].message, "eps 0.2:"), "%s", n ? f[0].message : "");
    /* Falling or equal: silent. */
    b[2].robust_acc = 0.30;
    CHECK(gb_aa_flags(NULL, plan, count, b, 3, f, 8) == 0);
    b[2].robust_acc = 0.10;
    CHECK(gb_aa_flags(NULL, plan, count, b, 3, f, 8) == 0);
    /* An unfinished budget (fewer examples) is not compared. */
    b[2].robust_acc = 0.9;
    b[2].complete = 0;
    CHECK(gb_aa_flags(NULL, plan, count, b, 3, f, 8) == 0);
    b[2].complete = 1;
    CHECK(gb_aa_flags(NULL, plan, count, b, 3, f, 8) == 1);
    /* max bounds the output. */
    CHECK(gb_aa_flags(NULL, plan, count, b, 3, f, 0) == 0);
}

static void test_blackbox_rule(void) {
    gb_aa_member plan[GB_AA_MAX_ATTACKS];
    int count;
    gb_aa_flag f[8];
    gb_aa_stats st[GB_AA_MAX_ATTACKS];
    memset(st, 0, sizeof st);
    plan_of("apgd-ce,apgd-t,square", plan, &count);
    gb_aa_budget b = {0.1f, 0.5, 1, st};
    st[0].newly_broken = 30, st[1].newly_broken = 4;
    CHECK(gb_aa_flags(NULL, plan, count, &b, 1, f, 8) == 0);
    st[2].newly_broken = 2;
    int n = gb_aa_flags(NULL, plan, count, &b, 1, f, 8);
    CHECK(n == 1 && has(f, n, "blackbox_beats_whitebox") == 1);
    CHECKF(n == 1 && strstr(f[0].message, "broke 2 examples"), "%s", n ? f[0].message : "");
    /* Square first: what it breaks was never offered to a white-box attack. */
    plan_of("square,apgd-ce", plan, &count);
    st[0].newly_broken = 9, st[1].newly_broken = 0;
    CHECK(gb_aa_flags(NULL, plan, count, &b, 1, f, 8) == 0);
    st[1].newly_broken = 1; /* a white-box attack after it: still no flag */
    CHECK(gb_aa_flags(NULL, plan, count, &b, 1, f, 8) == 0);
    /* The model checks map one to one onto flags. */
    gb_model_checks chk = {16, 3, 1, 1};
    n = gb_aa_flags(&chk, plan, count, NULL, 0, f, 8);
    CHECK(n == 3 && has(f, n, "zero_gradients") && has(f, n, "randomized_outputs") &&
          has(f, n, "probability_outputs"));
    CHECK(n >= 1 && strstr(f[0].message, "3 of 16 ") != NULL);
}

/* The shipped model, with an optional input transformation in front. */
static gb_model *load(const char *defense, int bpda) {
    gb_model *m = NULL;
    CHECK_OK(gb_model_load_onnx(shipped, &m));
    if (m && defense) {
        gb_defense d;
        CHECK_OK(gb_defense_parse(defense, &d));
        d.bpda = bpda;
        CHECK_OK(gb_model_add_defense(m, &d));
    }
    return m;
}

static void test_model_checks(void) {
    gb_dataset *ds = NULL;
    CHECK_OK(gb_dataset_load("fashion-mnist:test:16", &ds));
    if (!ds) return;
    struct {
        const char *defense;
        int bpda, zero_all, randomized;
    } cases[] = {{NULL, 0, 0, 0}, {"bits:4", 0, 1, 0}, {"bits:4", 1, 0, 0}, {"jpeg:75", 0, 1, 0},
                 {"resize-pad:0.8", 0, 0, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        gb_model *m = load(cases[c].defense, cases[c].bpda);
        if (!m) continue;
        gb_model_checks chk;
        CHECK_OK(gb_model_check(m, ds->images, ds->labels, &chk));
        CHECKF(chk.n == 16 && chk.zero_grad == (cases[c].zero_all ? 16 : 0), "%s%s: %lld zero gradients",
               cases[c].defense ? cases[c].defense : "plain", cases[c].bpda ? "+bpda" : "", (long long)chk.zero_grad);
        CHECKF(chk.randomized == cases[c].randomized, "%s: randomized %d", cases[c].defense ? cases[c].defense : "plain",
               chk.randomized);
        CHECK(chk.probabilities == 0);
        gb_model_free(m);
    }
    gb_dataset_free(ds);
}

/* The ensemble end to end, then the flags on its real results. */
static int ensemble_flags(gb_model *m, const gb_dataset *ds, const char *attacks, int iters, gb_aa_flag *f,
                          gb_aa_stats *st, int *count) {
    gb_autoattack p = gb_autoattack_default_params();
    p.eps = 0.1f;
    p.attacks = attacks;
    p.iters = iters;
    p.n_target_classes = 3;
    p.square_queries = 300;
    gb_aa_member plan[GB_AA_MAX_ATTACKS];
    CHECK_OK(gb_autoattack_plan(&p, plan, count));
    const int64_t N = ds->n;
    gb_tensor *xa = gb_tensor_new(4, ds->images->shape);
    gb_aa_example *ex = calloc((size_t)N, sizeof *ex);
    memset(st, 0, GB_AA_MAX_ATTACKS * sizeof *st);
    gb_model_checks chk;
    int n = -1;
    if (xa && ex && !gb_model_check(m, ds->images, ds->labels, &chk) &&
        !gb_autoattack_run(&p, m, ds->images, ds->labels, 0, xa, ex, st)) {
        int64_t robust = 0;
        for (int64_t i = 0; i < N; i++) robust += ex[i].broken_by == -1;
        gb_aa_budget b = {p.eps, (double)robust / (double)N, 1, st};
        n = gb_aa_flags(&chk, plan, *count, &b, 1, f, 8);
    }
    CHECK(n >= 0);
    gb_tensor_free(xa);
    free(ex);
    return n;
}

static void test_ensemble(void) {
    gb_dataset *ds = NULL;
    CHECK_OK(gb_dataset_load("fashion-mnist:test:16", &ds));
    if (!ds) return;
    gb_aa_flag f[8];
    gb_aa_stats st[GB_AA_MAX_ATTACKS];
    int count;
    /* Bit depth 4: APGD-CE sees a zero gradient everywhere, Square does not
     * need one. */
    gb_model *m = load("bits:4", 0);
    if (m) {
        int n = ensemble_flags(m, ds, "apgd-ce,square", 5, f, st, &count);
        CHECKF(st[1].newly_broken > 0 && has(f, n, "blackbox_beats_whitebox") == 1,
               "square broke %lld after apgd-ce broke %lld", (long long)st[1].newly_broken,
               (long long)st[0].newly_broken);
        CHECK(has(f, n, "zero_gradients") == 1);
        gb_model_free(m);
    }
    /* The plain shipped CNN: white-box attacks do the work, nothing fires. */
    m = load(NULL, 0);
    if (m) {
        int n = ensemble_flags(m, ds, "apgd-ce,apgd-t,square", 20, f, st, &count);
        CHECKF(n == 0, "%d flags on the shipped model: %s", n, n > 0 ? f[0].message : "");
        CHECK(st[0].newly_broken > 0);
        gb_model_free(m);
    }
    gb_dataset_free(ds);
}

int main(void) {
    RUN(test_rises_with_eps);
    RUN(test_blackbox_rule);
    RUN(test_model_checks);
    RUN(test_ensemble);
    CHECK_DONE();
}
