/* report_compare.c — the report's defense comparison made from other
 * evaluations: several `gibbon eval --eps` directories (a plain model, an
 * adversarially trained one, a model behind an input transformation
 * attacked naively and adaptively, ...) side by side, one row per model and
 * eps: clean and robust accuracy, the attacks that ran, n, and the flags
 * each evaluation raised, so a defense that only looks robust (flagged)
 * stands out next to one that is. */
#include "eval/report.h"

#include <math.h>

#include "eval/svg.h"

#define esc gb_xml_escape
enum { MAX_DIRS = 16, MAX_ROWS = 64 };

/* "fmnist_cnn + bits:4 + BPDA": the model file's name, and the --defense
 * and --bpda of the evaluation's command line. */
static void row_name(const gb_report_data *d, char *buf, size_t cap) {
    const char *m = d->model ? d->model : "?", *slash = strrchr(m, '/');
    m = slash ? slash + 1 : m;
    size_t len = strlen(m);
    if (len > 5 && strcmp(m + len - 5, ".onnx") == 0) len -= 5;
    int k = snprintf(buf, cap, "%.*s", (int)len, m);
    const char *cmd = d->command ? d->command : "", *def = strstr(cmd, " --defense ");
    if (def && k >= 0 && (size_t)k < cap) {
        def += strlen(" --defense ");
        k += snprintf(buf + k, cap - (size_t)k, " + %.*s", (int)strcspn(def, " "), def);
    }
    if (strstr(cmd, " --bpda") && k >= 0 && (size_t)k < cap) snprintf(buf + k, cap - (size_t)k, " + BPDA");
}

gb_status gb_report_section_compare(const gb_report_page *pg, const char *dirs) {
    gb_report_data d[MAX_DIRS];
    char names[MAX_ROWS][16];
    const char *cats[MAX_ROWS];
    double v[2 * MAX_ROWS];
    int nd = 0, rows = 0, total = 0;
    gb_status s = GB_OK;
    for (const char *p = dirs; *p && !s;) {
        size_t len = strcspn(p, ",");
        char dir[4096];
        if (len == 0 || len >= sizeof dir) s = gb_error(GB_ERR_ARG, "report: bad --compare list '%s'", dirs);
        else if (nd == MAX_DIRS) s = gb_error(GB_ERR_ARG, "report: --compare takes at most %d directories", MAX_DIRS);
        else {
            snprintf(dir, sizeof dir, "%.*s", (int)len, p);
            s = gb_report_load(dir, &d[nd]);
            if (!s) nd++;
        }
        p += len + (p[len] == ',');
    }
    FILE *f = pg->f;
    if (!s) {
        fputs("<h2 id=\"compare\">Defense comparison</h2>\n<p>Each row is an evaluation of its own (the commands "
              "are below); a flagged row is one whose attacks were not trustworthy: its robust accuracy is an "
              "upper bound, not a measurement.</p>\n<table><tr><th>#</th><th class=\"l\">model</th><th>&epsilon;</th>"
              "<th>n</th><th>clean accuracy</th><th>robust accuracy</th><th class=\"l\">attacks</th>"
              "<th class=\"l\">flags</th></tr>\n",
              f);
        for (int i = 0; i < nd; i++) {
            char name[96];
            row_name(&d[i], name, sizeof name);
            const gb_json *flags = gb_json_get(d[i].eval, "flags");
            for (int r = 0; r < d[i].nruns; r++) {
                const gb_report_run *run = &d[i].runs[r];
                /* The chart names rows by number: model names are too long
                 * to stand side by side under the bars. */
                fprintf(f, "<tr><td>%d</td><td class=\"l\">", ++total);
                if (rows < MAX_ROWS) { /* the chart shows the first MAX_ROWS */
                    snprintf(names[rows], sizeof names[rows], "#%d", total);
                    cats[rows] = names[rows];
                    v[rows] = d[i].clean_accuracy;
                    v[MAX_ROWS + rows] = run->robust_accuracy;
                    rows++;
                }
                esc(f, name);
                fprintf(f, "</td><td>%g</td><td>%lld</td><td>%.1f%%</td><td>%.1f%%%s</td><td class=\"l\">", run->eps,
                        (long long)d[i].n, 100 * d[i].clean_accuracy, 100 * run->robust_accuracy,
                        run->complete ? "" : " (incomplete)");
                esc(f, d[i].version ? d[i].version : "");
                fputs(":", f);
                for (int a = 0; a < gb_json_len(run->attacks); a++) {
                    fputs(a ? ", " : " ", f);
                    esc(f, gb_json_string(gb_json_get(gb_json_at(run->attacks, a), "name"), "?"));
                }
                fputs("</td><td class=\"l\">", f);
                for (int k = 0; k < gb_json_len(flags); k++) {
                    fputs(k ? ", " : "<b>", f);
                    esc(f, gb_json_string(gb_json_get(gb_json_at(flags, k), "code"), "flag"));
                }
                fputs(gb_json_len(flags) ? "</b>" : "none", f);
                fputs("</td></tr>\n", f);
            }
        }
        fputs("</table>\n", f);
        /* The plot wants groups as rows of (ngroups, ncat): pack them. */
        memmove(v + rows, v + MAX_ROWS, (size_t)rows * sizeof *v);
        static const char *const groups[2] = {"clean accuracy", "robust accuracy"};
        gb_bar_plot bp = {"Clean vs robust accuracy per evaluation", "row of the table", "accuracy", cats, rows, groups,
                          2, v, 1, 0, 300};
        if (rows) s = gb_svg_bar_plot(f, &bp);
        fputs("<pre class=\"cmd\">", f);
        for (int i = 0; i < nd; i++) {
            esc(f, d[i].command ? d[i].command : "# (no command recorded)");
            fputc('\n', f);
        }
        esc(f, pg->report_cmd);
        fputs("</pre>\n", f);
    }
    for (int i = 0; i < nd; i++) gb_report_data_free(&d[i]);
    return s;
}
