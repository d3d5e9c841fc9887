/* test_report.c — the report's pieces: XML/HTML escaping (exact bytes),
 * axis ticks, the SVG plots (well-formed XML checked by Python's
 * xml.etree, escaped strings round-trip, points and bars where the data put
 * them), the JSON and CSV readers (values, errors with positions, every
 * allocation failure cleaned up), and gb_report_write on a small hand-made
 * evaluation directory (escaping of hostile names, figures, atomic output,
 * errors naming the file). */
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "eval/report.h"
#include "eval/svg.h"
#include "io/json.h"

static char tmpdir[] = "/tmp/gibbon_report_XXXXXX";

static char *path_in(const char *name) {
    static char buf[8][512];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *read_all(const char *path) {
    char *text;
    size_t len;
    return gb_text_file_read(path, (size_t)1 << 30, &text, &len) == GB_OK ? text : NULL;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void test_escape(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    /* markup, quotes, a control character, tab, a stray byte, valid 2- and
     * 4-byte UTF-8, a UTF-8-encoded surrogate (invalid: three bad bytes) */
    gb_xml_escape(f, "a<b>&\"'\x01\tz\xff\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80!");
    gb_xml_escape(f, NULL);
    fclose(f);
    const char *want = "a&lt;b&gt;&amp;&quot;&#39;\tz\xEF\xBF\xBD\xc3\xa9\xf0\x9f\x98\x80"
                       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD!";
    CHECKF(strcmp(buf, want) == 0, "got '%s'", buf);
    free(buf);
}

static void test_ticks(void) {
    double t[32];
    int n = gb_plot_ticks(0, 1, 5, t, 32);
    CHECK(n == 6 && t[0] == 0 && fabs(t[5] - 1) < 1e-12 && fabs(t[1] - 0.2) < 1e-12);
    n = gb_plot_ticks(0, 0.1, 6, t, 32); /* raw step 0.0167 -> 0.02 */
    CHECK(n == 6 && fabs(t[1] - 0.02) < 1e-12 && fabs(t[5] - 0.1) < 1e-12);
    n = gb_plot_ticks(0, 37, 5, t, 32); /* raw 7.4 -> 10 */
    CHECK(n == 4 && t[3] == 30);
    n = gb_plot_ticks(-1, 1, 4, t, 32); /* raw 0.5 -> 0.5, and 0 is "0", not "-0" */
    CHECK(n == 5 && t[0] == -1 && t[2] == 0 && !signbit(t[2]));
    CHECK(gb_plot_ticks(2, 2, 5, t, 32) == 1 && t[0] == 2);
}

/* Python checks, run on the files the C side wrote (argv: line, bars, heat). */
static const char *const svg_checker =
    "import sys, xml.etree.ElementTree as ET\n"
    "NS = '{http://www.w3.org/2000/svg}'\n"
    "nasty = 'A<&>\"\\' \\ufffdz'\n"
    "def load(p):\n"
    "    r = ET.parse(p).getroot(); assert r.tag == NS + 'svg', r.tag; return r\n"
    "def texts(r): return [t.text for t in r.iter(NS + 'text')]\n"
    "line, bars, heat = (load(p) for p in sys.argv[1:4])\n"
    "assert nasty in texts(line) and 'x <axis>' in texts(line), texts(line)\n"
    "pts = [(float(c.get('cx')), float(c.get('cy'))) for c in line.iter(NS + 'circle')]\n"
    "assert len(pts) == 5, pts\n"
    "# series 1: x 0, 0.05, 0.1 -> y 0.9, 0.5, 0.1 on axes [0, 0.1] x [0, 1]: affine, y flipped\n"
    "(x0, y0), (x1, y1), (x2, y2) = pts[:3]\n"
    "assert abs((x1 - x0) / (x2 - x0) - 0.5) < 1e-3 and x2 > x0\n"
    "assert y0 < y1 < y2 and abs((y1 - y0) / (y2 - y0) - 0.5) < 1e-3\n"
    "# series 2 point (0.1, 0.5) sits at series 1's x = 0.1 and y = 0.5\n"
    "assert abs(pts[4][0] - x2) < 1e-6 and abs(pts[4][1] - y1) < 1e-6\n"
    "# series 2 has a NaN in the middle: two polylines, one per finite run\n"
    "assert len(list(line.iter(NS + 'polyline'))) == 3\n"
    "rects = [r for r in bars.iter(NS + 'rect') if r.find(NS + 'title') is not None]\n"
    "assert len(rects) == 5, len(rects)  # 3 + 3 values, one NaN\n"
    "h = {r.find(NS + 'title').text: float(r.get('height')) for r in rects}\n"
    "assert abs(h['g1, c1: 20'] / h['g1, c0: 10'] - 2) < 1e-3 and abs(h['g2, c2: 5'] / h['g1, c0: 10'] - 0.5) < 1e-3, h\n"
    "assert nasty in texts(bars)\n"
    "cells = {r.find(NS + 'title').text: r.get('fill') for r in heat.iter(NS + 'rect') if r.find(NS + 'title') is not None}\n"
    "assert cells['s0 \\u2192 ' + nasty + ': 0'] == '#ffffff' and cells['s1 \\u2192 t1: 1'] == '#1f4e91', cells\n"
    "assert 'n/a' in texts(heat) and '0.50' in texts(heat)\n"
    "print('svg ok')\n";

static void test_svg_xml(void) {
    const char *nasty = "A<&>\"' \xff\x01z"; /* comes out as A<&>"' U+FFFD z */
    FILE *f = fopen(path_in("line.svg"), "w");
    double x1[3] = {0, 0.05, 0.1}, y1[3] = {0.9, 0.5, 0.1}, x2[3] = {0, 0.05, 0.1}, y2[3] = {0.2, NAN, 0.5};
    gb_plot_series s[2] = {{nasty, x1, y1, 3}, {"second", x2, y2, 3}};
    gb_line_plot lp = {"title", "x <axis>", "y", s, 2, 0, 0.1, 0, 1, 0.3, "clean", 0, 0};
    CHECK_OK(gb_svg_line_plot(f, &lp));
    fclose(f);
    f = fopen(path_in("bars.svg"), "w");
    const char *cats[3] = {"c0", "c1", "c2"}, *groups[2] = {"g1", "g2"};
    double v[6] = {10, 20, 0, NAN, 0, 5};
    gb_bar_plot bp = {nasty, "x", "y", cats, 3, groups, 2, v, 0, 0, 0};
    CHECK_OK(gb_svg_bar_plot(f, &bp));
    fclose(f);
    f = fopen(path_in("heat.svg"), "w");
    const char *rows[2] = {"s0", "s1"}, *cols[2] = {nasty, "t1"};
    double m[4] = {0, 0.5, NAN, 1};
    gb_heatmap hm = {"heat", "target", "source", rows, 2, cols, 2, m, 0, 1, "%.2f"};
    CHECK_OK(gb_svg_heatmap(f, &hm));
    fclose(f);
    /* bad arguments are errors, not crashes */
    gb_plot_series bad = {"b", NULL, NULL, 2};
    gb_line_plot lb = {.series = &bad, .nseries = 1};
    CHECK(gb_svg_line_plot(stdout, &lb) == GB_ERR_ARG);
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("SKIP svg XML check: /usr/bin/python3 missing\n");
        return;
    }
    write_file(path_in("check.py"), svg_checker);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s %s", path_in("check.py"), path_in("line.svg"),
             path_in("bars.svg"), path_in("heat.svg"));
    CHECKF(system(cmd) == 0, "%s", cmd);
}

static void test_json(void) {
    const char *text = "\xEF\xBB\xBF{\"a\": [1, -2.5e2, true, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
                       " \"b\": {\"c\": NaN, \"d\": -Infinity}, \"e\": \"\\\"q\\\"\", \"a\": 0}";
    gb_json *j;
    CHECK_OK(gb_json_parse(text, strlen(text), &j));
    if (!j) return;
    const gb_json *a = gb_json_get(j, "a");
    CHECK(gb_json_len(a) == 5 && gb_json_number(gb_json_at(a, 1), 0) == -250);
    CHECK(gb_json_number(gb_json_at(a, 2), 0) == 1 && gb_json_at(a, 3)->type == GB_JSON_NULL);
    CHECK(strcmp(gb_json_string(gb_json_at(a, 4), ""), "x\xc3\xa9\xf0\x9f\x98\x80\n") == 0);
    CHECK(isnan(gb_json_number(gb_json_get(gb_json_get(j, "b"), "c"), 0)));
    CHECK(gb_json_number(gb_json_get(gb_json_get(j, "b"), "d"), 0) == -INFINITY);
    CHECK(strcmp(gb_json_string(gb_json_get(j, "e"), ""), "\"q\"") == 0);
    CHECK(gb_json_get(j, "zz") == NULL && gb_json_at(a, 5) == NULL && gb_json_number(NULL, 7) == 7);
    gb_json_free(j);
    const char *bad[] = {"{\"a\": 1,}", "[1 2]", "\"abc", "{\"a\" 1}", "[01]", "[1.]", "tru", "{} x", "[\"\\q\"]", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECKF(gb_json_parse(bad[i], strlen(bad[i]), &j) == GB_ERR_FORMAT && j == NULL, "accepted '%s'", bad[i]);
        CHECK(strstr(gb_last_error(), "line 1, column") != NULL);
    }
    CHECK(gb_json_parse("[1,\n  x]", 8, &j) == GB_ERR_FORMAT && strstr(gb_last_error(), "line 2, column 3"));
    char deep[300];
    memset(deep, '[', 200);
    deep[200] = 0;
    CHECK(gb_json_parse(deep, 200, &j) == GB_ERR_FORMAT && strstr(gb_last_error(), "64 deep"));
    /* every allocation failure is reported and cleaned up (ASan checks leaks) */
    int ok = 0;
    for (long k = 0; k < 200 && !ok; k++) {
        gb_alloc_fail_after(k);
        gb_status s = gb_json_parse(text, strlen(text), &j);
        gb_alloc_fail_after(-1);
        CHECK(s == GB_OK || s == GB_ERR_NOMEM);
        ok = s == GB_OK;
        gb_json_free(j);
    }
    CHECK(ok);
    CHECK(gb_json_read_file(path_in("missing.json"), &j) == GB_ERR_IO && strstr(gb_last_error(), "missing.json"));
}

static void test_csv(void) {
    /* other column order, an extra column, quoted fields, CRLF */
    write_file(path_in("ex.csv"), "label,index,adv_pred,clean_pred,clean_conf,adv_conf,extra,broken_by,robust\r\n"
                                  "3,7,5,3,0.9,0.8,\"x,y\",\"apgd-t\",0\r\n"
                                  "1,8,1,1,0.7,0.6,z,,1\r\n");
    gb_report_example *ex;
    int64_t n;
    CHECK_OK(gb_report_read_csv(path_in("ex.csv"), &ex, &n));
    CHECK(n == 2);
    if (n == 2) {
        CHECK(ex[0].index == 7 && ex[0].label == 3 && ex[0].adv_pred == 5 && ex[0].clean_pred == 3);
        CHECK(fabsf(ex[0].adv_conf - 0.8f) < 1e-6f && strcmp(ex[0].broken_by, "apgd-t") == 0 && !ex[0].robust);
        CHECK(ex[1].robust && ex[1].broken_by[0] == 0 && isnan(ex[1].linf));
    }
    gb_free(ex);
    write_file(path_in("bad1.csv"), "index,label,clean_pred,clean_conf,adv_pred\n1,2,3,0.5,1\n");
    CHECK(gb_report_read_csv(path_in("bad1.csv"), &ex, &n) == GB_ERR_FORMAT && strstr(gb_last_error(), "adv_conf"));
    write_file(path_in("bad2.csv"), "index,label,clean_pred,clean_conf,adv_pred,adv_conf\n1,2,3,0.5,1,0.5\n1,2,x,0.5,1,0.5\n");
    CHECK(gb_report_read_csv(path_in("bad2.csv"), &ex, &n) == GB_ERR_FORMAT && strstr(gb_last_error(), "line 3"));
    write_file(path_in("bad3.csv"), "index,label,clean_pred,clean_conf,adv_pred,adv_conf\n1,2,3,0.5,1,\"0.5\n");
    CHECK(gb_report_read_csv(path_in("bad3.csv"), &ex, &n) == GB_ERR_FORMAT && strstr(gb_last_error(), "quotes"));
}

/* A data set of 6 random 1x8x8 images as .npy, an eval directory at one eps
 * where rows 0, 2, 3 are broken, 1 robust, 4 misclassified clean, 5 robust. */
static void make_eval_dir(const char *model_name) {
    gb_rng g;
    gb_rng_seed(&g, 3, 0);
    gb_tensor *x = gb_tensor_new4(6, 1, 8, 8), *adv = gb_tensor_new4(6, 1, 8, 8);
    for (int64_t i = 0; i < x->size; i++) x->data[i] = gb_rng_uniform(&g);
    for (int64_t i = 0; i < x->size; i++) adv->data[i] = fminf(fmaxf(x->data[i] + (gb_rng_uniform(&g) < 0.5f ? -0.1f : 0.1f), 0), 1);
    int labels[6] = {0, 1, 2, 0, 1, 2};
    CHECK_OK(gb_npy_write(path_in("images.npy"), x));
    CHECK_OK(gb_npy_write_i32(path_in("labels.npy"), labels, 6));
    CHECK(mkdir(path_in("ev"), 0777) == 0 && mkdir(path_in("ev/eps_0.1"), 0777) == 0);
    CHECK_OK(gb_npy_write(path_in("ev/eps_0.1/x_adv.npy"), adv));
    gb_tensor_free(x);
    gb_tensor_free(adv);
    write_file(path_in("ev/eps_0.1/examples.csv"),
               "index,label,clean_pred,clean_conf,adv_pred,adv_conf,robust,broken_by,linf,l2\n"
               "0,0,0,0.9,1,0.7,0,apgd-ce,0.1,0.8\n1,1,1,0.8,1,0.6,1,,0,0\n2,2,2,0.95,0,0.99,0,apgd-t,0.1,0.8\n"
               "3,0,0,0.6,2,0.5,0,apgd-t,0.1,0.8\n4,1,2,0.5,2,0.5,0,clean,0,0\n5,2,2,0.9,2,0.9,1,,0,0\n");
    char json[2048];
    snprintf(json, sizeof json,
             "{\"command\": \"gibbon eval --model m.onnx && echo <pwned>\", \"model\": \"%s\", "
             "\"data\": \"%s,%s\", \"n\": 6, \"seed\": 0, \"norm\": \"linf\", \"version\": \"standard\", "
             "\"classes\": [\"zero\", \"one <i>\", \"two\"], \"clean_accuracy\": 0.8333, "
             "\"runs\": [{\"eps\": 0.1, \"dir\": \"eps_0.1\", \"robust_accuracy\": 0.3333, \"complete\": false, "
             "\"time_s\": 1.5, \"attacks\": [{\"name\": \"apgd-ce\", \"robust_accuracy\": 0.5, \"newly_broken\": 1, "
             "\"evaluated\": 5, \"time_s\": 1, \"grad_evals\": 500, \"queries\": 0}, {\"name\": \"apgd-t\", "
             "\"robust_accuracy\": 0.3333, \"newly_broken\": 2, \"evaluated\": 4, \"time_s\": 0.5, \"grad_evals\": 400, "
             "\"queries\": 0}]}, {\"eps\": 0.2, \"dir\": \"../../etc\", \"robust_accuracy\": 0.1}], "
             "\"flags\": [{\"code\": \"robust_accuracy_rises_with_eps\", \"severity\": \"warning\", "
             "\"message\": \"<script>alert(1)</script>\"}]}",
             model_name, path_in("images.npy"), path_in("labels.npy"));
    write_file(path_in("ev/eval.json"), json);
}

static void test_report_write(void) {
    make_eval_dir("<script>evil()</script>.onnx");
    gb_report_params p = gb_report_default_params();
    p.examples = 2;
    CHECK_OK(gb_report_write(path_in("ev"), &p));
    char *html = read_all(path_in("ev/report.html"));
    CHECK(html != NULL);
    if (!html) return;
    CHECK(!strstr(html, "<script") && !strstr(html, "<pwned>") && !strstr(html, "<i>"));
    CHECK(strstr(html, "&lt;script&gt;evil()&lt;/script&gt;.onnx") && strstr(html, "echo &lt;pwned&gt;"));
    CHECK(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") && strstr(html, "robust_accuracy_rises_with_eps"));
    CHECK(count(html, "<img ") == 2);                    /* --examples 2 of the 3 broken */
    CHECK(count(html, "data:image/png;base64,iVBORw0KGgo") == 2); /* PNG signature, base64 */
    /* the most confident mistake first: row 2 (0.99), then row 0 (0.7) */
    const char *e2 = strstr(html, "Example 2 "), *e0 = strstr(html, "Example 0 ");
    CHECK(e2 && e0 && e2 < e0 && !strstr(html, "Example 3 "));
    CHECK(count(html, "<svg") == 2); /* robust-vs-eps curve and one histogram (the eps 0.2 run has no csv) */
    CHECK(strstr(html, "incomplete") && strstr(html, "is not a name inside"));
    CHECK(strstr(html, "<td>50.0%</td>") && strstr(html, "33.3%"));
    CHECK(strstr(html, "gibbon report --in ") && strstr(html, "--examples 2"));
    gb_free(html);
    /* no temporary file left behind */
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path_in("ev/report.html"), (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    /* gibbon transfer's own layout: "success_rate", objects for models, the attack as an object */
    write_file(path_in("t2.json"), "{\"attack\": {\"name\": \"fgsm\", \"eps\": 0.25}, \"sources\": [{\"name\": \"src<1>\", "
                                   "\"path\": \"a.onnx\"}], \"targets\": [{\"path\": \"t.onnx\"}, 7], "
                                   "\"success_rate\": [[0.5, null]]}");
    p.transfer = path_in("t2.json");
    CHECK_OK(gb_report_write(path_in("ev"), &p));
    html = read_all(path_in("ev/report.html"));
    CHECK(html && strstr(html, "&epsilon; = 0.25, attack <code>fgsm</code>") && strstr(html, "src&lt;1&gt;"));
    CHECK(html && strstr(html, ">t.onnx</text>") && strstr(html, ">7</text>") && strstr(html, ">0.50</text>"));
    CHECK(html && strstr(html, ">n/a</text>") && count(html, "<svg") == 3);
    gb_free(html);
    p.transfer = NULL;

    /* errors name the file */
    write_file(path_in("t.json"), "{\"sources\": [\"a\"]}");
    p.transfer = path_in("t.json");
    CHECK(gb_report_write(path_in("ev"), &p) == GB_ERR_FORMAT && strstr(gb_last_error(), "t.json"));
    p.transfer = NULL;
    write_file(path_in("d.json"), "{\"defenses\": 3}");
    p.defenses = path_in("d.json");
    CHECK(gb_report_write(path_in("ev"), &p) == GB_ERR_FORMAT && strstr(gb_last_error(), "d.json"));
    p.defenses = NULL;
    CHECK(gb_report_write(path_in("nope"), &p) == GB_ERR_IO && strstr(gb_last_error(), "nope/eval.json"));
    write_file(path_in("ev/eval.json"), "{\"runs\": [{\"eps\": 0.1,}]}");
    CHECK(gb_report_write(path_in("ev"), &p) == GB_ERR_FORMAT && strstr(gb_last_error(), "eval.json: line 1"));
    write_file(path_in("ev/eval.json"), "{\"runs\": []}");
    CHECK(gb_report_write(path_in("ev"), &p) == GB_ERR_FORMAT && strstr(gb_last_error(), "runs"));
}

/* Every allocation failure while writing the report returns an error and
 * frees what it took (ASan's leak check), until the budget is enough. */
static void test_report_alloc_failures(void) {
    make_eval_dir("m.onnx");
    gb_report_params p = gb_report_default_params();
    char out[512], dir[512];
    snprintf(out, sizeof out, "%s", path_in("r.html")); /* path_in's buffers rotate */
    snprintf(dir, sizeof dir, "%s", path_in("ev"));
    p.out = out;
    int ok = 0;
    for (long k = 0; k < 2000 && !ok; k += 3) {
        gb_alloc_fail_after(k);
        gb_status s = gb_report_write(dir, &p);
        gb_alloc_fail_after(-1);
        CHECKF(s == GB_OK || s == GB_ERR_NOMEM, "%s", gb_last_error());
        ok = s == GB_OK;
    }
    CHECK(ok);
}

int main(void) {
    CHECK(mkdtemp(tmpdir) != NULL);
    RUN(test_escape);
    RUN(test_ticks);
    RUN(test_svg_xml);
    RUN(test_json);
    RUN(test_csv);
    RUN(test_report_write);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s/ev", tmpdir);
    CHECK(system(cmd) == 0);
    RUN(test_report_alloc_failures);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    CHECK(system(cmd) == 0);
    CHECK_DONE();
}
