/* bench_profile.c — per-node wall time of one training step or one attack
 * step, replaying src/graph/exec.c's forward and backward loops with a clock
 * around each op call. GEMM-shaped ops (Conv, Gemm) also get their GFLOP/s,
 * from 2*M*N*K per GEMM, to compare with the machine's ~200 GFLOP/s sgemm
 * on 2 threads. */
#include "bench_profile.h"
#include "internal.h"

#include <time.h>

typedef struct node_stat {
    double fwd, bwd;           /* seconds summed over iterations */
    double fwd_flop, bwd_flop; /* per iteration */
} node_stat;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void gather(gb_model *m, gb_node *n, const gb_value **vin, const gb_tensor **tin) {
    for (int k = 0; k < n->nin; k++) {
        vin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]] : NULL;
        tin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]].t : NULL;
    }
}

/* FLOPs of one GEMM-shaped op: the forward, and each input gradient. */
static double gemm_flop(const gb_node *n, const gb_tensor *const *in, const gb_tensor *out) {
    if (n->op == GB_OP_CONV) {
        const gb_tensor *w = in[1];
        return 2.0 * (double)out->size * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
    }
    if (n->op == GB_OP_GEMM) {
        int64_t k = n->p.trans_a ? in[0]->shape[0] : in[0]->shape[1];
        return 2.0 * (double)out->size * (double)k;
    }
    return 0;
}

/* Forward over every node, timing each; mirrors gb_model_forward after
 * planning (which the caller's gb_model_forward already did). */
static void forward_timed(gb_model *m, node_stat *st) {
    gb_exec ex = {m->training, &m->rng, NULL};
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        if (n->is_static || n->absorbed) continue; /* the planner's, or a fused Conv's */
        const gb_value *vin[GB_MAX_NODE_IO];
        const gb_tensor *tin[GB_MAX_NODE_IO];
        gb_tensor *tout[GB_MAX_NODE_IO];
        gather(m, n, vin, tin);
        for (int k = 0; k < n->nout; k++) tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
        gb_conv_post post;
        ex.post = gb_model_fused_post(m, n, &post);
        double t0 = now();
        gb_ops[n->op]->forward(n, tin, tout, &ex);
        st[i].fwd += now() - t0;
        st[i].fwd_flop = gemm_flop(n, tin, tout[0]);
    }
}

/* Backward as gb_model_backward does it; *zero gets the time spent zeroing
 * activation gradients. */
static void backward_timed(gb_model *m, const gb_tensor *dlogits, gb_grad_mode mode, node_stat *st,
                           double *zero) {
    double t0 = now();
    gb_model_backward_begin(m, dlogits, mode); /* mostly zeroing */
    *zero += now() - t0;
    gb_exec ex = {m->training, &m->rng, NULL};
    for (int i = m->nnodes - 1; i >= 0; i--) {
        gb_node *n = &m->nodes[i];
        if (n->absorbed) continue;
        int out_needed = 0;
        for (int k = 0; k < n->nout; k++) out_needed |= n->out[k] >= 0 && m->vals[n->out[k]].needs_grad;
        if (!out_needed) continue;
        const gb_value *vin[GB_MAX_NODE_IO];
        const gb_tensor *tin[GB_MAX_NODE_IO], *tout[GB_MAX_NODE_IO], *dout[GB_MAX_NODE_IO];
        gb_tensor *din[GB_MAX_NODE_IO];
        gather(m, n, vin, tin);
        for (int k = 0; k < n->nin; k++)
            din[k] = n->in[k] >= 0 && m->vals[n->in[k]].needs_grad ? &m->vals[n->in[k]].grad : NULL;
        for (int k = 0; k < n->nout; k++) {
            tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
            dout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].grad : NULL;
        }
        gb_conv_post post;
        ex.post = gb_model_fused_post(m, n, &post);
        double t1 = now();
        gb_ops[n->op]->backward(n, tin, tout, din, dout, &ex);
        st[i].bwd += now() - t1;
        double f = gemm_flop(n, tin, tout[0]);
        /* One GEMM per gradient asked for (bias sums are not counted). */
        st[i].bwd_flop = f * ((din[0] != NULL) + (n->nin > 1 && din[1] != NULL));
    }
}

static void pr_gflops(double flop, double sec, int iters) {
    if (flop > 0 && sec > 0) fprintf(stderr, " %8.1f", flop * iters / sec * 1e-9);
    else fprintf(stderr, " %8s", "");
}

void bench_profile_run(const bench_profile *p, int training) {
    gb_model *m = p->m;
    gb_model_set_training(m, training);
    node_stat *st = calloc((size_t)m->nnodes, sizeof *st);
    if (!st) return;
    double t_loss = 0, t_zero_param = 0, t_zero_act = 0, t_adam = 0, t_total = 0;
    const int64_t N = p->x->shape[0];
    for (int it = -p->warmup; it < p->iters; it++) {
        if (it == 0) { /* warm-up done: forget its times */
            memset(st, 0, (size_t)m->nnodes * sizeof *st);
            t_loss = t_zero_param = t_zero_act = t_adam = t_total = 0;
        }
        double t0 = now();
        const gb_tensor *logits;
        /* Plans (a no-op after the first call) and binds the input; the
         * timed replay below is the forward being measured. */
        if (it == -p->warmup) gb_model_forward(m, p->x, &logits);
        forward_timed(m, st);
        logits = &m->vals[m->output].t;
        double t1 = now();
        float loss;
        gb_loss_cross_entropy(logits, p->labels, NULL, 1.0f, &loss, p->dlogits);
        if (!training) /* gb_input_gradient differentiates the summed loss */
            for (int64_t i = 0; i < p->dlogits->size; i++) p->dlogits->data[i] *= (float)N;
        double t2 = now();
        t_loss += t2 - t1;
        if (training) {
            gb_model_zero_grad(m);
            t_zero_param += now() - t2;
        }
        backward_timed(m, p->dlogits, training ? GB_GRAD_PARAMS : GB_GRAD_INPUT, st, &t_zero_act);
        if (training) {
            double t3 = now();
            bench_adam_step(p->adam, m);
            t_adam += now() - t3;
        }
        t_total += now() - t0;
    }
    const int iters = p->iters;
    const double ms = 1e3 / iters;
    double fwd = 0, bwd = 0;
    for (int i = 0; i < m->nnodes; i++) fwd += st[i].fwd, bwd += st[i].bwd;
    fprintf(stderr, "\nprofile: %s, batch %lld, %d threads, %d iterations: ms per iteration "
                    "(%.0f images/s instrumented)\n",
            training ? "training step (train-mode forward, loss, backward to params, Adam)"
                     : "attack step (inference forward, loss, backward to input)",
            (long long)N, gb_get_num_threads(), iters, (double)N * iters / t_total);
    fprintf(stderr, "%-14s %-10s %-18s %8s %8s %8s %8s %8s %6s\n", "node", "op", "output", "fwd ms",
            "GFLOP/s", "bwd ms", "GFLOP/s", "sum ms", "%");
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        const gb_tensor *y = &m->vals[n->out[0]].t;
        char shape[64];
        gb_shape_str(y->ndim, y->shape, shape, sizeof shape);
        fprintf(stderr, "%-14s %-10s %-18s %8.3f", n->name, n->op_type, shape, st[i].fwd * ms);
        pr_gflops(st[i].fwd_flop, st[i].fwd, iters);
        fprintf(stderr, " %8.3f", st[i].bwd * ms);
        pr_gflops(st[i].bwd_flop, st[i].bwd, iters);
        fprintf(stderr, " %8.3f %6.1f\n", (st[i].fwd + st[i].bwd) * ms,
                100 * (st[i].fwd + st[i].bwd) / t_total);
    }
    struct {
        const char *name;
        double t;
    } rest[] = {{"(forward)", fwd},
                {"(backward)", bwd},
                {"loss", t_loss},
                {"zero_grad params", t_zero_param},
                {"zero act grads", t_zero_act},
                {"adam", t_adam},
                {"total", t_total}};
    for (size_t k = 0; k < sizeof rest / sizeof rest[0]; k++)
        if (rest[k].t > 0 || k == sizeof rest / sizeof rest[0] - 1)
            fprintf(stderr, "%-44s %8.3f %6.1f\n", rest[k].name, rest[k].t * ms,
                    100 * rest[k].t / t_total);
    free(st);
}
