/* eval_confidence_adv.h — `gibbon eval --confidence`'s adversarial part. */
#ifndef GB_EVAL_CONFIDENCE_ADV_H
#define GB_EVAL_CONFIDENCE_ADV_H

#include "gibbon.h"

#include <stdio.h>

/* FGSM at eps on images x (N, C, H, W) with labels y, `batch` at a time:
 * prints and appends to the open confidence.json object js (as
 * ',\n  "adversarial": {...}') the accuracy, ECE, mean confidence of clean
 * and of fooled adversarial predictions and the histograms of clean, all
 * adversarial and fooled confidences; writes out/reliability_adversarial.svg
 * and out/confidence_hist.svg (atomically). Returns a CLI exit code. */
int eval_confidence_adv(gb_model *m, const gb_tensor *x, const int *y, float eps, int batch, uint64_t seed,
                        const char *out, FILE *js);

#endif
