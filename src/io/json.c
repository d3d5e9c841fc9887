/* json.c — recursive-descent JSON reader (RFC 8259 grammar) into a small
 * tree. Strings are decoded to UTF-8 (\uXXXX with surrogate pairs); depth is
 * bounded so a hostile file cannot exhaust the stack. */
#include "io/json.h"

#include <errno.h>
#include <math.h>

#define JSON_MAX_DEPTH 64
/* Result files are kilobytes to megabytes; anything past this is not ours. */
#define JSON_MAX_BYTES ((size_t)1 << 30)

typedef struct parser {
    const char *s, *end, *start;
    int depth;
} parser;

static gb_status fail(const parser *p, const char *what) {
    int line = 1, col = 1;
    for (const char *c = p->start; c < p->s && c < p->end; c++) {
        if (*c == '\n') line++, col = 1;
        else col++;
    }
    if (p->s >= p->end) return gb_error(GB_ERR_FORMAT, "line %d, column %d: %s (at end of input)", line, col, what);
    return gb_error(GB_ERR_FORMAT, "line %d, column %d: %s", line, col, what);
}

static void skip_ws(parser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int take(parser *p, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return 0;
    p->s += n;
    return 1;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3F)), o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* At the opening quote; the decoded string is never longer than its source. */
static gb_status parse_string(parser *p, char **out) {
    const char *s = ++p->s;
    size_t cap = 0;
    while (s < p->end && *s != '"') s += (*s == '\\' && s + 1 < p->end) ? 2 : 1;
    if (s >= p->end) return fail(p, "unterminated string");
    cap = (size_t)(s - p->s) + 1;
    char *o = gb_malloc(cap), *w = o;
    if (!o) return GB_ERR_NOMEM;
    while (*p->s != '"') {
        unsigned char c = (unsigned char)*p->s;
        if (c < 0x20) {
            gb_free(o);
            return fail(p, "control character in string");
        }
        if (c != '\\') {
            *w++ = (char)c;
            p->s++;
            continue;
        }
        char e = p->s[1];
        p->s += 2;
        switch (e) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (p->end - p->s < 4 || !hex4(p->s, &cp)) {
                gb_free(o);
                return fail(p, "bad \\u escape");
            }
            p->s += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u' &&
                hex4(p->s + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p->s += 6;
            } else if (cp >= 0xD800 && cp < 0xE000) {
                cp = 0xFFFD; /* a lone surrogate: not a character */
            }
            /* 6 source bytes become at most 4 (a pair: 12 become 4) */
            w += put_utf8(w, cp);
            break;
        }
        default: gb_free(o); return fail(p, "bad escape in string");
        }
    }
    p->s++;
    *w = '\0';
    *out = o;
    return GB_OK;
}

static gb_status parse_value(parser *p, gb_json *v);

static gb_status grow(gb_json *v, int *cap, int with_keys) {
    if (v->n < *cap) return GB_OK;
    int nc = *cap ? 2 * *cap : 4;
    gb_json *items = gb_realloc(v->items, (size_t)nc * sizeof *items);
    if (!items) return GB_ERR_NOMEM;
    v->items = items;
    if (with_keys) {
        char **keys = gb_realloc(v->keys, (size_t)nc * sizeof *keys);
        if (!keys) return GB_ERR_NOMEM;
        v->keys = keys;
    }
    *cap = nc;
    return GB_OK;
}

/* At '[' or '{'. Items are counted in v->n as soon as they are parsed, so
 * gb_json_free releases a half-built container. */
static gb_status parse_container(parser *p, gb_json *v, int object) {
    v->type = object ? GB_JSON_OBJECT : GB_JSON_ARRAY;
    if (++p->depth > JSON_MAX_DEPTH) return fail(p, "nested more than 64 deep");
    const char close = object ? '}' : ']';
    int cap = 0;
    p->s++;
    skip_ws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        p->depth--;
        return GB_OK;
    }
    for (;;) {
        skip_ws(p);
        GB_TRY(grow(v, &cap, object));
        char *key = NULL;
        if (object) {
            if (p->s >= p->end || *p->s != '"') return fail(p, "expected a string key");
            GB_TRY(parse_string(p, &key));
            skip_ws(p);
            if (p->s >= p->end || *p->s != ':') {
                gb_free(key);
                return fail(p, "expected ':' after key");
            }
            p->s++;
            v->keys[v->n] = key;
        }
        memset(&v->items[v->n], 0, sizeof v->items[v->n]);
        v->n++;
        GB_TRY(parse_value(p, &v->items[v->n - 1]));
        skip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            p->depth--;
            return GB_OK;
        }
        return fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static gb_status parse_number(parser *p, gb_json *v) {
    /* strtod would also take hex and "inf"; check the JSON grammar first. */
    const char *s = p->s;
    if (s < p->end && *s == '-') s++;
    if (s >= p->end || !(*s >= '0' && *s <= '9')) return fail(p, "unexpected character");
    if (*s == '0') s++;
    else
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    if (s < p->end && *s == '.') {
        s++;
        if (s >= p->end || !(*s >= '0' && *s <= '9')) return fail(p, "digit expected after '.'");
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    }
    if (s < p->end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < p->end && (*s == '+' || *s == '-')) s++;
        if (s >= p->end || !(*s >= '0' && *s <= '9')) return fail(p, "digit expected in exponent");
        while (s < p->end && *s >= '0' && *s <= '9') s++;
    }
    char buf[64];
    size_t n = (size_t)(s - p->s);
    if (n >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, p->s, n);
    buf[n] = '\0';
    v->type = GB_JSON_NUMBER;
    v->num = strtod(buf, NULL); /* overflow gives +-HUGE_VAL, which is what the number means */
    p->s = s;
    return GB_OK;
}

static gb_status parse_value(parser *p, gb_json *v) {
    skip_ws(p);
    if (p->s >= p->end) return fail(p, "value expected");
    switch (*p->s) {
    case '{': return parse_container(p, v, 1);
    case '[': return parse_container(p, v, 0);
    case '"': v->type = GB_JSON_STRING; return parse_string(p, &v->str);
    default: break;
    }
    if (take(p, "true")) return v->type = GB_JSON_BOOL, v->num = 1, GB_OK;
    if (take(p, "false")) return v->type = GB_JSON_BOOL, v->num = 0, GB_OK;
    if (take(p, "null")) return v->type = GB_JSON_NULL, GB_OK;
    /* Python's json.dump writes these for non-finite floats. */
    if (take(p, "NaN")) return v->type = GB_JSON_NUMBER, v->num = NAN, GB_OK;
    if (take(p, "Infinity")) return v->type = GB_JSON_NUMBER, v->num = INFINITY, GB_OK;
    if (take(p, "-Infinity")) return v->type = GB_JSON_NUMBER, v->num = -INFINITY, GB_OK;
    return parse_number(p, v);
}

static void release(gb_json *v) {
    for (int i = 0; i < v->n; i++) {
        release(&v->items[i]);
        if (v->keys) gb_free(v->keys[i]);
    }
    gb_free(v->items);
    gb_free(v->keys);
    gb_free(v->str);
}

void gb_json_free(gb_json *v) {
    if (!v) return;
    release(v);
    gb_free(v);
}

gb_status gb_json_parse(const char *text, size_t len, gb_json **out) {
    *out = NULL;
    gb_json *v = gb_calloc(1, sizeof *v);
    if (!v) return GB_ERR_NOMEM;
    parser p = {text, text + len, text, 0};
    /* A UTF-8 byte order mark is not JSON but editors write it. */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) p.s += 3;
    gb_status s = parse_value(&p, v);
    if (s == GB_OK) {
        skip_ws(&p);
        if (p.s != p.end) s = fail(&p, "unexpected text after the value");
    }
    if (s != GB_OK) {
        gb_json_free(v);
        return s;
    }
    *out = v;
    return GB_OK;
}

gb_status gb_text_file_read(const char *path, size_t max, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return gb_error(GB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t n = 0, cap = 1 << 16;
    char *buf = gb_malloc(cap + 1);
    gb_status s = buf ? GB_OK : GB_ERR_NOMEM;
    while (s == GB_OK) {
        if (n == cap) {
            if (cap >= max) {
                s = gb_error(GB_ERR_FORMAT, "%s: larger than %zu MiB, not a gibbon result file", path, max >> 20);
                break;
            }
            char *nb = gb_realloc(buf, cap * 2 + 1);
            if (!nb) {
                s = GB_ERR_NOMEM;
                break;
            }
            buf = nb, cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) s = gb_error(GB_ERR_IO, "%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (s != GB_OK) {
        gb_free(buf);
        return s;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return GB_OK;
}

gb_status gb_json_read_file(const char *path, gb_json **out) {
    *out = NULL;
    char *buf;
    size_t n;
    GB_TRY(gb_text_file_read(path, JSON_MAX_BYTES, &buf, &n));
    gb_status s = gb_json_parse(buf, n, out);
    if (s != GB_OK) gb_error_prefix(s, "%s", path);
    gb_free(buf);
    return s;
}

const gb_json *gb_json_get(const gb_json *v, const char *key) {
    if (!v || v->type != GB_JSON_OBJECT) return NULL;
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

const gb_json *gb_json_at(const gb_json *v, int i) {
    if (!v || v->type != GB_JSON_ARRAY || i < 0 || i >= v->n) return NULL;
    return &v->items[i];
}

double gb_json_number(const gb_json *v, double dflt) {
    return v && (v->type == GB_JSON_NUMBER || v->type == GB_JSON_BOOL) ? v->num : dflt;
}

const char *gb_json_string(const gb_json *v, const char *dflt) {
    return v && v->type == GB_JSON_STRING ? v->str : dflt;
}

int gb_json_len(const gb_json *v) { return v && v->type == GB_JSON_ARRAY ? v->n : 0; }
