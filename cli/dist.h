/* dist.h — the CLI's view of running as one of K processes (MPI ranks).
 * Built with `make MPI=1` (-DGB_MPI) these use MPI when the process was
 * started by mpirun; otherwise (or in the default build) the process is
 * rank 0 of 1 and every call is a cheap no-op. The library never sees MPI. */
#ifndef GB_CLI_DIST_H
#define GB_CLI_DIST_H

#include <stdint.h>

enum { DIST_COUNTERS = 64 }; /* shared counters available to dist_next */

/* Joins the MPI job if launched by mpirun (idempotent; finalizes at exit). */
void dist_init(void);
int dist_rank(void);
int dist_size(void);
void dist_barrier(void);
/* Atomically returns counter k's value, then adds 1: a work queue held by
 * rank 0 that every rank takes items from as it gets free. */
int64_t dist_next(int k);
/* Sums buf[0..n) element-wise over all ranks, in place, the same bits on
 * every rank (MPI_Allreduce); 0 on success. For data-parallel training. */
int dist_allreduce_sum(float *buf, int64_t n);
/* Ends every rank of the job (a rank failing mid-run would leave the others
 * waiting at the next barrier). */
_Noreturn void dist_abort(int rc);

#endif
