/* bench_oracle.c — queries per second of the in-process oracle
 * (gb_oracle_from_model, scores) on a model: batches of B test images
 * scored repeatedly for about 2 s of CPU time (clock(), so a loaded machine
 * inflates it less than wall time). Built and run by bench/bench_blackbox.sh
 * (not part of bench_cnn).
 *   bench_oracle MODEL.onnx BATCH [BATCH...]   → "gibbon oracle: batch B: Q queries/s" */
#include <gibbon.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_oracle MODEL.onnx BATCH [BATCH...]\n");
        return 2;
    }
    /* The thread count the CLI would use (bench_blackbox.sh sets 1). */
    const char *threads = getenv("GIBBON_THREADS");
    gb_set_num_threads(threads ? atoi(threads) : 2);
    gb_model *m = NULL;
    gb_dataset *d = NULL;
    gb_oracle *o = NULL;
    if (gb_model_load_onnx(argv[1], &m) || gb_dataset_load("fashion-mnist:test:1000", &d) ||
        gb_oracle_from_model(m, GB_ORACLE_SCORES, &o)) {
        fprintf(stderr, "bench_oracle: %s\n", gb_last_error());
        return 1;
    }
    const int64_t D = d->images->shape[1] * d->images->shape[2] * d->images->shape[3];
    for (int a = 2; a < argc; a++) {
        const int64_t B = atoi(argv[a]);
        if (B <= 0 || B > d->n) {
            fprintf(stderr, "bench_oracle: batch %s outside 1..%lld\n", argv[a], (long long)d->n);
            return 2;
        }
        gb_tensor *x = gb_tensor_new4(B, d->images->shape[1], d->images->shape[2], d->images->shape[3]);
        gb_tensor *p = gb_tensor_new4(B, 1, 1, 1); /* resized by the query */
        memcpy(x->data, d->images->data, (size_t)(B * D) * sizeof(float));
        int *lab = malloc((size_t)B * sizeof(int));
        int64_t q0 = gb_oracle_queries(o);
        clock_t t0 = clock();
        double sec = 0;
        while (sec < 2.0) {
            if (gb_oracle_query(o, x, p, lab)) {
                fprintf(stderr, "bench_oracle: %s\n", gb_last_error());
                return 1;
            }
            sec = (double)(clock() - t0) / CLOCKS_PER_SEC;
        }
        printf("gibbon oracle: batch %lld: %.0f queries/s (CPU time)\n", (long long)B,
               (double)(gb_oracle_queries(o) - q0) / sec);
        free(lab);
        gb_tensor_free(x);
        gb_tensor_free(p);
    }
    gb_oracle_free(o);
    gb_dataset_free(d);
    gb_model_free(m);
    return 0;
}
