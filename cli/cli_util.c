/* cli_util.c — option parsing, JSON writing, progress, directories. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void print_help(const char *cmd, const char *summary, const cli_opt *opts) {
    printf("usage: gibbon %s [options]\n%s\n\noptions:\n", cmd, summary);
    for (const cli_opt *o = opts; o->name; o++) {
        const char *arg = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? " S" : " N";
        printf("  --%s%-*s %s\n", o->name, (int)(18 - strlen(o->name)), arg, o->help);
    }
    printf("  --help               this text\n");
}

int cli_parse(const char *cmd, const char *summary, int argc, char **argv, const cli_opt *opts) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(cmd, summary, opts);
            return 1;
        }
        /* "-n 100" is accepted for one-letter options ("--n 100"). */
        const int short_opt = a[0] == '-' && a[1] && a[1] != '-' && !a[2];
        if (strncmp(a, "--", 2) != 0 && !short_opt) {
            fprintf(stderr, "gibbon %s: unexpected argument '%s' (options start with --)\n", cmd, a);
            return 2;
        }
        const char *name = a + (short_opt ? 1 : 2), *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt *o = opts;
        while (o->name && !(strlen(o->name) == len && strncmp(o->name, name, len) == 0)) o++;
        if (!o->name) {
            fprintf(stderr, "gibbon %s: unknown option '--%.*s' (see gibbon %s --help)\n", cmd, (int)len, name, cmd);
            return 2;
        }
        if (o->type == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "gibbon %s: --%s takes no value\n", cmd, o->name);
                return 2;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            fprintf(stderr, "gibbon %s: --%s needs a value\n", cmd, o->name);
            return 2;
        }
        char *end;
        errno = 0;
        switch (o->type) {
        case OPT_STR: *(const char **)o->dst = val; break;
        case OPT_INT: {
            long v = strtol(val, &end, 10);
            if (end == val || *end || errno || v < -2147483647L || v > 2147483647L) goto bad;
            *(int *)o->dst = (int)v;
            break;
        }
        case OPT_U64: {
            unsigned long long v = strtoull(val, &end, 10);
            if (end == val || *end || errno || val[0] == '-') goto bad;
            *(uint64_t *)o->dst = v;
            break;
        }
        case OPT_FLOAT: {
            double v = strtod(val, &end);
            if (end == val || *end || errno || !isfinite(v)) goto bad;
            *(float *)o->dst = (float)v;
            break;
        }
        case OPT_FLAG: break;
        }
        continue;
    bad:
        fprintf(stderr, "gibbon %s: --%s: '%s' is not a valid %s\n", cmd, o->name, val,
                o->type == OPT_FLOAT ? "number" : "integer");
        return 2;
    }
    return 0;
}

int cli_fail(const char *what) {
    fprintf(stderr, "gibbon: %s%s%s\n", what ? what : "", what && *what ? ": " : "", gb_last_error());
    return 1;
}

int cli_parse_floats(const char *s, float *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || errno || !isfinite(v) || n == max) return -1;
        out[n++] = (float)v;
        if (*end == ',') end++;
        else if (*end) return -1;
        s = end;
    }
    return n;
}

/* ---- model loading ---- */

static int parse_channels(const char *cmd, const char *flag, const char *s, float *out) {
    int n = cli_parse_floats(s, out, GB_MAX_CHANNELS);
    if (n <= 0) {
        fprintf(stderr, "gibbon %s: --%s: '%s' is not a comma-separated list of 1 to %d numbers\n", cmd, flag,
                s, GB_MAX_CHANNELS);
        return -1;
    }
    return n;
}

int cli_model_params(const char *cmd, const cli_model_opts *o, gb_model_load_params *p) {
    *p = gb_model_load_default_params();
    int nm = 0, ns = 0;
    if (o->mean && (nm = parse_channels(cmd, "mean", o->mean, p->mean)) < 0) return 2;
    if (o->std && (ns = parse_channels(cmd, "std", o->std, p->std)) < 0) return 2;
    if (nm && ns && nm != ns && nm != 1 && ns != 1) {
        fprintf(stderr, "gibbon %s: --mean has %d values and --std %d\n", cmd, nm, ns);
        return 2;
    }
    /* One list alone: the other is the identity; a single value applies to every channel. */
    int c = nm > ns ? nm : ns;
    for (int k = 0; k < c; k++) {
        p->mean[k] = nm == 0 ? 0.0f : p->mean[nm == 1 ? 0 : k];
        p->std[k] = ns == 0 ? 1.0f : p->std[ns == 1 ? 0 : k];
    }
    p->channels = c;
    for (int k = 0; k < c; k++)
        if (!(p->std[k] > 0)) {
            fprintf(stderr, "gibbon %s: --std: %g is not positive\n", cmd, (double)p->std[k]);
            return 2;
        }
    if (o->range != 0 && !(o->range > 0)) {
        fprintf(stderr, "gibbon %s: --range: must be positive (1 or 255)\n", cmd);
        return 2;
    }
    p->range = o->range;
    if (o->layout) {
        if (strcmp(o->layout, "nchw") == 0) p->layout = GB_LAYOUT_NCHW;
        else if (strcmp(o->layout, "nhwc") == 0) p->layout = GB_LAYOUT_NHWC;
        else {
            fprintf(stderr, "gibbon %s: --layout: '%s' is not nchw or nhwc\n", cmd, o->layout);
            return 2;
        }
    }
    p->output = o->output;
    return 0;
}

int cli_load_model(const char *cmd, const char *path, const cli_model_opts *o, gb_model **m) {
    gb_model_load_params p;
    int r = cli_model_params(cmd, o, &p);
    if (r) return r;
    if (gb_model_load_onnx_opts(path, &p, m)) return cli_fail("");
    const char *used = gb_model_used_output(*m);
    if (gb_model_output_kind(*m) == GB_OUTPUT_SOFTMAX_REMOVED)
        fprintf(stderr, "gibbon %s: note: %s ends in Softmax; gibbon uses its input '%s' (the logits), "
                        "not the probabilities\n", cmd, path, used);
    if (gb_model_output_kind(*m) == GB_OUTPUT_LOG_SOFTMAX)
        fprintf(stderr, "gibbon %s: note: %s ends in LogSoftmax; its log-probabilities serve as logits\n",
                cmd, path);
    int nout = gb_model_num_outputs(*m);
    if (nout > 1 && !o->output) {
        fprintf(stderr, "gibbon %s: note: %s has %d outputs (", cmd, path, nout);
        for (int i = 0; i < nout; i++) fprintf(stderr, "%s'%s'", i ? ", " : "", gb_model_output_name(*m, i));
        fprintf(stderr, "); using '%s' (choose with --output)\n", gb_model_output_name(*m, 0));
    }
    float mean[GB_MAX_CHANNELS], std[GB_MAX_CHANNELS], range;
    int c = gb_model_input_normalization(*m, mean, std, &range);
    if ((c && !p.channels) || (range != 1 && p.range == 0)) {
        fprintf(stderr, "gibbon %s: note: input normalization from the model's metadata:", cmd);
        if (range != 1) fprintf(stderr, " range %g", (double)range);
        for (int k = 0; k < c; k++) fprintf(stderr, "%s%g", k ? "," : " mean ", (double)mean[k]);
        for (int k = 0; k < c; k++) fprintf(stderr, "%s%g", k ? "," : " std ", (double)std[k]);
        fputc('\n', stderr);
    }
    return o->defense ? cli_add_defenses(cmd, o->defense, o->bpda, *m) : 0;
}

int cli_parse_defenses(const char *cmd, const char *flag, const char *spec, gb_defense *d, int max) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == max || gb_defense_parse(tok, &d[n])) {
            if (n == max) fprintf(stderr, "gibbon %s: --%s: at most %d transformations\n", cmd, flag, max);
            else fprintf(stderr, "gibbon %s: --%s: %s\n", cmd, flag, gb_last_error());
            return -1;
        }
        n++;
    }
    if (n == 0) fprintf(stderr, "gibbon %s: --%s: empty list\n", cmd, flag);
    return n ? n : -1;
}

int cli_add_defenses(const char *cmd, const char *spec, int bpda, gb_model *m) {
    gb_defense d[8];
    int n = cli_parse_defenses(cmd, "defense", spec, d, 8);
    if (n < 0) return 2;
    /* Each added transformation runs before the earlier ones: add the last first. */
    for (int k = n - 1; k >= 0; k--) {
        d[k].bpda = bpda;
        if (gb_model_add_defense(m, &d[k])) return cli_fail("--defense");
    }
    return 0;
}

int cli_check_images(const gb_model *m, const gb_tensor *x) {
    if (gb_model_check_input(m, x) == GB_OK) return 0;
    return cli_fail("data");
}

int cli_mkdirs(const char *path) {
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            buf[i] = c;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* ---- JSON ---- */

static void json_key(json *j, const char *key) {
    if (!j->first[j->depth]) fputc(',', j->f);
    j->first[j->depth] = 0;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    if (key) fprintf(j->f, "\"%s\": ", key);
}

static void json_escaped(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

void json_begin_object(json *j, const char *key) {
    if (j->depth > 0 || !j->first[0]) json_key(j, key);
    fputc('{', j->f);
    j->first[++j->depth] = 1;
}

void json_end_object(json *j) {
    j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    fputc('}', j->f);
    if (j->depth == 0) fputc('\n', j->f);
}

void json_begin_array(json *j, const char *key) {
    json_key(j, key);
    fputc('[', j->f);
    j->first[++j->depth] = 1;
}

void json_end_array(json *j) {
    j->depth--;
    fputc('\n', j->f);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->f);
    fputc(']', j->f);
}

void json_str(json *j, const char *key, const char *v) {
    json_key(j, key);
    json_escaped(j->f, v);
}

void json_num(json *j, const char *key, double v) {
    json_key(j, key);
    if (isfinite(v)) fprintf(j->f, "%.6g", v);
    else fputs("null", j->f);
}

void json_int(json *j, const char *key, long long v) {
    json_key(j, key);
    fprintf(j->f, "%lld", v);
}

void json_bool(json *j, const char *key, int v) {
    json_key(j, key);
    fputs(v ? "true" : "false", j->f);
}

/* ---- progress ---- */

static void fmt_time(char *buf, size_t n, double s) {
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%d:%02d", t / 60, t % 60);
}

int cli_train_progress(const gb_train_progress *p, void *user) {
    (void)user;
    static int tty = -1;
    static double last = -1;
    if (tty < 0) tty = isatty(fileno(stderr));
    char el[16], eta[16];
    fmt_time(el, sizeof el, p->elapsed);
    fmt_time(eta, sizeof eta, p->eta);
    if (p->epoch_done) {
        if (tty) fputs("\r\033[K", stderr);
        fprintf(stderr, "epoch %d/%d  loss %.4f  train acc %.2f%%", p->epoch, p->epochs, p->loss,
                100 * p->accuracy);
        if (p->adv_accuracy >= 0)
            fprintf(stderr, "  adv loss %.4f  adv acc %.2f%%", p->adv_loss, 100 * p->adv_accuracy);
        if (p->test_accuracy >= 0) fprintf(stderr, "  test acc %.2f%%", 100 * p->test_accuracy);
        fprintf(stderr, "  %.0f img/s  %s  lr %.2g\n", p->images_per_sec, el, p->lr);
        last = -1;
        return 0;
    }
    double frac = (double)p->seen / (double)p->total;
    if (tty) {
        int w = 30, filled = (int)(frac * w);
        fprintf(stderr, "\r\033[Kepoch %d/%d [", p->epoch, p->epochs);
        for (int i = 0; i < w; i++) fputc(i < filled ? '=' : (i == filled ? '>' : ' '), stderr);
        fprintf(stderr, "] %3.0f%%  loss %.4f  acc %.2f%%", 100 * frac, p->loss, 100 * p->accuracy);
        if (p->adv_accuracy >= 0)
            fprintf(stderr, "  adv %.4f %.2f%%", p->adv_loss, 100 * p->adv_accuracy);
        fprintf(stderr, "  %.0f img/s  ETA %s", p->images_per_sec, eta);
        fflush(stderr);
    } else if (last < 0 || frac - last >= 0.25) {
        /* Plain lines for logs: a few per epoch, not one per batch. */
        fprintf(stderr, "epoch %d/%d %3.0f%%  loss %.4f  acc %.2f%%", p->epoch, p->epochs, 100 * frac,
                p->loss, 100 * p->accuracy);
        if (p->adv_accuracy >= 0)
            fprintf(stderr, "  adv loss %.4f  adv acc %.2f%%", p->adv_loss, 100 * p->adv_accuracy);
        fprintf(stderr, "  %.0f img/s  ETA %s\n", p->images_per_sec, eta);
        last = frac;
    }
    return 0;
}
