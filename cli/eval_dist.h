/* eval_dist.h — `mpirun -n K gibbon eval --eps ...`: the chunks of a budget
 * shared among K ranks (cli/dist.h), rank 0 gathering them. */
#ifndef GB_EVAL_DIST_H
#define GB_EVAL_DIST_H

#include "gibbon.h"
#include "internal.h"

/* Attacks examples [start, start + cnt) of d, results into x_adv (cnt
 * images), ex and st (cnt rows), and saves them as the chunk file path. */
gb_status eval_chunk_compute(const gb_autoattack *p, int count, gb_model *m, const gb_dataset *d, int64_t start,
                             int64_t cnt, float *x_adv, gb_aa_example *ex, gb_aa_stats *st, const char *path);

/* Every rank takes chunk indices of one budget from rank 0's queue (counter
 * slot) and computes those whose chunk file under state/ is missing or
 * corrupt, until none are left or, having computed one, the deadline has
 * passed; then waits for all ranks. Chunk files are the results: rank 0
 * reads them afterwards exactly as when resuming, so the outputs are a
 * single process's. A failing rank ends the job (its chunk is redone on
 * the next run). *computed counts this rank's chunks. */
void eval_dist_chunks(const gb_autoattack *p, int count, gb_model *m, const gb_dataset *d, int64_t n, int batch,
                      const char *state, int slot, double deadline, int *computed);

#endif
