/* report_sections.c — the report's plots and tables: robust accuracy vs
 * eps per attack of the ensemble (cumulative: what survives that attack
 * and every earlier one), the ensemble's table, confidence histograms, and
 * the optional transfer matrix and defense comparison read from JSON files
 * other commands write (read tolerantly: any shape that carries the
 * documented keys renders). */
#include "eval/report.h"

#include <math.h>

#include "eval/svg.h"

#define esc gb_xml_escape
enum { MAX_ATTACKS = 16, MAX_MATRIX = 64, HIST_BINS = 10 };

static void pct(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.1f%%", 100 * v);
    else fputs("&ndash;", f);
}

static void num_or_dash(FILE *f, const gb_json *v, const char *fmt) {
    if (v && v->type == GB_JSON_NUMBER && isfinite(v->num)) fprintf(f, fmt, v->num);
    else fputs("&ndash;", f);
}

/* The attack names of every run, in first-seen order. */
static int attack_names(const gb_report_data *d, const char **names) {
    int n = 0;
    for (int i = 0; i < d->nruns; i++)
        for (int a = 0; a < gb_json_len(d->runs[i].attacks); a++) {
            const char *s = gb_json_string(gb_json_get(gb_json_at(d->runs[i].attacks, a), "name"), NULL);
            if (!s) continue;
            int k = 0;
            while (k < n && strcmp(names[k], s) != 0) k++;
            if (k == n && n < MAX_ATTACKS) names[n++] = s;
        }
    return n;
}

static const gb_json *find_attack(const gb_report_run *r, const char *name) {
    for (int a = 0; a < gb_json_len(r->attacks); a++) {
        const gb_json *at = gb_json_at(r->attacks, a);
        if (strcmp(gb_json_string(gb_json_get(at, "name"), ""), name) == 0) return at;
    }
    return NULL;
}

static void robust_curve(const gb_report_page *pg) {
    const gb_report_data *d = pg->d;
    const char *names[MAX_ATTACKS];
    int na = attack_names(d, names);
    const int np = d->nruns + 1;
    double *x = gb_calloc((size_t)np * (na + 1), sizeof *x), *y = gb_calloc((size_t)np * (na + 1), sizeof *y);
    gb_plot_series series[MAX_ATTACKS + 1];
    char labels[MAX_ATTACKS + 1][48];
    if (!x || !y) {
        gb_free(x);
        gb_free(y);
        return;
    }
    /* one series per attack (after it and every earlier one), the last is
     * the ensemble; all start at the clean accuracy at eps = 0 */
    int ns = na ? na : 1;
    for (int s = 0; s < ns; s++) {
        double *xs = x + (size_t)s * np, *ys = y + (size_t)s * np;
        xs[0] = 0, ys[0] = d->clean_accuracy;
        for (int i = 0; i < d->nruns; i++) {
            const gb_json *at = na ? find_attack(&d->runs[i], names[s]) : NULL;
            xs[i + 1] = d->runs[i].eps;
            ys[i + 1] = na ? gb_json_number(gb_json_get(at, "robust_accuracy"), NAN) : d->runs[i].robust_accuracy;
        }
        if (na) snprintf(labels[s], sizeof labels[s], "after %s", names[s]);
        else snprintf(labels[s], sizeof labels[s], "ensemble");
        series[s] = (gb_plot_series){labels[s], xs, ys, np};
    }
    char xl[64];
    snprintf(xl, sizeof xl, "epsilon (%s)", d->norm);
    gb_line_plot lp = {"Robust accuracy vs epsilon, cumulative over the ensemble", xl, "robust accuracy",
                       series, ns, 0, 0, 0, 1, NAN, NULL, 760, 400};
    gb_svg_line_plot(pg->f, &lp);
    gb_free(x);
    gb_free(y);
}

static void results_table(const gb_report_page *pg) {
    FILE *f = pg->f;
    const gb_report_data *d = pg->d;
    fputs("<table><tr><th>&epsilon;</th><th class=\"l\">attack</th><th>robust accuracy after it</th>"
          "<th>newly broken</th><th>evaluated</th><th>gradient evaluations</th><th>queries</th><th>time (s)</th></tr>\n",
          f);
    for (int i = 0; i < d->nruns; i++) {
        const gb_report_run *r = &d->runs[i];
        for (int a = 0; a < gb_json_len(r->attacks); a++) {
            const gb_json *at = gb_json_at(r->attacks, a);
            fprintf(f, "<tr><td>%g</td><td class=\"l\">", r->eps);
            esc(f, gb_json_string(gb_json_get(at, "name"), "?"));
            fputs("</td><td>", f);
            pct(f, gb_json_number(gb_json_get(at, "robust_accuracy"), NAN));
            const char *keys[4] = {"newly_broken", "evaluated", "grad_evals", "queries"};
            for (int k = 0; k < 4; k++) {
                fputs("</td><td>", f);
                num_or_dash(f, gb_json_get(at, keys[k]), "%.0f");
            }
            fputs("</td><td>", f);
            num_or_dash(f, gb_json_get(at, "time_s"), "%.1f");
            fputs("</td></tr>\n", f);
        }
        fprintf(f, "<tr class=\"total\"><td>%g</td><td class=\"l\">ensemble%s</td><td>", r->eps,
                r->complete ? "" : " (incomplete)");
        pct(f, r->robust_accuracy);
        fputs("</td><td></td><td></td><td></td><td></td><td>", f);
        if (isfinite(r->time_s)) fprintf(f, "%.1f", r->time_s);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

void gb_report_section_results(const gb_report_page *pg) {
    FILE *f = pg->f;
    fputs("<h2 id=\"robustness\">Robust accuracy</h2>\n<p>Each attack runs only on the examples that every "
          "earlier attack failed to break; a curve shows the accuracy that survives that attack and all before "
          "it, so the last one is the ensemble's robust accuracy. At &epsilon; = 0 it is the clean accuracy (",
          f);
    pct(f, pg->d->clean_accuracy);
    fputs(").</p>\n", f);
    robust_curve(pg);
    results_table(pg);
    gb_report_commands(pg, NULL);
}

void gb_report_section_confidence(const gb_report_page *pg) {
    FILE *f = pg->f;
    const gb_report_data *d = pg->d;
    fputs("<h2 id=\"confidence\">Confidence</h2>\n<p>Softmax probability of the predicted class for every "
          "evaluated example, on the clean image and on the adversarial one (the clean image when no attack "
          "broke it). A model fooled with high confidence is worse off than one that hesitates.</p>\n",
          f);
    static const char *const groups[2] = {"clean", "adversarial"};
    char cat[HIST_BINS][16];
    const char *cats[HIST_BINS];
    for (int b = 0; b < HIST_BINS; b++) {
        snprintf(cat[b], sizeof cat[b], "%.1f-%.1f", (double)b / HIST_BINS, (double)(b + 1) / HIST_BINS);
        cats[b] = cat[b];
    }
    int drawn = 0;
    for (int i = 0; i < d->nruns; i++) {
        const gb_report_run *r = &d->runs[i];
        if (!r->ex || r->n == 0) continue;
        double v[2 * HIST_BINS] = {0};
        for (int64_t j = 0; j < r->n; j++) {
            const float c[2] = {r->ex[j].clean_conf, r->ex[j].adv_conf};
            for (int g = 0; g < 2; g++)
                if (isfinite(c[g])) v[g * HIST_BINS + GB_MIN(GB_MAX((int)(c[g] * HIST_BINS), 0), HIST_BINS - 1)]++;
        }
        char title[96];
        snprintf(title, sizeof title, "Confidence at epsilon = %g (%lld examples)", r->eps, (long long)r->n);
        gb_bar_plot bp = {title, "softmax probability of the prediction", "examples", cats, HIST_BINS,
                          groups, 2, v, 0, 640, 300};
        gb_svg_bar_plot(f, &bp);
        drawn++;
    }
    if (!drawn) fputs("<p class=\"note\">No examples.csv was readable: no histograms.</p>\n", f);
    else gb_report_commands(pg, NULL);
}

/* A label from a JSON value: a string, an object's name/model/path, a number. */
static const char *label_of(const gb_json *v, int i, char *buf, size_t cap) {
    const char *s = gb_json_string(v, NULL);
    const char *keys[3] = {"name", "model", "path"};
    for (int k = 0; k < 3 && !s; k++) s = gb_json_string(gb_json_get(v, keys[k]), NULL);
    if (s) return s;
    if (v && v->type == GB_JSON_NUMBER) snprintf(buf, cap, "%g", v->num);
    else snprintf(buf, cap, "#%d", i);
    return buf;
}

/* The matrix of an object: "success", or "success_rate" as gibbon transfer
 * writes it. */
static const gb_json *success_of(const gb_json *v) {
    const gb_json *m = gb_json_get(v, "success");
    if (!m || m->type != GB_JSON_ARRAY) m = gb_json_get(v, "success_rate");
    return m && m->type == GB_JSON_ARRAY ? m : NULL;
}

/* The object that holds a success matrix: the top level or one nested up
 * to two levels down (a wrapper such as {"transfer": {...}} or a list). */
static const gb_json *find_matrix(const gb_json *v, int depth) {
    if (!v) return NULL;
    const gb_json *m;
    if (success_of(v)) return v;
    if (depth == 0 || (v->type != GB_JSON_OBJECT && v->type != GB_JSON_ARRAY)) return NULL;
    for (int i = 0; i < v->n; i++)
        if ((m = find_matrix(&v->items[i], depth - 1))) return m;
    return NULL;
}

static void source_command(const gb_report_page *pg, const gb_json *j, const char *path) {
    const char *cmd = gb_json_string(gb_json_get(j, "command"), NULL);
    FILE *f = pg->f;
    fputs("<pre class=\"cmd\">", f);
    if (cmd) esc(f, cmd);
    else {
        fputs("# ", f);
        esc(f, path);
        fputs(" does not record the command that made it", f);
    }
    fputc('\n', f);
    esc(f, pg->report_cmd);
    fputs("</pre>\n", f);
}

gb_status gb_report_section_transfer(const gb_report_page *pg, const char *path) {
    gb_json *j;
    GB_TRY(gb_json_read_file(path, &j));
    const gb_json *m = find_matrix(j, 2);
    if (!m) {
        gb_json_free(j);
        return gb_error(GB_ERR_FORMAT, "%s: no \"success\" matrix (expected {\"sources\": [...], \"targets\": [...], "
                                       "\"success\": [[...]]}, or \"success_rate\" as gibbon transfer writes)", path);
    }
    const gb_json *src = gb_json_get(m, "sources"), *tgt = gb_json_get(m, "targets"), *succ = success_of(m);
    int nr = GB_MIN(gb_json_len(src) ? gb_json_len(src) : gb_json_len(succ), MAX_MATRIX), nc = gb_json_len(tgt);
    if (!nc)
        for (int r = 0; r < gb_json_len(succ); r++) nc = GB_MAX(nc, gb_json_len(gb_json_at(succ, r)));
    nc = GB_MIN(nc, MAX_MATRIX);
    double *v = gb_malloc((size_t)GB_MAX(nr * nc, 1) * sizeof *v);
    char (*lab)[48] = gb_malloc((size_t)GB_MAX(nr + nc, 1) * sizeof *lab);
    const char **rows = gb_malloc((size_t)GB_MAX(nr, 1) * sizeof *rows), **cols = gb_malloc((size_t)GB_MAX(nc, 1) * sizeof *cols);
    gb_status s = v && lab && rows && cols ? GB_OK : GB_ERR_NOMEM;
    int unit = 1; /* all values in [0,1]: a success rate, shown as such */
    for (int r = 0; s == GB_OK && r < nr; r++)
        for (int c = 0; c < nc; c++) {
            v[r * nc + c] = gb_json_number(gb_json_at(gb_json_at(succ, r), c), NAN);
            if (isfinite(v[r * nc + c]) && (v[r * nc + c] < 0 || v[r * nc + c] > 1)) unit = 0;
        }
    for (int r = 0; s == GB_OK && r < nr; r++) rows[r] = label_of(gb_json_at(src, r), r, lab[r], sizeof lab[r]);
    for (int c = 0; s == GB_OK && c < nc; c++) cols[c] = label_of(gb_json_at(tgt, c), c, lab[nr + c], sizeof lab[nr + c]);
    if (s == GB_OK) {
        FILE *f = pg->f;
        fputs("<h2 id=\"transfer\">Transfer</h2>\n<p>Success rate of adversarial examples made on each source "
              "model (rows) against each target model (columns)", f);
        /* the attack: a name with a top-level eps, or an object {name, eps, ...} */
        const gb_json *atk = gb_json_get(m, "attack"), *eps = gb_json_get(m, "eps");
        if (!eps) eps = gb_json_get(atk, "eps");
        const char *aname = gb_json_string(atk, gb_json_string(gb_json_get(atk, "name"), NULL));
        if (eps && eps->type == GB_JSON_NUMBER) fprintf(f, ", &epsilon; = %g", eps->num);
        if (aname) {
            fputs(", attack <code>", f);
            esc(f, aname);
            fputs("</code>", f);
        }
        fputs(". From <code>", f);
        esc(f, path);
        fputs("</code>.</p>\n", f);
        gb_heatmap hm = {"Transfer success rate (source \xE2\x86\x92 target)", "target model", "source model",
                         rows, nr, cols, nc, v, 0, unit ? 1 : 0, unit ? "%.2f" : "%.3g"};
        s = gb_svg_heatmap(f, &hm);
        source_command(pg, j, path);
    }
    gb_free(v);
    gb_free(lab);
    gb_free(rows);
    gb_free(cols);
    gb_json_free(j);
    return s;
}

gb_status gb_report_section_defenses(const gb_report_page *pg, const char *path) {
    gb_json *j;
    GB_TRY(gb_json_read_file(path, &j));
    const gb_json *list = j->type == GB_JSON_ARRAY ? j : gb_json_get(j, "defenses");
    if (!list || list->type != GB_JSON_ARRAY) {
        gb_json_free(j);
        return gb_error(GB_ERR_FORMAT, "%s: expected a list of {\"name\", \"clean_accuracy\", \"robust_accuracy\", "
                                       "\"attack\", \"eps\"} (or {\"defenses\": [...]})", path);
    }
    int n = GB_MIN(list->n, MAX_MATRIX);
    double *v = gb_malloc((size_t)GB_MAX(2 * n, 1) * sizeof *v);
    const char **names = gb_malloc((size_t)GB_MAX(n, 1) * sizeof *names);
    char (*lab)[48] = gb_malloc((size_t)GB_MAX(n, 1) * sizeof *lab);
    if (!v || !names || !lab) {
        gb_free(v), gb_free(names), gb_free(lab), gb_json_free(j);
        return GB_ERR_NOMEM;
    }
    FILE *f = pg->f;
    fputs("<h2 id=\"defenses\">Defenses</h2>\n<p>From <code>", f);
    esc(f, path);
    fputs("</code>.</p>\n<table><tr><th class=\"l\">defense</th><th>clean accuracy</th><th>robust accuracy</th>"
          "<th class=\"l\">attack</th><th>&epsilon;</th></tr>\n", f);
    for (int i = 0; i < n; i++) {
        const gb_json *e = &list->items[i];
        names[i] = label_of(e, i, lab[i], sizeof lab[i]);
        v[i] = gb_json_number(gb_json_get(e, "clean_accuracy"), NAN);
        v[n + i] = gb_json_number(gb_json_get(e, "robust_accuracy"), NAN);
        fputs("<tr><td class=\"l\">", f);
        esc(f, names[i]);
        fputs("</td><td>", f);
        pct(f, v[i]);
        fputs("</td><td>", f);
        pct(f, v[n + i]);
        fputs("</td><td class=\"l\">", f);
        esc(f, gb_json_string(gb_json_get(e, "attack"), ""));
        fputs("</td><td>", f);
        num_or_dash(f, gb_json_get(e, "eps"), "%g");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    static const char *const groups[2] = {"clean accuracy", "robust accuracy"};
    gb_bar_plot bp = {"Defenses: clean vs robust accuracy", "defense", "accuracy", names, n, groups, 2, v, 1, 0, 300};
    gb_status s = gb_svg_bar_plot(f, &bp);
    source_command(pg, j, path);
    gb_free(v), gb_free(names), gb_free(lab);
    gb_json_free(j);
    return s;
}
