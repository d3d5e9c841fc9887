/* oracle.c — a model the attacker can only query (include/gibbon.h,
 * "black-box queries"): an in-process model with its gradients hidden, or
 * an external program spoken to over pipes with .npy arrays.
 *
 * The program protocol is one request, one reply, in lockstep: gibbon
 * writes a .npy float32 (N, C, H, W) batch to the program's stdin and reads
 * one .npy reply from its stdout, (N, K) float scores or (N,) int labels.
 * Both directions are non-blocking and multiplexed with poll() under one
 * deadline per exchange, so a program that stops reading, stops writing,
 * exits or stalls is an error after at most timeout seconds, never a hang
 * (and a program that answers before reading the whole batch cannot
 * deadlock us). Writing to a program that has exited raises SIGPIPE; we
 * block it on this thread around each write and swallow it, leaving the
 * process's signal handling as it was.
 */
#define _GNU_SOURCE /* pipe2, O_CLOEXEC */
#include "blackbox/blackbox.h"
#include "io/readers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

struct gb_oracle {
    gb_oracle_answer answer;
    int64_t queries, budget;
    int K;
    gb_model *m; /* in-process oracle */
    /* program oracle */
    char *command; /* shortened for messages */
    pid_t pid;     /* 0: none (reaped) */
    int to_child, from_child;
    double timeout;
    int broken; /* a failed exchange desynchronized the protocol */
    uint8_t *buf;
    size_t cap;
};

gb_oracle_answer gb_oracle_answer_kind(const gb_oracle *o) { return o->answer; }
int64_t gb_oracle_queries(const gb_oracle *o) { return o->queries; }
void gb_oracle_set_budget(gb_oracle *o, int64_t budget) { o->budget = budget > 0 ? budget : 0; }
int gb_oracle_num_classes(const gb_oracle *o) { return o->K; }

gb_status gb_oracle_from_model(gb_model *m, gb_oracle_answer answer, gb_oracle **out) {
    *out = NULL;
    if (!m) return gb_error(GB_ERR_ARG, "oracle: no model");
    if (answer != GB_ORACLE_SCORES && answer != GB_ORACLE_LABELS)
        return gb_error(GB_ERR_ARG, "oracle: answer kind %d unknown", (int)answer);
    gb_oracle *o = gb_calloc(1, sizeof *o);
    if (!o) return GB_ERR_NOMEM;
    o->answer = answer;
    o->m = m;
    o->K = gb_model_num_classes(m);
    *out = o;
    return GB_OK;
}

/* ---- the external program ----------------------------------------------------- */

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits up to grace_ms for the program to exit, then kills its process
 * group (the shell and whatever it started) and reaps it. *status gets the
 * wait status, or -1 if it had to be killed. The group is killed while its
 * leader is still unreaped, so its id cannot have been reused. */
static void reap(gb_oracle *o, int grace_ms, int *status) {
    int st = -1;
    if (o->pid > 0) {
        int exited = 0;
        for (int waited = 0;; waited += 5) {
            siginfo_t info;
            memset(&info, 0, sizeof info);
            if (waitid(P_PID, (id_t)o->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == o->pid) {
                exited = 1;
                break;
            }
            if (waited >= grace_ms) break;
            sleep_ms(5);
        }
        kill(-o->pid, SIGKILL);
        while (waitpid(o->pid, &st, 0) < 0 && errno == EINTR) {
        }
        if (!exited) st = -1;
    }
    o->pid = 0;
    if (status) *status = st;
}

static void close_pipes(gb_oracle *o) {
    if (o->to_child >= 0) close(o->to_child);
    if (o->from_child >= 0) close(o->from_child);
    o->to_child = o->from_child = -1;
}

/* Ends the program after a failed exchange and returns s with the message as set. */
static gb_status fail(gb_oracle *o, gb_status s) {
    o->broken = 1;
    close_pipes(o);
    reap(o, 0, NULL);
    return s;
}

/* The program ended its stdout before a complete reply: say how it ended. */
static gb_status died(gb_oracle *o, int64_t n) {
    int st;
    close_pipes(o);
    reap(o, 1000, &st);
    o->broken = 1;
    if (st != -1 && WIFEXITED(st))
        return gb_error(GB_ERR_IO, "oracle '%s': exited with status %d before answering a batch of %lld images",
                        o->command, WEXITSTATUS(st), (long long)n);
    if (st != -1 && WIFSIGNALED(st))
        return gb_error(GB_ERR_IO, "oracle '%s': killed by signal %d before answering a batch of %lld images",
                        o->command, WTERMSIG(st), (long long)n);
    return gb_error(GB_ERR_IO, "oracle '%s': closed its stdout before answering a batch of %lld images",
                    o->command, (long long)n);
}

/* write() without SIGPIPE reaching the process: block it on this thread,
 * and consume it if our write raised it (POSIX delivers it to the writing
 * thread). */
static ssize_t write_nosigpipe(int fd, const void *p, size_t n) {
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    ssize_t w = write(fd, p, n);
    int err = errno;
    if (w < 0 && err == EPIPE && !was_pending) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    errno = err;
    return w;
}

gb_status gb_oracle_spawn(const char *command, gb_oracle_answer answer, double timeout_s,
                          gb_oracle **out) {
    *out = NULL;
    if (!command || !*command) return gb_error(GB_ERR_ARG, "oracle: empty command");
    if (answer != GB_ORACLE_SCORES && answer != GB_ORACLE_LABELS)
        return gb_error(GB_ERR_ARG, "oracle: answer kind %d unknown", (int)answer);
    gb_oracle *o = gb_calloc(1, sizeof *o);
    if (!o) return GB_ERR_NOMEM;
    o->answer = answer;
    o->timeout = timeout_s > 0 ? timeout_s : 60;
    o->to_child = o->from_child = -1;
    o->command = gb_malloc(strlen(command) < 64 ? strlen(command) + 1 : 64);
    if (!o->command) {
        gb_free(o);
        return GB_ERR_NOMEM;
    }
    if (strlen(command) < 64) {
        strcpy(o->command, command);
    } else {
        memcpy(o->command, command, 60);
        strcpy(o->command + 60, "...");
    }

    int in[2] = {-1, -1}, outp[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
        gb_status s = gb_error(GB_ERR_IO, "oracle '%s': cannot create pipes: %s", o->command, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (outp[i] >= 0) close(outp[i]);
        }
        gb_oracle_free(o);
        return s;
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
    posix_spawnattr_init(&attr);
    /* Own process group (so a timeout kills the shell and what it runs),
     * default SIGPIPE and an empty mask whatever the caller set. */
    sigset_t none, pipe_set;
    sigemptyset(&none);
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &pipe_set);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(outp[1]);
    o->to_child = in[1];
    o->from_child = outp[0];
    if (rc != 0) {
        gb_status s = gb_error(GB_ERR_IO, "oracle '%s': cannot start /bin/sh: %s", o->command, strerror(rc));
        gb_oracle_free(o);
        return s;
    }
    o->pid = pid;
    fcntl(o->to_child, F_SETFL, fcntl(o->to_child, F_GETFL) | O_NONBLOCK);
    fcntl(o->from_child, F_SETFL, fcntl(o->from_child, F_GETFL) | O_NONBLOCK);
    *out = o;
    return GB_OK;
}

/* Checks a reply header against the batch of n images. */
static gb_status check_reply(gb_oracle *o, int64_t n, int ndim, const int64_t *shape, gb_npy_dtype dt) {
    char shp[32 * GB_MAX_DIMS];
    gb_shape_str(ndim, shape, shp, sizeof shp);
    int is_float = dt == GB_NPY_F4 || dt == GB_NPY_F8;
    int is_int = dt == GB_NPY_I4 || dt == GB_NPY_I8;
    if (ndim == 2 && is_float && shape[0] == n) {
        if (shape[1] < 2 || shape[1] > 1000000)
            return gb_error(GB_ERR_FORMAT, "oracle '%s': reply %s has %lld classes", o->command, shp,
                            (long long)shape[1]);
        if (o->K && shape[1] != o->K)
            return gb_error(GB_ERR_FORMAT, "oracle '%s': reply %s has %lld classes, earlier replies %d",
                            o->command, shp, (long long)shape[1], o->K);
        return GB_OK;
    }
    if (ndim == 1 && is_int && shape[0] == n && o->answer == GB_ORACLE_LABELS) return GB_OK;
    return gb_error(GB_ERR_FORMAT, "oracle '%s': reply is %s %s for a batch of %lld images (want float32 (%lld, K)%s)",
                    o->command, gb_npy_dtype_name(dt), shp, (long long)n, (long long)n,
                    o->answer == GB_ORACLE_LABELS ? " or int32/int64 labels" : " scores");
}

/* One exchange: writes the batch, reads the reply into o->buf. On success
 * *data points at the reply's elements. */
static gb_status exchange(gb_oracle *o, const gb_tensor *x, const uint8_t **data, int *ndim,
                          int64_t *shape, gb_npy_dtype *dt) {
    const int64_t n = x->shape[0];
    char head[GB_NPY_HEADER_MAX];
    size_t hl = gb_npy_header_encode(head, "<f4", 4, x->shape);
    const size_t req = hl + (size_t)x->size * sizeof(float);
    size_t sent = 0, got = 0, hlen = 0, total = 0;
    const double deadline = gb_now() + o->timeout;
    for (;;) {
        if (sent == req && total && got == total) break;
        double left = deadline - gb_now();
        if (left <= 0)
            return fail(o, gb_error(GB_ERR_IO, "oracle '%s': no complete answer to a batch of %lld images within %g s (timeout); killed it",
                                    o->command, (long long)n, o->timeout));
        struct pollfd pf[2] = {{o->from_child, POLLIN, 0}, {o->to_child, POLLOUT, 0}};
        int npf = sent < req ? 2 : 1;
        int ms = (int)GB_MIN(left * 1000 + 1, 1000000.0);
        int pr = poll(pf, (nfds_t)npf, ms);
        if (pr < 0 && errno != EINTR)
            return fail(o, gb_error(GB_ERR_IO, "oracle '%s': poll: %s", o->command, strerror(errno)));
        if (pr <= 0) continue;
        if (npf == 2 && (pf[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
            const uint8_t *src = sent < hl ? (const uint8_t *)head + sent : (const uint8_t *)x->data + (sent - hl);
            size_t len = sent < hl ? hl - sent : req - sent;
            ssize_t w = write_nosigpipe(o->to_child, src, len);
            if (w > 0) {
                sent += (size_t)w;
            } else if (w < 0 && errno == EPIPE) {
                /* It stopped reading: it has probably exited; the read side says how. */
                close(o->to_child);
                o->to_child = -1;
                return died(o, n);
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                return fail(o, gb_error(GB_ERR_IO, "oracle '%s': write: %s", o->command, strerror(errno)));
            }
        }
        if (pf[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            size_t want = total ? total - got : 4096;
            if (got + want > o->cap) {
                size_t cap = GB_MAX(got + want, 2 * o->cap);
                uint8_t *nb = gb_realloc(o->buf, cap);
                if (!nb) return fail(o, GB_ERR_NOMEM);
                o->buf = nb;
                o->cap = cap;
            }
            ssize_t r = read(o->from_child, o->buf + got, want);
            if (r == 0) return died(o, n);
            if (r < 0 && errno != EAGAIN && errno != EINTR)
                return fail(o, gb_error(GB_ERR_IO, "oracle '%s': read: %s", o->command, strerror(errno)));
            if (r > 0) got += (size_t)r;
            if (!total && got) {
                size_t esize;
                char what[96];
                snprintf(what, sizeof what, "oracle '%s': reply", o->command);
                gb_status s = gb_npy_header_decode(what, o->buf, got, &hlen, ndim, shape, dt, &esize);
                if (s) return fail(o, s);
                if (hlen) {
                    s = check_reply(o, n, *ndim, shape, *dt);
                    if (s) return fail(o, s);
                    total = hlen + (size_t)(shape[0] * (*ndim == 2 ? shape[1] : 1)) * esize;
                }
            }
            if (total && got > total)
                return fail(o, gb_error(GB_ERR_FORMAT, "oracle '%s': %zu bytes after its reply (one reply per request)",
                                        o->command, got - total));
        }
    }
    *data = o->buf + hlen;
    return GB_OK;
}

/* Probabilities and labels from a program's reply. */
static gb_status read_reply(gb_oracle *o, const uint8_t *data, int ndim, const int64_t *shape,
                            gb_npy_dtype dt, gb_tensor *probs, int want_log, int *labels) {
    const int64_t n = shape[0];
    if (ndim == 1) {
        for (int64_t i = 0; i < n; i++) {
            float v;
            gb_npy_convert(&v, data + i * (dt == GB_NPY_I4 ? 4 : 8), 1, dt);
            if (!(v >= 0 && v < 1e6f))
                return fail(o, gb_error(GB_ERR_FORMAT, "oracle '%s': label %g of image %lld is not a class",
                                        o->command, v, (long long)i));
            if (labels) labels[i] = (int)v;
        }
        return GB_OK;
    }
    const int64_t K = shape[1];
    int64_t sh[2] = {n, K};
    gb_tensor tmp = {0};
    gb_tensor *p = probs ? probs : &tmp;
    GB_TRY(gb_tensor_resize(p, 2, sh));
    gb_npy_convert(p->data, data, (size_t)(n * K), dt);
    gb_status s = GB_OK;
    for (int64_t i = 0; i < n && !s; i++) {
        const float *row = p->data + i * K;
        double sum = 0;
        int best = 0, ok = 1;
        for (int64_t k = 0; k < K; k++) {
            ok &= row[k] >= 0 && row[k] <= 1;
            sum += row[k];
            if (row[k] > row[best]) best = (int)k;
        }
        if (!ok || fabs(sum - 1) > 1e-3)
            s = gb_error(GB_ERR_FORMAT, "oracle '%s': scores of image %lld are not probabilities (values in [0,1] summing to 1; sum %g): apply softmax",
                         o->command, (long long)i, sum);
        else if (labels)
            labels[i] = best;
    }
    if (!s) o->K = (int)K;
    /* Probabilities that underflowed to 0 get the smallest float's log. */
    for (int64_t i = 0; i < n * K && !s && want_log; i++) p->data[i] = logf(GB_MAX(p->data[i], 1e-45f));
    gb_tensor_release(&tmp);
    return s ? fail(o, s) : GB_OK;
}

/* ---- queries -------------------------------------------------------------------- */

static gb_status query_model(gb_oracle *o, const gb_tensor *x, gb_tensor *probs, int want_log,
                             int *labels) {
    const gb_tensor *z;
    int was = o->m->training;
    gb_model_set_training(o->m, 0);
    gb_status s = gb_model_forward(o->m, x, &z);
    gb_model_set_training(o->m, was);
    if (s) return s;
    const int64_t n = x->shape[0], K = z->size / (n ? n : 1);
    if (probs) {
        int64_t sh[2] = {n, K};
        GB_TRY(gb_tensor_resize(probs, 2, sh));
    }
    for (int64_t i = 0; i < n; i++) {
        const float *row = z->data + i * K;
        int best = gb_argmax(row, K);
        if (labels) labels[i] = best;
        if (!probs) continue;
        double sum = 0;
        for (int64_t k = 0; k < K; k++) sum += exp((double)row[k] - row[best]);
        const double lse = log(sum);
        for (int64_t k = 0; k < K; k++) {
            double lp = (double)row[k] - row[best] - lse;
            probs->data[i * K + k] = (float)(want_log ? lp : exp(lp));
        }
    }
    return GB_OK;
}

gb_status gb_oracle_query(gb_oracle *o, const gb_tensor *x, gb_tensor *probs, int *labels) {
    return gb_oracle_ask(o, x, probs, 0, labels);
}

gb_status gb_oracle_ask(gb_oracle *o, const gb_tensor *x, gb_tensor *probs, int want_log, int *labels) {
    if (x->ndim != 4) return gb_error(GB_ERR_SHAPE, "oracle: images must be (N, C, H, W)");
    if (probs && o->answer == GB_ORACLE_LABELS)
        return gb_error(GB_ERR_ARG, "oracle: it answers labels only, not scores");
    const int64_t n = x->shape[0];
    if (o->budget > 0 && o->queries + n > o->budget)
        return gb_error(GB_ERR_BUDGET, "oracle: query budget of %lld images spent (%lld asked, %lld more wanted)",
                        (long long)o->budget, (long long)o->queries, (long long)n);
    if (n == 0) return GB_OK;
    gb_status s;
    if (o->m) {
        s = query_model(o, x, probs, want_log, labels);
    } else {
        if (o->broken || o->pid <= 0)
            return gb_error(GB_ERR_IO, "oracle '%s': no longer running after an earlier failure", o->command);
        const uint8_t *data;
        int ndim;
        int64_t shape[GB_MAX_DIMS];
        gb_npy_dtype dt;
        s = exchange(o, x, &data, &ndim, shape, &dt);
        if (!s) s = read_reply(o, data, ndim, shape, dt, probs, want_log, labels);
    }
    if (!s) o->queries += n;
    return s;
}

void gb_oracle_free(gb_oracle *o) {
    if (!o) return;
    if (o->to_child >= 0) close(o->to_child); /* end of input: the program should exit */
    o->to_child = -1;
    reap(o, 2000, NULL);
    close_pipes(o);
    gb_free(o->buf);
    gb_free(o->command);
    gb_free(o);
}
