/* gradcheck.c — see gradcheck.h. */
#include "gradcheck.h"

#include <math.h>

gc_opts gc_default_opts(void) { return (gc_opts){1e-2, 2e-3, 2e-2, 0, 0, 0}; }

void gc_fill_uniform(gb_tensor *t, gb_rng *r, float lo, float hi) {
    for (int64_t i = 0; i < t->size; i++) t->data[i] = lo + (hi - lo) * gb_rng_uniform(r);
}

static double loss_at(gb_model *m, const gb_tensor *x, const gb_tensor *R, uint64_t seed) {
    const gb_tensor *y;
    gb_model_set_seed(m, seed); /* same dropout mask for every evaluation */
    if (gb_model_forward(m, x, &y) != GB_OK) {
        fprintf(stderr, "gradcheck forward failed: %s\n", gb_last_error());
        return NAN;
    }
    double L = 0;
    for (int64_t i = 0; i < y->size; i++) L += (double)y->data[i] * R->data[i];
    return L;
}

static int compare(const char *label, const char *what, const float *analytic, float *values,
                   int64_t n, gb_model *m, const gb_tensor *x, const gb_tensor *R,
                   const gc_opts *o) {
    int bad = 0;
    double worst = 0;
    int64_t worst_i = -1;
    double worst_a = 0, worst_num = 0;
    int kinks = 0;
    for (int64_t i = 0; i < n; i++) {
        float saved = values[i];
        double num = 0, tol = 0, err = 0;
        int at_kink = 0;
        double h = o->h;
        for (int level = 0; level < (o->kink_aware ? 3 : 1); level++, h /= 4) {
            float up = (float)(saved + h), down = (float)(saved - h);
            values[i] = up;
            double lp = loss_at(m, x, R, 1234);
            values[i] = down;
            double lm = loss_at(m, x, R, 1234);
            values[i] = saved;
            /* Divide by the step actually taken in float. */
            num = (lp - lm) / ((double)up - (double)down);
            tol = o->atol + o->rtol * fabs(num);
            err = fabs(analytic[i] - num);
            if (!o->kink_aware) break;
            double l0 = loss_at(m, x, R, 1234);
            double fwd = (lp - l0) / ((double)up - saved), bwd = (l0 - lm) / (saved - (double)down);
            at_kink = fabs(fwd - bwd) > o->atol + o->rtol * fabs(num);
            if (!at_kink) break;
            /* Still a kink at the smallest step: either side is acceptable. */
            err = fmin(fabs(analytic[i] - fwd), fabs(analytic[i] - bwd));
            if (err > tol) err = fmin(err, fabs(analytic[i] - num));
        }
        kinks += at_kink;
        if (!(err <= tol)) bad++;
        if (!(err / tol <= worst)) {
            worst = err / tol;
            worst_i = i;
            worst_a = analytic[i];
            worst_num = num;
        }
    }
    /* Kinks are rare; many of them would hide a wrong gradient. */
    if (kinks * 10 > n && n >= 10) {
        fprintf(stderr, "gradcheck %s d/d%s: %d of %lld elements at kinks\n", label, what, kinks, (long long)n);
        bad++;
    }
    if (bad || o->verbose)
        fprintf(bad ? stderr : stdout,
                "gradcheck %s d/d%s: %d of %lld mismatched; worst at %lld: analytic %.6g numeric %.6g\n",
                label, what, bad, (long long)n, (long long)worst_i, worst_a, worst_num);
    return bad;
}

int gradcheck_model(gb_model *m, const gb_tensor *x, const gc_opts *o, const char *label) {
    gb_model_set_training(m, o->training);
    const gb_tensor *y;
    gb_model_set_seed(m, 1234);
    if (gb_model_forward(m, x, &y) != GB_OK) {
        fprintf(stderr, "gradcheck %s: forward failed: %s\n", label, gb_last_error());
        return 1;
    }
    gb_tensor *R = gb_tensor_new(y->ndim, y->shape);
    gb_rng r;
    gb_rng_seed(&r, 99, 1);
    gc_fill_uniform(R, &r, -1, 1);
    gb_model_zero_grad(m);
    const gb_tensor *dx;
    if (gb_model_backward(m, R, GB_GRAD_ALL, &dx) != GB_OK) {
        fprintf(stderr, "gradcheck %s: backward failed: %s\n", label, gb_last_error());
        gb_tensor_free(R);
        return 1;
    }
    gb_tensor *dx_copy = gb_tensor_clone(dx);
    gb_tensor *xc = gb_tensor_clone(x);
    int bad = compare(label, "x", dx_copy->data, xc->data, xc->size, m, xc, R, o);
    for (int p = 0; p < gb_model_num_params(m); p++) {
        gb_param prm = gb_model_param(m, p);
        float *g = malloc((size_t)prm.size * sizeof(float));
        memcpy(g, prm.grad, (size_t)prm.size * sizeof(float));
        bad += compare(label, prm.name, g, prm.data, prm.size, m, xc, R, o);
        free(g);
    }
    gb_tensor_free(dx_copy);
    gb_tensor_free(xc);
    gb_tensor_free(R);
    return bad;
}

gc_case gc_single_op(const char *op_type, int xndim, const int64_t *xshape, int nparams,
                     const int *pndims, const int64_t (*pshapes)[GB_MAX_DIMS], gb_rng *r) {
    gc_case c = {0};
    c.m = gb_model_alloc();
    c.x = gb_tensor_new(xndim, xshape);
    gc_fill_uniform(c.x, r, -1, 1);
    c.m->in_ndim = xndim;
    memcpy(c.m->in_shape, xshape, (size_t)xndim * sizeof *xshape);
    int ins[GB_MAX_NODE_IO];
    ins[0] = gb_model_add_value(c.m, "x", GB_VAL_INPUT, NULL);
    for (int k = 0; k < nparams; k++) {
        if (pndims[k] <= 0) {
            ins[1 + k] = -1;
            continue;
        }
        gb_tensor *p = gb_tensor_new(pndims[k], pshapes[k]);
        gc_fill_uniform(p, r, -1, 1);
        char name[16];
        snprintf(name, sizeof name, "p%d", k + 1);
        ins[1 + k] = gb_model_add_value(c.m, name, GB_VAL_PARAM, p);
        gb_tensor_free(p);
    }
    int out = gb_model_add_value(c.m, "y", GB_VAL_ACT, NULL);
    c.m->output = out;
    int ni = gb_model_add_node(c.m, op_type, "node", ins, 1 + nparams, &out, 1);
    c.node = &c.m->nodes[ni];
    return c;
}

int gc_finalize(gc_case *c) {
    gb_status s = gb_model_finalize(c->m);
    if (s != GB_OK) {
        fprintf(stderr, "gradcheck finalize: %s\n", gb_last_error());
        return 1;
    }
    return 0;
}

void gc_free(gc_case *c) {
    gb_model_free(c->m);
    gb_tensor_free(c->x);
    memset(c, 0, sizeof *c);
}
