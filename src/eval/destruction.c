/* destruction.c — Kurakin, Goodfellow & Bengio 2017 ("Adversarial examples
 * in the physical world"), eq. 1: the destruction rate, the fraction of
 * adversarial examples that a transformation T (blur, noise, JPEG,
 * brightness/contrast, print-and-photo) turns back into correctly
 * classified ones, and the fixed transformations of their Table 3 style
 * comparison. The transformations are the library's own: the EOT pipeline
 * (src/transforms/) and the JPEG input defense (src/defenses/). */
#include "internal.h"

#include <math.h>

void gb_destruction_rate(const int *clean_ok, const int *adv_ok, const int *tf_ok, int64_t n,
                         double *rate, int64_t *count) {
    int64_t den = 0, num = 0;
    for (int64_t k = 0; k < n; k++) {
        int base = (clean_ok[k] != 0) && (adv_ok[k] == 0);
        den += base;
        num += base && tf_ok[k] != 0;
    }
    *rate = den ? (double)num / (double)den : NAN;
    if (count) *count = den;
}

typedef struct named_tf {
    const char *name;
    const char *pipeline; /* gb_tf pipeline spec, or NULL for the JPEG defense */
} named_tf;

static const named_tf transforms[] = {
    {"blur", "blur=1"},
    {"noise", "noise=0.03"},
    {"jpeg", NULL},
    {"brightness", "brightness=0.1,contrast=0.85"},
    {"photo", "print=1,rotate=-3:3,scale=0.95:1.05"},
};

gb_status gb_destruction_transform(const char *name, const gb_tensor *x, uint64_t seed, gb_tensor *y) {
    const named_tf *t = NULL;
    for (size_t i = 0; i < sizeof transforms / sizeof *transforms; i++)
        if (strcmp(name, transforms[i].name) == 0) t = &transforms[i];
    if (!t)
        return gb_error(GB_ERR_ARG, "unknown transformation '%s' (want blur, noise, jpeg, brightness or photo)",
                        name);
    if (x->ndim != 4 || x->shape[0] < 1) return gb_error(GB_ERR_SHAPE, "%s: want a (N, C, H, W) batch", name);
    gb_rng rng;
    gb_rng_seed(&rng, seed, 31);
    if (!t->pipeline) {
        gb_defense d;
        GB_TRY(gb_defense_parse("jpeg:75", &d));
        return gb_defense_apply(&d, x, y, &rng);
    }
    gb_tf_pipeline *p = NULL;
    GB_TRY(gb_tf_pipeline_parse(t->pipeline, &p));
    int64_t N = x->shape[0];
    gb_tf_params *params = gb_malloc((size_t)N * sizeof *params);
    gb_status s = params ? GB_OK : GB_ERR_NOMEM;
    if (!s) {
        gb_tf_pipeline_sample(p, N, (int)x->shape[2], (int)x->shape[3], &rng, params);
        s = gb_tf_pipeline_forward(p, params, x, y);
    }
    gb_free(params);
    gb_tf_pipeline_free(p);
    return s;
}
