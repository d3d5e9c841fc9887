/* dist_mpi.c — dist.h over MPI (make MPI=1), or a single-process fallback.
 *
 * The work queue is a window of DIST_COUNTERS int64 counters on rank 0,
 * updated with MPI_Fetch_and_op under a passive-target lock: ranks take
 * the next item without rank 0 having to answer (it is busy computing
 * its own items), so a rank that finishes early just takes more. */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef GB_MPI
#include <mpi.h>

static int inited, rank, size = 1;
static MPI_Win win;
static int64_t *counters;

static void finalize(void) {
    MPI_Win_free(&win);
    MPI_Finalize();
}

void dist_init(void) {
    /* Only under mpirun (or another PMIx/PMI launcher): a plain run must not
     * pay for MPI singleton start-up. */
    if (inited || (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))) return;
    inited = 1;
    MPI_Init(NULL, NULL);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Aint bytes = rank == 0 ? (MPI_Aint)(DIST_COUNTERS * sizeof(int64_t)) : 0;
    MPI_Win_allocate(bytes, sizeof(int64_t), MPI_INFO_NULL, MPI_COMM_WORLD, &counters, &win);
    if (rank == 0)
        for (int k = 0; k < DIST_COUNTERS; k++) counters[k] = 0;
    MPI_Barrier(MPI_COMM_WORLD); /* counters zeroed before anyone takes one */
    atexit(finalize);
}

int dist_rank(void) { return rank; }
int dist_size(void) { return size; }

void dist_barrier(void) {
    if (size > 1) MPI_Barrier(MPI_COMM_WORLD);
}

int64_t dist_next(int k) {
    static int64_t local[DIST_COUNTERS];
    if (k < 0 || k >= DIST_COUNTERS) return INT64_MAX;
    if (size == 1) return local[k]++;
    int64_t one = 1, old = 0;
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, win);
    MPI_Fetch_and_op(&one, &old, MPI_INT64_T, 0, k, MPI_SUM, win);
    MPI_Win_unlock(0, win);
    return old;
}

int dist_allreduce_sum(float *buf, int64_t n) {
    /* MPI counts are ints: large buffers go in pieces. Open MPI's reductions
     * combine a given element in one fixed order and hand every rank that
     * result, so all ranks hold the same bits (the training steps stay
     * identical across ranks). */
    for (int64_t off = 0; size > 1 && off < n; off += 1 << 30) {
        int count = (int)(n - off < (1 << 30) ? n - off : 1 << 30);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
    }
    return 0;
}

_Noreturn void dist_abort(int rc) {
    fflush(NULL);
    if (size > 1) MPI_Abort(MPI_COMM_WORLD, rc);
    exit(rc);
}

#else /* one process */

void dist_init(void) {
    static int warned;
    const char *k = getenv("OMPI_COMM_WORLD_SIZE");
    if (!warned && k && atoi(k) > 1 && getenv("OMPI_COMM_WORLD_RANK") && atoi(getenv("OMPI_COMM_WORLD_RANK")) == 0)
        fprintf(stderr, "gibbon: started by mpirun, but built without MPI (make MPI=1): every process runs the "
                        "whole job\n");
    warned = 1;
}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
void dist_barrier(void) {}

int64_t dist_next(int k) {
    static int64_t local[DIST_COUNTERS];
    return k >= 0 && k < DIST_COUNTERS ? local[k]++ : INT64_MAX;
}

int dist_allreduce_sum(float *buf, int64_t n) {
    (void)buf;
    (void)n;
    return 0; /* one rank: the sum is the buffer itself */
}

_Noreturn void dist_abort(int rc) {
    fflush(NULL);
    exit(rc);
}

#endif
