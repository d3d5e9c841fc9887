/* report.c — `gibbon report`: one self-contained HTML page from an
 * evaluation directory (report_data.c reads it). The page needs nothing but
 * itself: CSS inline, plots as inline SVG (svg.c), the adversarial-example
 * figures (figure.c, the seed's clean + perturbation = adversarial panel) as
 * PNG data: URIs. Every string that came from a file is escaped. */
#include "eval/report.h"

#include <ctype.h>
#include <math.h>

#include "eval/figure.h"
#include "eval/svg.h"
#include "io/png.h"

#define esc gb_xml_escape

gb_report_params gb_report_default_params(void) {
    gb_report_params p = {0};
    p.examples = 4;
    return p;
}

static const char *const css =
    "body{font-family:sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222;line-height:1.4}"
    "h1{font-size:26px;margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ccc;padding-bottom:4px}"
    ".meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}"
    ".card{border:1px solid #ccc;border-radius:6px;padding:8px 14px;min-width:120px}"
    ".card b{display:block;font-size:24px}"
    ".flag{border-radius:6px;padding:10px 14px;margin:8px 0;border-left:6px solid}"
    ".flag.error{background:#fdecea;border-color:#c0392b}.flag.warning{background:#fff6e0;border-color:#d68910}"
    ".flag.info{background:#eaf2fb;border-color:#2e6fbd}.flag.ok{background:#eaf7ef;border-color:#27936a}"
    ".flag code{font-weight:bold}"
    "table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}"
    "th{background:#f3f3f3}td.l,th.l{text-align:left}tr.total td{font-weight:bold;background:#fafafa}"
    "pre.cmd{background:#f6f6f6;border:1px solid #ddd;padding:8px;white-space:pre-wrap;word-break:break-all;"
    "font-size:12px}.figs{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:12px}"
    "figure{margin:0}figure img{width:100%;height:auto;border:1px solid #eee}"
    "figcaption{color:#444;font-size:14px}.note{color:#8a5a00}svg{max-width:100%;height:auto}";

/* A command-line argument, single-quoted for a POSIX shell when needed. */
static void shell_arg(char *buf, size_t cap, size_t *len, const char *a) {
    int plain = *a != '\0';
    for (const char *c = a; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("-_./:,=+@%", *c))) plain = 0;
    size_t n = *len;
#define PUT(ch) (n + 1 < cap ? (void)(buf[n++] = (ch)) : (void)0)
    if (n) PUT(' ');
    if (plain)
        for (const char *c = a; *c; c++) PUT(*c);
    else {
        PUT('\'');
        for (const char *c = a; *c; c++) {
            if (*c == '\'') {
                PUT('\''), PUT('\\'), PUT('\''), PUT('\'');
            } else PUT(*c);
        }
        PUT('\'');
    }
#undef PUT
    buf[n] = '\0';
    *len = n;
}

static void report_command(char *buf, size_t cap, const char *dir, const gb_report_params *p) {
    size_t n = 0;
    char k[32];
    buf[0] = '\0';
    const char *args[16];
    int na = 0;
    args[na++] = "gibbon", args[na++] = "report", args[na++] = "--in", args[na++] = dir;
    if (p->out) args[na++] = "--out", args[na++] = p->out;
    if (p->transfer) args[na++] = "--transfer", args[na++] = p->transfer;
    if (p->defenses) args[na++] = "--defenses", args[na++] = p->defenses;
    if (p->compare) args[na++] = "--compare", args[na++] = p->compare;
    if (p->examples != 4) snprintf(k, sizeof k, "%d", p->examples), args[na++] = "--examples", args[na++] = k;
    for (int i = 0; i < na; i++) shell_arg(buf, cap, &n, args[i]);
}

void gb_report_commands(const gb_report_page *pg, const char *extra) {
    FILE *f = pg->f;
    fputs("<pre class=\"cmd\">", f);
    if (pg->d->command) {
        esc(f, pg->d->command);
        fputc('\n', f);
    } else {
        fputs("# (eval.json does not record the command that made it)\n", f);
    }
    esc(f, extra ? extra : pg->report_cmd);
    fputs("</pre>\n", f);
}

static const char *class_name(const gb_report_data *d, const gb_dataset *ds, int k, char *buf, size_t cap) {
    const gb_json *classes = gb_json_get(d->eval, "classes");
    const char *s = gb_json_string(gb_json_at(classes, k), NULL);
    if (!s && ds && ds->class_names && k >= 0 && k < ds->num_classes) s = ds->class_names[k];
    if (s) return s;
    snprintf(buf, cap, "class %d", k);
    return buf;
}

static void base64(FILE *f, const unsigned char *b, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        fputc(tab[v >> 18 & 63], f);
        fputc(tab[v >> 12 & 63], f);
        fputc(i + 1 < n ? tab[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? tab[v & 63] : '=', f);
    }
}

static int is_broken(const gb_report_example *e) {
    return !e->robust && e->clean_pred == e->label && e->broken_by[0] && strcmp(e->broken_by, "clean") != 0;
}

typedef struct pick {
    float conf;
    int64_t index, row;
} pick;

/* Most confident mistakes first: the most striking figures. */
static int by_adv_conf(const void *a, const void *b) {
    const pick *x = a, *y = b;
    if (x->conf != y->conf) return x->conf < y->conf ? 1 : -1;
    return (x->index > y->index) - (x->index < y->index);
}

static void note(FILE *f, const char *what, const char *why) {
    fputs("<p class=\"note\">", f);
    esc(f, what);
    if (why) {
        fputs(": ", f);
        esc(f, why);
    }
    fputs("</p>\n", f);
}

/* One figure: the seed's panel as a PNG data: URI, with an HTML caption. */
static gb_status figure(FILE *f, const gb_report_data *d, const gb_dataset *ds, const gb_report_run *run,
                        const gb_report_example *e, const float *adv) {
    const int64_t *sh = ds->images->shape;
    const int c = (int)sh[1], h = (int)sh[2], w = (int)sh[3];
    const float *clean = ds->images->data + e->index * c * h * w;
    char b1[32], b2[32], title[96];
    gb_figure_panel pc = {clean, class_name(d, ds, e->clean_pred, b1, sizeof b1), e->clean_conf};
    gb_figure_panel pa = {adv, class_name(d, ds, e->adv_pred, b2, sizeof b2), e->adv_conf};
    snprintf(title, sizeof title, "example %lld, eps %g, broken by %s", (long long)e->index, run->eps, e->broken_by);
    gb_image *im;
    GB_TRY(gb_figure_render(c, h, w, pc, pa, (float)run->eps, title, "(adv - clean) / eps", &im));
    unsigned char *png;
    size_t len;
    gb_status s = gb_png_encode(im, &png, &len);
    int W = im->w;
    gb_image_free(im);
    if (s) return s;
    fprintf(f, "<figure><img width=\"%d\" alt=\"example %lld: clean, perturbation, adversarial\" "
               "src=\"data:image/png;base64,", W, (long long)e->index);
    base64(f, png, len);
    gb_free(png);
    fprintf(f, "\"><figcaption>Example %lld (true class <b>", (long long)e->index);
    esc(f, class_name(d, ds, e->label, b1, sizeof b1));
    fputs("</b>): clean prediction <b>", f);
    esc(f, pc.label);
    fprintf(f, "</b> at %.1f%% &rarr; adversarial prediction <b>", 100.0 * e->clean_conf);
    esc(f, pa.label);
    fprintf(f, "</b> at %.1f%%, found by <code>", 100.0 * e->adv_conf);
    esc(f, e->broken_by);
    fprintf(f, "</code>; L&infin; %.4g, L2 %.4g. The middle panel is the perturbation divided by &epsilon; = %g, "
               "mid-grey = 0.</figcaption></figure>\n", e->linf, e->l2, run->eps);
    return GB_OK;
}

/* Figures for up to k broken examples at the smallest eps that has any. */
static gb_status section_examples(const gb_report_page *pg, const char *dir, int k) {
    FILE *f = pg->f;
    const gb_report_data *d = pg->d;
    fputs("<h2 id=\"examples\">Adversarial examples</h2>\n", f);
    const gb_report_run *run = NULL;
    for (int i = 0; i < d->nruns && !run; i++)
        for (int64_t j = 0; j < d->runs[i].n && !run; j++)
            if (is_broken(&d->runs[i].ex[j])) run = &d->runs[i];
    if (!run) {
        note(f, "No example was broken at any epsilon (or examples.csv is missing), so there is nothing to draw", NULL);
        return GB_OK;
    }
    char path[4600];
    snprintf(path, sizeof path, "%s/%s/x_adv.npy", dir, run->dir);
    gb_tensor *xadv = NULL;
    gb_dataset *ds = NULL;
    if (gb_npy_read(path, &xadv) != GB_OK) {
        note(f, "Cannot draw the examples", gb_last_error());
        return GB_OK;
    }
    gb_status s = GB_OK;
    /* row i of x_adv.npy is row i of examples.csv (an unfinished run may have written more images) */
    if (xadv->ndim != 4 || xadv->shape[0] < run->n) {
        char why[160];
        snprintf(why, sizeof why, "x_adv.npy has %lld rows (4-D expected), fewer than examples.csv's %lld",
                 (long long)(xadv->ndim ? xadv->shape[0] : 0), (long long)run->n);
        note(f, "Cannot draw the examples", why);
    } else if (gb_dataset_load(d->data, &ds) != GB_OK) {
        note(f, "Cannot reload the clean images from the data set", gb_last_error());
    } else if (ds->images->ndim != 4 || ds->images->shape[1] != xadv->shape[1] ||
               ds->images->shape[2] != xadv->shape[2] || ds->images->shape[3] != xadv->shape[3]) {
        note(f, "Cannot draw the examples", "the data set's images have another shape than x_adv.npy");
    } else {
        pick *order = gb_malloc((size_t)(run->n ? run->n : 1) * sizeof *order);
        int64_t m = 0;
        if (!order) s = GB_ERR_NOMEM;
        for (int64_t j = 0; s == GB_OK && j < run->n; j++)
            if (is_broken(&run->ex[j])) order[m++] = (pick){isnan(run->ex[j].adv_conf) ? 0 : run->ex[j].adv_conf,
                                                            run->ex[j].index, j};
        if (s == GB_OK) {
            qsort(order, (size_t)m, sizeof *order, by_adv_conf);
            fprintf(f, "<p>%lld of %lld examples are broken at &epsilon; = %g; the %d with the most confident "
                       "wrong prediction:</p>\n<div class=\"figs\">\n", (long long)m, (long long)run->n, run->eps,
                    (int)GB_MIN(m, k));
        }
        const int64_t per = xadv->size / xadv->shape[0];
        for (int64_t j = 0; s == GB_OK && j < GB_MIN(m, k); j++) {
            const gb_report_example *e = &run->ex[order[j].row];
            if (e->index >= ds->n || ds->labels[e->index] != e->label) {
                note(f, "The data set does not match examples.csv (index out of range or another label); "
                        "was it evaluated on another data spec?", NULL);
                break;
            }
            s = figure(f, d, ds, run, e, xadv->data + order[j].row * per);
        }
        if (order) fputs("</div>\n", f);
        gb_free(order);
    }
    gb_tensor_free(xadv);
    gb_dataset_free(ds);
    if (s == GB_OK) gb_report_commands(pg, NULL);
    return s;
}

static void section_flags(const gb_report_page *pg) {
    FILE *f = pg->f;
    const gb_json *flags = gb_json_get(pg->d->eval, "flags");
    int shown = 0;
    for (int i = 0; i < gb_json_len(flags); i++) {
        const gb_json *fl = gb_json_at(flags, i);
        const char *sev = gb_json_string(gb_json_get(fl, "severity"), "warning");
        const char *cls = strcmp(sev, "error") == 0 || strcmp(sev, "critical") == 0 ? "error"
                          : strcmp(sev, "info") == 0                                 ? "info"
                                                                                     : "warning";
        fprintf(f, "<div class=\"flag %s\"><code>", cls);
        esc(f, gb_json_string(gb_json_get(fl, "code"), "flag"));
        fputs("</code> (", f);
        esc(f, sev);
        fputs(") ", f);
        esc(f, gb_json_string(gb_json_get(fl, "message"), ""));
        fputs("</div>\n", f);
        shown++;
    }
    for (int i = 0; i < pg->d->nruns; i++) {
        const gb_report_run *r = &pg->d->runs[i];
        if (!r->complete) {
            fprintf(f, "<div class=\"flag warning\"><code>incomplete</code> the run at &epsilon; = %g did not finish "
                       "(time budget or interruption): its numbers cover only part of the examples</div>\n", r->eps);
            shown++;
        }
        if (r->csv_error[0]) {
            fprintf(f, "<div class=\"flag info\"><code>examples_unreadable</code> &epsilon; = %g: ", r->eps);
            esc(f, r->csv_error);
            fputs("</div>\n", f);
            shown++;
        }
    }
    if (!shown)
        fputs("<div class=\"flag ok\">No flags: none of the checks for a broken evaluation (gradient masking, "
              "robust accuracy rising with &epsilon;, randomness) fired.</div>\n", f);
}

static void header(const gb_report_page *pg) {
    FILE *f = pg->f;
    const gb_report_data *d = pg->d;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Robustness of ", f);
    esc(f, d->model);
    fprintf(f, "</title>\n<style>%s</style>\n</head><body>\n<h1>Robustness of <code>", css);
    esc(f, d->model);
    fputs("</code></h1>\n<p class=\"meta\">data <code>", f);
    esc(f, d->data);
    fprintf(f, "</code>, %lld examples, threat model <b>", (long long)d->n);
    esc(f, d->norm);
    fputs("</b>", f);
    if (d->version) {
        fputs(", ensemble <b>", f);
        esc(f, d->version);
        fputs("</b>", f);
    }
    const gb_json *seed = gb_json_get(d->eval, "seed");
    if (seed && seed->type == GB_JSON_NUMBER) fprintf(f, ", seed %.0f", seed->num);
    const char *ver = gb_json_string(gb_json_get(gb_json_get(d->eval, "gibbon"), "version"), NULL);
    if (ver) {
        fputs(", gibbon ", f);
        esc(f, ver);
    }
    fputs("</p>\n<div class=\"cards\">", f);
    fprintf(f, "<div class=\"card\">clean accuracy<b>%.1f%%</b></div>", 100 * d->clean_accuracy);
    for (int i = 0; i < d->nruns; i++)
        fprintf(f, "<div class=\"card\">robust at &epsilon; = %g<b>%.1f%%</b></div>", d->runs[i].eps,
                100 * d->runs[i].robust_accuracy);
    fputs("</div>\n", f);
}

gb_status gb_report_write(const char *dir, const gb_report_params *params) {
    gb_report_params p = params ? *params : gb_report_default_params();
    if (p.examples < 0 || p.examples > 1000) return gb_error(GB_ERR_ARG, "report: examples must be in 0..1000");
    gb_report_data d;
    GB_TRY(gb_report_load(dir, &d));
    char out[4200], cmd[8192];
    if (p.out) snprintf(out, sizeof out, "%s", p.out);
    else snprintf(out, sizeof out, "%s/report.html", dir);
    report_command(cmd, sizeof cmd, dir, &p);
    gb_atomic_file af;
    gb_status s = gb_atomic_open(&af, out);
    if (s) {
        gb_report_data_free(&d);
        return s;
    }
    gb_report_page pg = {af.f, &d, p.command ? p.command : cmd};
    header(&pg);
    fputs("<h2 id=\"flags\">Flags</h2>\n", af.f);
    section_flags(&pg);
    s = section_examples(&pg, dir, p.examples);
    if (s == GB_OK) gb_report_section_results(&pg);
    if (s == GB_OK) gb_report_section_confidence(&pg);
    if (s == GB_OK && p.transfer) s = gb_report_section_transfer(&pg, p.transfer);
    if (s == GB_OK && p.defenses) s = gb_report_section_defenses(&pg, p.defenses);
    if (s == GB_OK && p.compare) s = gb_report_section_compare(&pg, p.compare);
    if (s == GB_OK) {
        fputs("<h2 id=\"reproduce\">Reproduce</h2>\n<p>The evaluation, then this page:</p>\n", af.f);
        gb_report_commands(&pg, NULL);
        fputs("</body></html>\n", af.f);
        s = gb_atomic_commit(&af);
    } else {
        gb_atomic_abort(&af);
    }
    gb_report_data_free(&d);
    return s;
}
