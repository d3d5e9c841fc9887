/* test_train_dp.c — data-parallel training (gb_train_comm) without MPI: K
 * threads each run gb_train as one "process" on its own copy of the model,
 * their allreduce a barrier and a sum in rank order (the same bits for
 * all, as MPI_Allreduce gives). Against one process on the same global
 * batches and seed:
 *  - the per-step losses and the test accuracies match (sync BatchNorm,
 *    gradients scaled to the global mean, per-example augmentation and
 *    Dropout keyed by global position), with 2 and 3 processes, a batch of
 *    1 leaving two slices empty, and PGD adversarial training whose random
 *    starts are per example;
 *  - every process ends with bit-identical parameters, close to the
 *    one-process ones;
 *  - control: the same run with an allreduce that does not sum (each
 *    process alone, local BatchNorm statistics) is far off, so the checks
 *    above can fail. */
#include <pthread.h>

#include "check.h"
#include "train_util.h"

enum { MAXK = 4, MAXSTEPS = 64 };

typedef struct group {
    int K, sum; /* sum = 0: the broken control, every process keeps its own values */
    pthread_barrier_t bar;
    float *bufs[MAXK];
} group;

typedef struct proc {
    group *g;
    gb_train_comm comm;
    gb_train_params p;
    const gb_dataset *train, *test;
    const char *arch;
    gb_model *m;
    int steps, epochs;
    float loss[MAXSTEPS], adv_loss[MAXSTEPS], test_acc[8];
    gb_status s;
    char err[256];
} proc;

static int group_allreduce(float *buf, int64_t n, void *ctx) {
    proc *me = ctx;
    group *g = me->g;
    g->bufs[me->comm.rank] = buf;
    pthread_barrier_wait(&g->bar);
    float *sum = malloc((size_t)(n ? n : 1) * sizeof *sum);
    if (!sum) return -1; /* the test then fails on gb_train's status */
    for (int64_t i = 0; i < n; i++) {
        sum[i] = g->bufs[0][i];
        for (int r = 1; r < g->K; r++) sum[i] += g->bufs[r][i];
    }
    pthread_barrier_wait(&g->bar); /* everyone has read every buffer */
    if (g->sum) memcpy(buf, sum, (size_t)n * sizeof *sum);
    free(sum);
    return 0;
}

static int record(const gb_train_progress *pr, void *user) {
    proc *me = user;
    if (pr->epoch_done) {
        if (me->epochs < 8) me->test_acc[me->epochs++] = pr->test_accuracy;
    } else if (me->steps < MAXSTEPS) {
        me->loss[me->steps] = pr->batch_loss;
        me->adv_loss[me->steps++] = pr->batch_adv_loss;
    }
    return 0;
}

static void *run_proc(void *arg) {
    proc *me = arg;
    me->s = gb_model_from_zoo(me->arch, 1, 8, 8, 4, 7, &me->m);
    if (!me->s) {
        me->p.progress = record;
        me->p.user = me;
        me->s = gb_train(me->m, me->train, me->test, &me->p);
    }
    if (me->s) snprintf(me->err, sizeof me->err, "%s", gb_last_error());
    return NULL;
}

/* Runs K processes (K = 0: one plain process, no comm) and fills procs[0..max(K,1)). */
static void run_group(int K, int sum, const gb_train_params *p, const char *arch, const gb_dataset *train,
                      const gb_dataset *test, proc *procs) {
    static group g;
    g.K = K;
    g.sum = sum;
    if (K) pthread_barrier_init(&g.bar, NULL, (unsigned)K);
    pthread_t th[MAXK];
    for (int r = 0; r < (K ? K : 1); r++) {
        proc *me = &procs[r];
        memset(me, 0, sizeof *me);
        me->g = &g;
        me->p = *p;
        me->arch = arch;
        me->train = train;
        me->test = test;
        if (K) {
            me->comm = (gb_train_comm){r, K, group_allreduce, me};
            me->p.comm = &me->comm;
        }
        pthread_create(&th[r], NULL, run_proc, me);
    }
    for (int r = 0; r < (K ? K : 1); r++) pthread_join(th[r], NULL);
    if (K) pthread_barrier_destroy(&g.bar);
}

static void check_ok(const proc *procs, int n) {
    for (int r = 0; r < n; r++) CHECKF(procs[r].s == GB_OK, "rank %d of %d: %s", r, n, procs[r].err);
}

static double rel(double a, double b) { return fabs(a - b) / fmax(fabs(b), 1e-3); }

/* Max relative difference of two processes' step losses (and adversarial ones). */
static double curve_diff(const proc *a, const proc *b) {
    double d = 0;
    for (int i = 0; i < a->steps && i < b->steps; i++)
        d = fmax(d, fmax(rel(a->loss[i], b->loss[i]), rel(a->adv_loss[i], b->adv_loss[i])));
    return d;
}

static void free_procs(proc *procs, int n) {
    for (int r = 0; r < n; r++) gb_model_free(procs[r].m);
}

/* Every process's parameters are bit-identical; they are close to one's. */
static void check_models(proc *procs, int K, proc *one, double tol) {
    int64_t P = gb_model_param_count(one->m);
    float *a = malloc((size_t)P * sizeof *a), *b = malloc((size_t)P * sizeof *b);
    params_snapshot(procs[0].m, a);
    for (int r = 1; r < K; r++) {
        params_snapshot(procs[r].m, b);
        CHECKF(memcmp(a, b, (size_t)P * sizeof *a) == 0, "K=%d: rank %d's parameters differ from rank 0's", K, r);
    }
    params_snapshot(one->m, b);
    double d = 0, scale = 0;
    for (int64_t i = 0; i < P; i++) {
        d = fmax(d, fabs(a[i] - b[i]));
        scale = fmax(scale, fabs(b[i]));
    }
    CHECKF(d <= tol * scale, "K=%d: parameters differ from one process by %g (largest %g)", K, d, scale);
    free(a);
    free(b);
}

static void test_plain_matches_one_process(void) {
    /* 37 examples in batches of 12: the last batch of 1 leaves 2 of 3 slices empty. */
    gb_dataset *train = rows_dataset(37, 1), *test = rows_dataset(29, 2);
    gb_train_params p = gb_train_default_params();
    p.epochs = 2;
    p.batch_size = 12;
    p.lr = 1e-2f;
    p.augment = 1;
    const char *arch = "convbn4-fc8-drop0.25";
    proc one[1], procs[MAXK];
    run_group(0, 1, &p, arch, train, test, one);
    check_ok(one, 1);
    CHECK(one[0].steps == 8 && one[0].epochs == 2);
    for (int K = 2; K <= 3; K++) {
        run_group(K, 1, &p, arch, train, test, procs);
        check_ok(procs, K);
        double d = curve_diff(&procs[0], &one[0]);
        if (getenv("GIBBON_TEST_VERBOSE")) printf("K=%d: max relative loss difference %.3g\n", K, d);
        CHECKF(procs[0].steps == one[0].steps && d < 1e-4, "K=%d: %d steps, losses differ by %.3g", K,
               procs[0].steps, d);
        for (int r = 1; r < K; r++) CHECK(curve_diff(&procs[r], &procs[0]) == 0);
        for (int e = 0; e < 2; e++)
            CHECKF(procs[0].test_acc[e] == one[0].test_acc[e], "K=%d epoch %d: test accuracy %g, one process %g",
                   K, e + 1, procs[0].test_acc[e], one[0].test_acc[e]);
        check_models(procs, K, &one[0], 1e-4);
        free_procs(procs, K);
    }
    /* Control: without the sums (each process alone on its slice) the curve
     * is far off, and the models part, which gb_train notices at the end of
     * the first epoch. */
    run_group(2, 0, &p, arch, train, test, procs);
    double d = curve_diff(&procs[0], &one[0]);
    CHECKF(procs[0].steps == 4 && d > 1e-2, "unsummed processes: %d steps differ by only %.3g", procs[0].steps, d);
    for (int r = 0; r < 2; r++)
        CHECKF(procs[r].s == GB_ERR_ARG && strstr(procs[r].err, "disagree"), "unsummed rank %d: %s", r,
               procs[r].err);
    free_procs(procs, 2);
    free_procs(one, 1);
    rows_dataset_free(train);
    rows_dataset_free(test);
}

static void test_pgd_matches_one_process(void) {
    gb_dataset *train = rows_dataset(40, 3);
    gb_train_params p = gb_train_default_params();
    p.epochs = 1;
    p.batch_size = 10;
    p.lr = 1e-2f;
    p.adv = GB_ADV_PGD;
    p.adv_steps = 2;
    p.adv_eps = 0.1f;
    const char *arch = "convbn4-fc8";
    proc one[1], procs[MAXK];
    run_group(0, 1, &p, arch, train, NULL, one);
    run_group(2, 1, &p, arch, train, NULL, procs);
    check_ok(one, 1);
    check_ok(procs, 2);
    /* Step 1 starts from the same model: only the random starts could differ. */
    CHECKF(rel(procs[0].adv_loss[0], one[0].adv_loss[0]) < 1e-5, "first PGD step: adversarial loss %g vs %g",
           procs[0].adv_loss[0], one[0].adv_loss[0]);
    /* Later steps: sign(gradient) steps can amplify rounding where a pixel's gradient is ~0. */
    double d = curve_diff(&procs[0], &one[0]);
    if (getenv("GIBBON_TEST_VERBOSE")) printf("PGD: max relative loss difference %.3g\n", d);
    CHECKF(procs[0].steps == 4 && d < 1e-3, "PGD: %d steps, losses differ by %.3g", procs[0].steps, d);
    check_models(procs, 2, &one[0], 1e-3);
    free_procs(procs, 2);
    free_procs(one, 1);
    rows_dataset_free(train);
}

int main(void) {
    gb_set_num_threads(1); /* the threads are the processes */
    RUN(test_plain_matches_one_process);
    RUN(test_pgd_matches_one_process);
    CHECK_DONE();
}
