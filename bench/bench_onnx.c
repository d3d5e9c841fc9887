/* bench_onnx.c — gibbon on imported ONNX models: forward and
 * forward + input-gradient images/s (bench/bench_onnx.sh runs it next to
 * bench_onnx.py, the PyTorch peer, on the same .onnx files).
 *
 *   bench_onnx MODEL.onnx BATCH [REPS]
 *
 * Input: random pixels in [0,1] of the model's declared (C, H, W), random
 * labels. Measurements, each after one warm-up pass, REPS (default 5)
 * repetitions, median reported with the median CPU/wall ratio:
 *   forward     gb_model_forward
 *   input_grad  gb_input_gradient (forward, summed cross-entropy, backward
 *               to the input only: no weight gradients)
 * Plus one timed forward with a clock around every Conv node: the FLOPs of
 * the convolutions (2 per multiply-add) over their time give the rate the
 * conv kernels reach. One JSON line per measurement on stdout.
 */
#include "internal.h"

#include <time.h>

static double wall(void) { return gb_now(); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* One forward with every Conv timed: returns conv seconds, *flops the conv FLOPs. */
static double conv_time(gb_model *m, const gb_tensor *x, double *flops) {
    gb_model_forward(m, x, NULL); /* plans and warms */
    gb_exec ex = {0, &m->rng, NULL};
    double t = 0;
    *flops = 0;
    for (int i = 0; i < m->nnodes; i++) {
        gb_node *n = &m->nodes[i];
        if (n->is_static) continue;
        const gb_tensor *tin[GB_MAX_NODE_IO];
        gb_tensor *tout[GB_MAX_NODE_IO];
        for (int k = 0; k < n->nin; k++) tin[k] = n->in[k] >= 0 ? &m->vals[n->in[k]].t : NULL;
        for (int k = 0; k < n->nout; k++) tout[k] = n->out[k] >= 0 ? &m->vals[n->out[k]].t : NULL;
        double t0 = wall();
        gb_ops[n->op]->forward(n, tin, tout, &ex);
        if (n->op == GB_OP_CONV) {
            t += wall() - t0;
            const gb_tensor *w = tin[1];
            *flops += 2.0 * (double)tout[0]->size * (double)(w->shape[1] * w->shape[2] * w->shape[3]);
        }
    }
    return t;
}

static void report(const char *model, const char *what, int batch, double *secs, double *ratio, int reps) {
    double s = median(secs, reps), r = median(ratio, reps);
    printf("{\"impl\": \"gibbon\", \"model\": \"%s\", \"what\": \"%s\", \"batch\": %d, \"images_per_sec\": %.2f, "
           "\"sec_per_batch\": %.4f, \"cpu_over_wall\": %.2f}\n",
           model, what, batch, batch / s, s, r);
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_onnx MODEL.onnx BATCH [REPS]\n");
        return 2;
    }
    const char *path = argv[1];
    int batch = atoi(argv[2]), reps = argc > 3 ? atoi(argv[3]) : 5;
    if (batch < 1 || reps < 1 || reps > 100) return 2;
    const char *threads = getenv("GIBBON_THREADS");
    gb_set_num_threads(threads ? atoi(threads) : 2);
    gb_model *m;
    if (gb_model_load_onnx(path, &m)) {
        fprintf(stderr, "bench_onnx: %s\n", gb_last_error());
        return 1;
    }
    int64_t shape[GB_MAX_DIMS];
    int nd = gb_model_input_shape(m, shape);
    if (nd != 4) {
        fprintf(stderr, "bench_onnx: %s: expected an image input\n", path);
        return 1;
    }
    shape[0] = batch;
    gb_tensor *x = gb_tensor_new(4, shape), *g = gb_tensor_new(4, shape);
    gb_rng r;
    gb_rng_seed(&r, 1, 1);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = gb_rng_uniform(&r);
    int K = gb_model_num_classes(m);
    int *y = malloc((size_t)batch * sizeof *y);
    for (int i = 0; i < batch; i++) y[i] = (int)gb_rng_below(&r, (uint32_t)K);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

    double secs[100], ratio[100];
    for (int what = 0; what < 2; what++) {
        for (int i = -1; i < reps; i++) { /* i = -1: warm-up */
            double w0 = wall(), c0 = gb_cpu_time();
            gb_status s = what == 0 ? gb_model_forward(m, x, NULL) : gb_input_gradient(m, x, y, g, NULL);
            if (s != GB_OK) {
                fprintf(stderr, "bench_onnx: %s\n", gb_last_error());
                return 1;
            }
            double w = wall() - w0, c = gb_cpu_time() - c0;
            if (i >= 0) secs[i] = w, ratio[i] = c / w;
        }
        report(name, what == 0 ? "forward" : "input_grad", batch, secs, ratio, reps);
    }
    double flops, ct[100];
    for (int i = 0; i < 3; i++) ct[i] = conv_time(m, x, &flops);
    double t = median(ct, 3);
    printf("{\"impl\": \"gibbon\", \"model\": \"%s\", \"what\": \"conv_forward\", \"batch\": %d, \"conv_gflop\": %.2f, "
           "\"conv_sec\": %.4f, \"conv_gflops_per_sec\": %.1f}\n",
           name, batch, flops / 1e9, t, flops / 1e9 / t);
    free(y);
    gb_tensor_free(x);
    gb_tensor_free(g);
    gb_model_free(m);
    return 0;
}
