/* eval_robust.h — `gibbon eval --eps`: the AutoAttack ensemble, resumable. */
#ifndef GB_EVAL_ROBUST_H
#define GB_EVAL_ROBUST_H

#include "gibbon.h"

typedef struct eval_robust_opts {
    const char *model, *data, *out, *norm, *eps, *version, *attacks;
    int n, batch, iters, targets, queries, fresh, report; /* report: also write DIR/report.html */
    float time_budget; /* seconds; 0: none */
    uint64_t seed;
    int argc; /* the command line, for eval.json */
    char **argv;
} eval_robust_opts;

/* Evaluates m on the first o->n examples of d (all if 0); returns an exit code. */
int eval_robust(const eval_robust_opts *o, gb_model *m, const gb_dataset *d);

#endif
