/* transfer.c — transferability (Szegedy et al. 2014, Papernot et al. 2016,
 * Liu et al. 2017): adversarial examples crafted on a source model (or an
 * ensemble, gb_model_ensemble) are shown to target models that the attack
 * never saw. A cell of the transfer matrix is the target's clean and
 * adversarial accuracy on the examples and its success rate: the fraction
 * of the examples the target classifies correctly that the adversarial
 * images make wrong (targeted: make the target class), the definition
 * `gibbon attack` uses for its white-box success rate, so a source that is
 * also a target reproduces that number on the diagonal. */
#include "attacks/attacks.h"
#include "eval/svg.h"

gb_status gb_transfer_craft(const gb_attack *a, gb_model *src, const gb_tensor *x, const int *y, const int *target,
                            int batch, gb_tensor *x_adv) {
    if (x->ndim != 4 || x->shape[0] < 1) return gb_error(GB_ERR_SHAPE, "transfer: images must be (N, C, H, W), N >= 1");
    if (batch < 1) return gb_error(GB_ERR_ARG, "transfer: batch must be positive");
    const int64_t N = x->shape[0], per = x->size / N;
    if (!gb_tensor_same_shape(x_adv, x)) GB_TRY(gb_tensor_resize(x_adv, x->ndim, x->shape));
    gb_attack ab = *a;
    gb_status s = GB_OK;
    for (int64_t start = 0; start < N && !s; start += batch) {
        gb_tensor xb = *x;
        xb.shape[0] = GB_MIN((int64_t)batch, N - start);
        xb.size = xb.shape[0] * per;
        xb.data = x->data + start * per;
        xb.cap = 0;
        /* The stream per batch of gibbon attack, so the same flags give the same images. */
        ab.seed = a->seed + (uint64_t)(start / batch) * 1000003u;
        gb_attack_result r;
        s = gb_attack_run(&ab, src, &xb, y + start, target ? target + start : NULL, &r);
        if (s) break;
        memcpy(x_adv->data + start * per, r.x_adv->data, (size_t)xb.size * sizeof(float));
        gb_attack_result_free(&r);
    }
    return s;
}

gb_status gb_transfer_eval(gb_model *m, const gb_tensor *x, const gb_tensor *x_adv, const int *y, const int *target,
                           int batch, gb_transfer_cell *out) {
    memset(out, 0, sizeof *out);
    if (!gb_tensor_same_shape(x, x_adv) || x->ndim != 4)
        return gb_error(GB_ERR_SHAPE, "transfer: clean and adversarial batches differ in shape");
    if (batch < 1) return gb_error(GB_ERR_ARG, "transfer: batch must be positive");
    const int64_t N = x->shape[0], per = N ? x->size / N : 0;
    int *p0 = gb_malloc((size_t)GB_MAX(batch, 1) * sizeof(int)), *p1 = gb_malloc((size_t)GB_MAX(batch, 1) * sizeof(int));
    float *conf = gb_malloc((size_t)GB_MAX(batch, 1) * sizeof(float));
    gb_status s = p0 && p1 && conf ? GB_OK : GB_ERR_NOMEM;
    for (int64_t start = 0; start < N && !s; start += batch) {
        gb_tensor xb = *x, ab = *x_adv;
        xb.shape[0] = ab.shape[0] = GB_MIN((int64_t)batch, N - start);
        xb.size = ab.size = xb.shape[0] * per;
        xb.data = x->data + start * per;
        ab.data = x_adv->data + start * per;
        xb.cap = ab.cap = 0;
        if ((s = gb_model_check_input(m, &xb)) || (s = gb_predict(m, &xb, p0, conf)) ||
            (s = gb_predict(m, &ab, p1, conf)))
            break;
        for (int64_t j = 0; j < xb.shape[0]; j++) {
            const int64_t i = start + j;
            const int right = p0[j] == y[i];
            out->clean_correct += right;
            out->adv_correct += p1[j] == y[i];
            out->fooled += right && (target ? p1[j] == target[i] : p1[j] != y[i]);
        }
    }
    out->n = N;
    if (N) {
        out->clean_accuracy = (double)out->clean_correct / N;
        out->adv_accuracy = (double)out->adv_correct / N;
    }
    out->success_rate = out->clean_correct ? (double)out->fooled / out->clean_correct : 0;
    gb_free(p0);
    gb_free(p1);
    gb_free(conf);
    return s;
}

gb_status gb_transfer_svg(const char *path, const char *const *rows, int nrows, const char *const *cols, int ncols,
                          const double *success, const char *title) {
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    gb_heatmap h = {0};
    h.title = title;
    h.xlabel = "target model";
    h.ylabel = "source";
    h.rows = rows, h.nrows = nrows;
    h.cols = cols, h.ncols = ncols;
    h.values = success;
    h.vmin = 0, h.vmax = 1; /* success rates: the full scale, comparable between runs */
    h.format = "%.2f";
    gb_status s = gb_svg_heatmap(af.f, &h);
    if (s) {
        gb_atomic_abort(&af);
        return s;
    }
    return gb_atomic_commit(&af);
}
