/* train.c — the training loop: shuffled mini-batches, optional augmentation
 * (random horizontal flip and shifts of up to 2 pixels with zero fill),
 * cross-entropy with optional label smoothing, an optimizer step per batch,
 * test accuracy and a checkpoint after every epoch, and resume. */
#include "train_internal.h"

#include <math.h>

gb_train_params gb_train_default_params(void) {
    gb_train_params p = {0};
    p.optimizer = GB_OPT_ADAM;
    p.lr = 1e-3f;
    p.momentum = 0.9f;
    p.weight_decay = 0;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.adam_eps = 1e-8f;
    p.schedule = GB_SCHED_COSINE;
    p.step_every = 10;
    p.step_gamma = 0.1f;
    p.epochs = 10;
    p.batch_size = 128;
    p.seed = 1;
    return p;
}

/* Copies images idx[0..n) of d into x (n, C, H, W), augmenting if asked. */
static void gather(const gb_dataset *d, const int64_t *idx, int64_t n, gb_tensor *x, int augment,
                   gb_rng *rng) {
    const int64_t C = d->images->shape[1], H = d->images->shape[2], W = d->images->shape[3];
    const int64_t per = C * H * W;
    for (int64_t b = 0; b < n; b++) {
        const float *src = d->images->data + idx[b] * per;
        float *dst = x->data + b * per;
        if (!augment) {
            memcpy(dst, src, (size_t)per * sizeof(float));
            continue;
        }
        int flip = gb_rng_below(rng, 2);
        int dy = (int)gb_rng_below(rng, 5) - 2, dx = (int)gb_rng_below(rng, 5) - 2;
        for (int64_t c = 0; c < C; c++)
            for (int64_t i = 0; i < H; i++)
                for (int64_t j = 0; j < W; j++) {
                    int64_t si = i - dy, sj = j - dx;
                    if (flip) sj = W - 1 - sj;
                    dst[(c * H + i) * W + j] =
                        (si >= 0 && si < H && sj >= 0 && sj < W) ? src[(c * H + si) * W + sj] : 0;
                }
    }
}

static int argmax(const float *v, int64_t n) {
    int best = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = (int)i;
    return best;
}

gb_status gb_evaluate(gb_model *m, const gb_dataset *d, int batch_size, float *accuracy,
                      int *predictions) {
    if (batch_size < 1) return gb_error(GB_ERR_ARG, "batch size must be positive");
    int was_training = m->training;
    gb_model_set_training(m, 0);
    const int64_t per = d->images->size / (d->n ? d->n : 1);
    int64_t correct = 0;
    gb_status s = GB_OK;
    for (int64_t start = 0; start < d->n && !s; start += batch_size) {
        int64_t n = GB_MIN((int64_t)batch_size, d->n - start);
        gb_tensor x = {0};
        x.ndim = 4;
        x.shape[0] = n;
        for (int k = 1; k < 4; k++) x.shape[k] = d->images->shape[k];
        x.size = n * per;
        x.data = d->images->data + start * per; /* a view: no copy */
        const gb_tensor *logits;
        s = gb_model_forward(m, &x, &logits);
        if (s) break;
        int64_t K = logits->shape[logits->ndim - 1];
        for (int64_t b = 0; b < n; b++) {
            int p = argmax(logits->data + b * K, K);
            if (predictions) predictions[start + b] = p;
            correct += p == d->labels[start + b];
        }
    }
    gb_model_set_training(m, was_training);
    if (!s && accuracy) *accuracy = d->n ? (float)correct / (float)d->n : 0;
    return s;
}

static gb_status check_compatible(gb_model *m, const gb_dataset *d, const char *what) {
    if (!d->images || d->images->ndim != 4)
        return gb_error(GB_ERR_SHAPE, "%s set: images must be (N, C, H, W)", what);
    int K = gb_model_num_classes(m);
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= K)
            return gb_error(GB_ERR_ARG, "%s set: label %d at index %lld outside the model's %d classes",
                            what, d->labels[i], (long long)i, K);
    return GB_OK;
}

gb_status gb_train(gb_model *m, const gb_dataset *train, const gb_dataset *test,
                   const gb_train_params *p) {
    if (p->batch_size < 1 || p->epochs < 0 || !(p->lr > 0) || p->label_smoothing < 0 ||
        p->label_smoothing >= 1)
        return gb_error(GB_ERR_ARG, "training: bad batch size, epochs, learning rate or label smoothing");
    if (train->n == 0) return gb_error(GB_ERR_ARG, "training set is empty");
    GB_TRY(check_compatible(m, train, "training"));
    if (test) GB_TRY(check_compatible(m, test, "test"));
    const int64_t N = train->n, B = p->batch_size;
    const int K = gb_model_num_classes(m);
    gb_optim opt;
    gb_checkpoint_state st = {0};
    gb_rng_seed(&st.rng, p->seed, 3);
    gb_model_set_seed(m, p->seed);
    int64_t *order = NULL;
    gb_tensor *x = NULL, *dlogits = NULL, *soft = NULL;
    int *labels = NULL;
    gb_status s = gb_optim_init(&opt, m, p);
    if (!s && p->resume && p->checkpoint) {
        FILE *f = fopen(p->checkpoint, "rb");
        if (f) {
            fclose(f);
            s = gb_checkpoint_load(p->checkpoint, m, &opt, &st);
            if (!s) m->rng = st.model_rng;
        }
    }
    if (!s) {
        order = gb_malloc((size_t)N * sizeof *order);
        labels = gb_malloc((size_t)B * sizeof *labels);
        int64_t xs[4] = {B, train->images->shape[1], train->images->shape[2], train->images->shape[3]};
        int64_t ls[2] = {B, K};
        x = gb_tensor_new(4, xs);
        dlogits = gb_tensor_new(2, ls);
        soft = p->label_smoothing > 0 ? gb_tensor_new(2, ls) : NULL;
        if (!order || !labels || !x || !dlogits || (p->label_smoothing > 0 && !soft)) s = GB_ERR_NOMEM;
    }
    int stop = 0;
    for (int epoch = st.epochs_done; epoch < p->epochs && !s; epoch++) {
        for (int64_t i = 0; i < N; i++) order[i] = i;
        for (int64_t i = N - 1; i > 0; i--) { /* Fisher-Yates */
            int64_t j = gb_rng_below(&st.rng, (uint32_t)(i + 1));
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        gb_model_set_training(m, 1);
        double t0 = gb_now(), loss_sum = 0;
        int64_t correct = 0, seen = 0;
        float lr = p->lr;
        for (int64_t start = 0; start < N && !s; start += B) {
            int64_t n = GB_MIN(B, N - start);
            int64_t xs[4] = {n, x->shape[1], x->shape[2], x->shape[3]};
            int64_t ls[2] = {n, K};
            gb_tensor_resize(x, 4, xs); /* shrinking never allocates */
            gb_tensor_resize(dlogits, 2, ls);
            gather(train, order + start, n, x, p->augment, &st.rng);
            for (int64_t b = 0; b < n; b++) labels[b] = train->labels[order[start + b]];
            if (soft) {
                gb_tensor_resize(soft, 2, ls);
                float off = p->label_smoothing / K;
                for (int64_t b = 0; b < n; b++)
                    for (int k = 0; k < K; k++)
                        soft->data[b * K + k] = off + (k == labels[b] ? 1 - p->label_smoothing : 0);
            }
            const gb_tensor *logits;
            float loss;
            s = gb_model_forward(m, x, &logits);
            if (!s) s = gb_loss_cross_entropy(logits, soft ? NULL : labels, soft, 1.0f, &loss, dlogits);
            if (s) break;
            if (!isfinite(loss)) {
                s = gb_error(GB_ERR_ARG, "training diverged at epoch %d (loss is %f): lower the learning rate",
                             epoch + 1, loss);
                break;
            }
            for (int64_t b = 0; b < n; b++) correct += argmax(logits->data + b * K, K) == labels[b];
            loss_sum += (double)loss * n;
            gb_model_zero_grad(m);
            s = gb_model_backward(m, dlogits, GB_GRAD_PARAMS, NULL);
            if (s) break;
            lr = gb_schedule_lr(p, epoch, (double)start / N);
            gb_optim_step(&opt, m, lr);
            seen += n;
            if (p->progress) {
                double el = gb_now() - t0;
                gb_train_progress pr = {epoch + 1, p->epochs, seen, N, (float)(loss_sum / seen),
                                        (float)correct / seen, seen / (el > 0 ? el : 1e-9), el,
                                        el / seen * (N - seen), 0, -1, lr};
                if (p->progress(&pr, p->user)) stop = 1;
            }
            if (stop) break;
        }
        if (s || stop) break;
        gb_model_set_training(m, 0);
        float test_acc = -1;
        if (test) s = gb_evaluate(m, test, 256, &test_acc, NULL);
        if (s) break;
        st.epochs_done = epoch + 1;
        st.model_rng = m->rng;
        if (p->checkpoint) s = gb_checkpoint_save(p->checkpoint, m, &opt, &st);
        if (p->progress) {
            double el = gb_now() - t0;
            gb_train_progress pr = {epoch + 1, p->epochs, N, N, (float)(loss_sum / N),
                                    (float)correct / N, N / (el > 0 ? el : 1e-9), el, 0, 1, test_acc, lr};
            if (p->progress(&pr, p->user)) break;
        }
    }
    gb_model_set_training(m, 0);
    gb_optim_free(&opt);
    gb_free(order);
    gb_free(labels);
    gb_tensor_free(x);
    gb_tensor_free(dlogits);
    gb_tensor_free(soft);
    return s;
}
