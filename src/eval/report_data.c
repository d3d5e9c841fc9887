/* report_data.c — reads what `gibbon eval` leaves in its output directory
 * (eval.json; per epsilon examples.csv) for the HTML report. Readers are
 * strict about structure they need (a run without eps is an error) and
 * tolerant about the rest (missing optional fields take defaults), so the
 * report still renders when eval grows new fields. */
#include "eval/report.h"

#include <errno.h>
#include <math.h>

#define CSV_MAX_BYTES ((size_t)1 << 30)

enum { COL_INDEX, COL_LABEL, COL_CLEAN_PRED, COL_CLEAN_CONF, COL_ADV_PRED, COL_ADV_CONF, COL_ROBUST, COL_BROKEN_BY,
       COL_LINF, COL_L2, NCOL };
static const char *const col_names[NCOL] = {"index",    "label",  "clean_pred", "clean_conf", "adv_pred",
                                            "adv_conf", "robust", "broken_by",  "linf",       "l2"};
/* Columns without which a row means nothing. */
static const int col_required[NCOL] = {1, 1, 1, 1, 1, 1, 0, 0, 0, 0};

/* Splits one CSV line in place (RFC 4180 quoting: "a,b" and "" for a quote)
 * into at most max fields; returns the count, or -1 for a broken quote. */
static int split_line(char *line, char **fields, int max) {
    int n = 0;
    char *r = line;
    for (;;) {
        char *w = r, *start = r;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r) return -1;
                if (*r == '"' && r[1] == '"') *w++ = '"', r += 2;
                else if (*r == '"') {
                    r++;
                    break;
                } else *w++ = *r++;
            }
            if (*r && *r != ',') return -1;
        } else {
            while (*r && *r != ',') *w++ = *r++;
        }
        char next = *r;
        *w = '\0';
        if (n < max) fields[n] = start;
        n++;
        if (!next) return n;
        r++;
    }
}

static int parse_long(const char *s, long long *v) {
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return end != s && *end == '\0' && !errno;
}

static int parse_float(const char *s, float *v) {
    char *end;
    double d = strtod(s, &end);
    *v = (float)d;
    return end != s && *end == '\0';
}

gb_status gb_report_read_csv(const char *path, gb_report_example **out, int64_t *nout) {
    *out = NULL;
    *nout = 0;
    char *text;
    size_t len;
    GB_TRY(gb_text_file_read(path, CSV_MAX_BYTES, &text, &len));
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    gb_report_example *ex = gb_calloc((size_t)lines + 1, sizeof *ex);
    if (!ex) {
        gb_free(text);
        return GB_ERR_NOMEM;
    }
    int col[NCOL];
    for (int c = 0; c < NCOL; c++) col[c] = -1;
    gb_status s = GB_OK;
    int64_t n = 0, lineno = 0;
    char *fields[64];
    for (char *line = text, *next; line && s == GB_OK; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r') line[--l] = '\0';
        lineno++;
        if (l == 0) continue;
        int nf = split_line(line, fields, 64);
        if (nf < 0) {
            s = gb_error(GB_ERR_FORMAT, "%s: line %lld: unbalanced quotes", path, (long long)lineno);
            break;
        }
        nf = GB_MIN(nf, 64);
        if (lineno == 1) {
            for (int f = 0; f < nf; f++)
                for (int c = 0; c < NCOL; c++)
                    if (strcmp(fields[f], col_names[c]) == 0 && col[c] < 0) col[c] = f;
            for (int c = 0; c < NCOL; c++)
                if (col_required[c] && col[c] < 0) {
                    s = gb_error(GB_ERR_FORMAT, "%s: the header has no '%s' column", path, col_names[c]);
                    break;
                }
            continue;
        }
        gb_report_example *e = &ex[n];
        long long v[4];
        const int ints[4] = {COL_INDEX, COL_LABEL, COL_CLEAN_PRED, COL_ADV_PRED};
        int ok = 1;
        for (int k = 0; k < 4 && ok; k++) ok = col[ints[k]] < nf && parse_long(fields[col[ints[k]]], &v[k]);
        ok = ok && v[0] >= 0 && v[1] >= 0 && v[1] < 65536 && v[2] >= 0 && v[2] < 65536 && v[3] >= 0 && v[3] < 65536;
        float *fl[4] = {&e->clean_conf, &e->adv_conf, &e->linf, &e->l2};
        const int fcols[4] = {COL_CLEAN_CONF, COL_ADV_CONF, COL_LINF, COL_L2};
        for (int k = 0; k < 4 && ok; k++) {
            *fl[k] = NAN;
            if (col[fcols[k]] >= 0) ok = col[fcols[k]] < nf && parse_float(fields[col[fcols[k]]], fl[k]);
        }
        if (!ok) {
            s = gb_error(GB_ERR_FORMAT, "%s: line %lld: a field is missing or not a number", path, (long long)lineno);
            break;
        }
        e->index = v[0], e->label = (int)v[1], e->clean_pred = (int)v[2], e->adv_pred = (int)v[3];
        const char *by = col[COL_BROKEN_BY] >= 0 && col[COL_BROKEN_BY] < nf ? fields[col[COL_BROKEN_BY]] : "";
        snprintf(e->broken_by, sizeof e->broken_by, "%s", by);
        long long r;
        if (col[COL_ROBUST] >= 0 && col[COL_ROBUST] < nf && parse_long(fields[col[COL_ROBUST]], &r)) e->robust = r != 0;
        else e->robust = e->adv_pred == e->label;
        n++;
    }
    gb_free(text);
    if (s == GB_OK && lineno == 0) s = gb_error(GB_ERR_FORMAT, "%s: empty file (no header)", path);
    if (s != GB_OK) {
        gb_free(ex);
        return s;
    }
    *out = ex;
    *nout = n;
    return GB_OK;
}

static int by_eps(const void *a, const void *b) {
    double x = ((const gb_report_run *)a)->eps, y = ((const gb_report_run *)b)->eps;
    return (x > y) - (x < y);
}

void gb_report_data_free(gb_report_data *d) {
    for (int i = 0; i < d->nruns; i++) gb_free(d->runs[i].ex);
    gb_free(d->runs);
    gb_json_free(d->eval);
    memset(d, 0, sizeof *d);
}

gb_status gb_report_load(const char *dir, gb_report_data *d) {
    memset(d, 0, sizeof *d);
    char path[4200];
    snprintf(path, sizeof path, "%s/eval.json", dir);
    GB_TRY(gb_json_read_file(path, &d->eval));
    const gb_json *e = d->eval;
    const gb_json *runs = gb_json_get(e, "runs");
    gb_status s = GB_OK;
    if (e->type != GB_JSON_OBJECT) s = gb_error(GB_ERR_FORMAT, "%s: not a JSON object", path);
    else if (!runs || runs->type != GB_JSON_ARRAY || runs->n == 0)
        s = gb_error(GB_ERR_FORMAT, "%s: no \"runs\" array (is this the output of gibbon eval --eps?)", path);
    if (s == GB_OK && !(d->runs = gb_calloc((size_t)runs->n, sizeof *d->runs))) s = GB_ERR_NOMEM;
    if (s != GB_OK) {
        gb_report_data_free(d);
        return s;
    }
    d->model = gb_json_string(gb_json_get(e, "model"), "?");
    d->data = gb_json_string(gb_json_get(e, "data"), "?");
    d->norm = gb_json_string(gb_json_get(e, "norm"), gb_json_string(gb_json_get(e, "threat_model"), "?"));
    d->command = gb_json_string(gb_json_get(e, "command"), NULL);
    d->version = gb_json_string(gb_json_get(e, "version"), NULL);
    d->clean_accuracy = gb_json_number(gb_json_get(e, "clean_accuracy"), gb_json_number(gb_json_get(e, "clean_acc"), NAN));
    d->n = (int64_t)gb_json_number(gb_json_get(e, "n"), 0);
    for (int i = 0; i < runs->n; i++) {
        const gb_json *r = &runs->items[i];
        gb_report_run *run = &d->runs[d->nruns];
        run->eps = gb_json_number(gb_json_get(r, "eps"), NAN);
        if (!isfinite(run->eps) || run->eps < 0) {
            s = gb_error(GB_ERR_FORMAT, "%s: runs[%d] has no valid \"eps\"", path, i);
            break;
        }
        run->robust_accuracy = gb_json_number(gb_json_get(r, "robust_accuracy"), NAN);
        run->time_s = gb_json_number(gb_json_get(r, "time_s"), NAN);
        run->complete = (int)gb_json_number(gb_json_get(r, "complete"), 1);
        run->dir = gb_json_string(gb_json_get(r, "dir"), NULL);
        run->attacks = gb_json_get(r, "attacks");
        if (run->attacks && run->attacks->type != GB_JSON_ARRAY) run->attacks = NULL;
        d->nruns++;
        /* A run's directory is a plain name inside dir: refuse anything that
         * would read elsewhere. */
        if (run->dir && (strstr(run->dir, "..") || run->dir[0] == '/' || !*run->dir)) {
            snprintf(run->csv_error, sizeof run->csv_error, "run directory '%.120s' is not a name inside the "
                     "evaluation directory", run->dir);
            continue;
        }
        if (!run->dir) continue;
        char csv[4600];
        snprintf(csv, sizeof csv, "%s/%s/examples.csv", dir, run->dir);
        if (gb_report_read_csv(csv, &run->ex, &run->n) != GB_OK)
            snprintf(run->csv_error, sizeof run->csv_error, "%.250s", gb_last_error());
    }
    if (s != GB_OK) {
        gb_report_data_free(d);
        return s;
    }
    qsort(d->runs, (size_t)d->nruns, sizeof *d->runs, by_eps);
    return GB_OK;
}
