/* signs.c — a synthetic RGB road-sign data set, rendered deterministically
 * from a seed (the stage for the physical-world attacks of issue 7).
 *
 * Each image is rendered on its own from (seed, index), so any prefix of a
 * set is the same whatever N, any thread count gives the same bits, and the
 * label of image i is i mod 10 (classes exactly balanced in every block of
 * ten). The scene, front to back:
 *   - a sign in its own plane, coordinates (u, v) in [-1, 1]^2 (v down),
 *     drawn by per-class shape functions (octagon, triangles, discs, a
 *     diamond; text and digits from the embedded bitmap font), seen through a
 *     homography: a pinhole camera looking at the plane rotated by roll
 *     (in-plane), yaw and pitch (out-of-plane tilts give the perspective);
 *   - a grey post below it;
 *   - background clutter: a two-colour gradient plus random discs, boxes and
 *     bars.
 * Every pixel averages supersample^2 sample points (anti-aliasing), then the
 * camera: per-channel gain (brightness, colour cast), contrast, a shadow
 * gradient, a Gaussian blur and Gaussian noise, clipped to [0, 1].
 */
#include "internal.h"
#include "io/font.h"

#include <math.h>

#define NCLS GB_SIGNS_NUM_CLASSES
#define MAX_SHAPES 8
#define PI_F 3.14159265358979f

static const char *const class_names[NCLS] = {
    "stop",     "yield",    "speed 30",  "speed 50",   "speed 80",
    "no entry", "priority", "turn left", "turn right", "warning",
};

const char *gb_sign_class_name(int k) { return k >= 0 && k < NCLS ? class_names[k] : "?"; }

gb_signs_params gb_signs_default_params(void) {
    gb_signs_params p = {.size = GB_SIGNS_DEFAULT_SIZE, .supersample = 3, .seed = 1};
    return p;
}

typedef struct rgb {
    float r, g, b;
} rgb;

static const rgb RED = {0.78f, 0.07f, 0.09f}, WHITE = {0.94f, 0.94f, 0.92f},
                 BLACK = {0.06f, 0.06f, 0.07f}, BLUE = {0.05f, 0.27f, 0.66f},
                 YELLOW = {0.98f, 0.78f, 0.06f}, POST = {0.55f, 0.56f, 0.58f};

static rgb mix(rgb a, rgb b, float t) {
    rgb c = {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t};
    return c;
}

/* ---- text from the bitmap font ---- */

static float glyph_at(const char *s, int len, int gx, int gy) {
    if (gy < 0 || gy >= gb_font_mono.h || gx < 0 || gx >= len * gb_font_mono.w) return 0;
    return (float)gb_font_coverage(s[gx / gb_font_mono.w], gx % gb_font_mono.w, gy) / 15.0f;
}

/* Bilinear coverage at font-pixel coordinates (fx, fy) (pixel centres at +0.5). */
static float glyph_bilinear(const char *s, int len, float fx, float fy) {
    float x = fx - 0.5f, y = fy - 0.5f;
    int x0 = (int)floorf(x), y0 = (int)floorf(y);
    float tx = x - (float)x0, ty = y - (float)y0;
    return (1 - ty) * ((1 - tx) * glyph_at(s, len, x0, y0) + tx * glyph_at(s, len, x0 + 1, y0)) +
           ty * ((1 - tx) * glyph_at(s, len, x0, y0 + 1) + tx * glyph_at(s, len, x0 + 1, y0 + 1));
}

/* Coverage of string s centred at (cx, cy) in sign units, `scale` sign
 * units per font pixel. The font is a light 7x13 face; taking the maximum
 * over small offsets emboldens it, as road-sign lettering is bold. */
static float text_coverage(const char *s, float u, float v, float cx, float cy, float scale) {
    int len = (int)strlen(s);
    /* Capitals and digits occupy font rows 2..9: their middle is row 6. */
    float fx = (u - cx) / scale + 0.5f * (float)(len * gb_font_mono.w), fy = (v - cy) / scale + 6.0f;
    if (fx < -1 || fy < -1 || fx > (float)(len * gb_font_mono.w) + 1 || fy > (float)gb_font_mono.h + 1)
        return 0;
    float c = glyph_bilinear(s, len, fx, fy);
    c = fmaxf(c, glyph_bilinear(s, len, fx - 0.35f, fy));
    c = fmaxf(c, glyph_bilinear(s, len, fx + 0.35f, fy));
    c = fmaxf(c, glyph_bilinear(s, len, fx, fy - 0.3f));
    return fminf(1.0f, 1.25f * c);
}

/* ---- sign shapes: signed distances in sign units (< 0 inside) ---- */

static float octagon_d(float u, float v) {
    float a = fabsf(u), b = fabsf(v);
    return fmaxf(fmaxf(a, b), (a + b) * 0.70710678f) - 1.0f;
}

/* Equilateral triangle with a vertex up (up = 1) or down (up = 0). */
static float triangle_d(float u, float v, int up) {
    if (!up) v = -v;
    float d1 = v - 0.75f, d2 = -0.866f * u - 0.5f * v - 0.49f, d3 = 0.866f * u - 0.5f * v - 0.49f;
    return fmaxf(d1, fmaxf(d2, d3));
}

static float disc_d(float u, float v) { return sqrtf(u * u + v * v) - 1.0f; }

static float diamond_d(float u, float v) { return (fabsf(u) + fabsf(v) - 1.0f) * 0.70710678f; }

/* A horizontal arrow pointing left (dir = -1) or right (+1). */
static int arrow_inside(float u, float v, int dir) {
    float a = u * (float)-dir; /* along the arrow, tip at a = -0.62 */
    float av = fabsf(v);
    if (a >= -0.15f && a <= 0.58f && av <= 0.13f) return 1;
    return a >= -0.62f && a < -0.15f && av <= (a + 0.62f) * 1.05f;
}

/* Colour of class cls at sign point (u, v); returns 0 outside the sign. */
static int sign_colour(int cls, float u, float v, rgb *out) {
    if (fabsf(u) > 1.02f || fabsf(v) > 1.02f) return 0;
    float d;
    switch (cls) {
    case GB_SIGN_STOP:
        if ((d = octagon_d(u, v)) > 0) return 0;
        *out = d > -0.07f ? WHITE : mix(RED, WHITE, text_coverage("STOP", u, v, 0, 0, 0.052f));
        return 1;
    case GB_SIGN_YIELD:
        if ((d = triangle_d(u, v, 0)) > 0) return 0;
        *out = d > -0.2f ? RED : WHITE;
        return 1;
    case GB_SIGN_SPEED30:
    case GB_SIGN_SPEED50:
    case GB_SIGN_SPEED80: {
        if ((d = disc_d(u, v)) > 0) return 0;
        const char *digits = cls == GB_SIGN_SPEED30 ? "30" : cls == GB_SIGN_SPEED50 ? "50" : "80";
        *out = d > -0.2f ? RED : mix(WHITE, BLACK, text_coverage(digits, u, v, 0, 0, 0.082f));
        return 1;
    }
    case GB_SIGN_NO_ENTRY:
        if (disc_d(u, v) > 0) return 0;
        *out = fabsf(u) < 0.66f && fabsf(v) < 0.17f ? WHITE : RED;
        return 1;
    case GB_SIGN_PRIORITY:
        if ((d = diamond_d(u, v)) > 0) return 0;
        *out = d > -0.035f ? BLACK : d > -0.2f ? WHITE : d > -0.23f ? BLACK : YELLOW;
        return 1;
    case GB_SIGN_TURN_LEFT:
    case GB_SIGN_TURN_RIGHT:
        if ((d = disc_d(u, v)) > 0) return 0;
        *out = d > -0.06f || arrow_inside(u, v, cls == GB_SIGN_TURN_LEFT ? -1 : 1) ? WHITE : BLUE;
        return 1;
    case GB_SIGN_WARNING:
        if ((d = triangle_d(u, v, 1)) > 0) return 0;
        *out = d > -0.2f ? RED : mix(WHITE, BLACK, text_coverage("!", u, v, 0, 0.18f, 0.075f));
        return 1;
    default: return 0;
    }
}

/* ---- the scene ---- */

typedef enum shape_kind { SHAPE_DISC, SHAPE_BOX, SHAPE_BAR } shape_kind;

typedef struct shape {
    shape_kind kind;
    float x, y, a, b, c, s; /* centre; disc radius a; box half sides a, b; bar direction (c, s), half length a, half width b */
    rgb col;
} shape;

typedef struct scene {
    int size, ss, cls;
    float hinv[9];          /* image (x, y, 1) -> sign (u, v, w) */
    rgb bg0, bg1;           /* gradient ends */
    float gdx, gdy;         /* gradient direction (unit) over the image */
    int nshapes;
    shape shapes[MAX_SHAPES];
    float post_x, post_y, post_hw; /* post from (post_x, post_y) down, half width */
    float fade;             /* sign colours mixed towards grey */
    rgb gain;               /* brightness times colour cast */
    float contrast, shadow, shadow_dx, shadow_dy;
    float blur, noise;
} scene;

static float uni(gb_rng *r, float lo, float hi) { return lo + (hi - lo) * gb_rng_uniform(r); }

static rgb random_colour(gb_rng *r, float lo, float hi) {
    rgb c = {uni(r, lo, hi), uni(r, lo, hi), uni(r, lo, hi)};
    return c;
}

/* Background palettes: sky, foliage, asphalt, brick, anything. */
static rgb background_colour(gb_rng *r) {
    static const rgb base[4] = {{0.55f, 0.70f, 0.88f}, {0.25f, 0.45f, 0.20f}, {0.40f, 0.40f, 0.42f},
                                {0.55f, 0.35f, 0.28f}};
    uint32_t k = gb_rng_below(r, 5);
    if (k == 4) return random_colour(r, 0.05f, 0.95f);
    rgb c = base[k];
    float j = 0.12f;
    c.r = fminf(1, fmaxf(0, c.r + uni(r, -j, j)));
    c.g = fminf(1, fmaxf(0, c.g + uni(r, -j, j)));
    c.b = fminf(1, fmaxf(0, c.b + uni(r, -j, j)));
    return c;
}

/* 3x3 inverse by the adjugate (the determinant's scale cancels in the
 * projective division). */
static void invert3(const float *m, float *o) {
    o[0] = m[4] * m[8] - m[5] * m[7];
    o[1] = m[2] * m[7] - m[1] * m[8];
    o[2] = m[1] * m[5] - m[2] * m[4];
    o[3] = m[5] * m[6] - m[3] * m[8];
    o[4] = m[0] * m[8] - m[2] * m[6];
    o[5] = m[2] * m[3] - m[0] * m[5];
    o[6] = m[3] * m[7] - m[4] * m[6];
    o[7] = m[1] * m[6] - m[0] * m[7];
    o[8] = m[0] * m[4] - m[1] * m[3];
}

/* Homography of a sign of radius rs pixels centred at (cx, cy), rotated by
 * roll, yaw, pitch (radians), seen by a pinhole camera of focal length f
 * pixels: P = Rot (rs u, rs v, 0) + (0, 0, f), x = cx + f Px / Pz. At zero
 * angles it is the similarity x = cx + rs u. */
static void sign_homography(scene *sc, float cx, float cy, float rs, float roll, float yaw,
                            float pitch, float f) {
    float cr = cosf(roll), sr = sinf(roll), cyw = cosf(yaw), syw = sinf(yaw), cp = cosf(pitch),
          sp = sinf(pitch);
    /* Rot = Rz(roll) Ry(yaw) Rx(pitch); only its first two columns matter. */
    float r00 = cr * cyw, r10 = sr * cyw, r20 = -syw;
    float r01 = cr * syw * sp - sr * cp, r11 = sr * syw * sp + cr * cp, r21 = cyw * sp;
    float h[9] = {rs * (f * r00 + cx * r20), rs * (f * r01 + cx * r21), cx * f,
                  rs * (f * r10 + cy * r20), rs * (f * r11 + cy * r21), cy * f,
                  rs * r20,                  rs * r21,                  f};
    invert3(h, sc->hinv);
}

static void sample_scene(scene *sc, gb_rng *r, int cls, int size, int ss) {
    memset(sc, 0, sizeof *sc);
    sc->size = size, sc->ss = ss, sc->cls = cls;
    float S = (float)size;
    float rs = S * uni(r, 0.27f, 0.45f);
    float margin = fmaxf(0.0f, 0.5f * S - rs * 1.05f);
    float cx = 0.5f * S + uni(r, -1, 1) * fminf(margin, 0.12f * S);
    float cy = 0.5f * S + uni(r, -1, 1) * fminf(margin, 0.12f * S);
    float deg = PI_F / 180.0f;
    sign_homography(sc, cx, cy, rs, uni(r, -15, 15) * deg, uni(r, -40, 40) * deg,
                    uni(r, -25, 25) * deg, S * uni(r, 1.0f, 3.0f));
    sc->bg0 = background_colour(r);
    sc->bg1 = background_colour(r);
    float ang = uni(r, 0, 2 * PI_F);
    sc->gdx = cosf(ang) / S, sc->gdy = sinf(ang) / S;
    sc->nshapes = (int)gb_rng_below(r, MAX_SHAPES + 1);
    for (int i = 0; i < sc->nshapes; i++) {
        shape *s = &sc->shapes[i];
        s->kind = (shape_kind)gb_rng_below(r, 3);
        s->x = uni(r, -0.1f, 1.1f) * S, s->y = uni(r, -0.1f, 1.1f) * S;
        s->a = uni(r, 0.04f, 0.3f) * S, s->b = uni(r, 0.02f, 0.3f) * S;
        if (s->kind == SHAPE_BAR) {
            float t = uni(r, 0, PI_F);
            s->c = cosf(t), s->s = sinf(t);
            s->a *= 2.0f, s->b = uni(r, 0.01f, 0.05f) * S;
        }
        s->col = gb_rng_below(r, 2) ? background_colour(r) : random_colour(r, 0, 1);
    }
    sc->post_x = cx + uni(r, -0.05f, 0.05f) * rs, sc->post_y = cy;
    sc->post_hw = gb_rng_below(r, 4) ? rs * uni(r, 0.05f, 0.1f) : 0; /* some signs hang: no post */
    sc->fade = uni(r, 0, 0.25f);
    float bright = uni(r, 0.55f, 1.25f);
    sc->gain.r = bright * uni(r, 0.85f, 1.15f);
    sc->gain.g = bright * uni(r, 0.85f, 1.15f);
    sc->gain.b = bright * uni(r, 0.85f, 1.15f);
    sc->contrast = uni(r, 0.7f, 1.2f);
    sc->shadow = uni(r, 0, 0.35f);
    float sa = uni(r, 0, 2 * PI_F);
    sc->shadow_dx = cosf(sa) / S, sc->shadow_dy = sinf(sa) / S;
    sc->blur = gb_rng_below(r, 3) ? uni(r, 0, 1.1f) * S / 64.0f : 0;
    sc->noise = uni(r, 0, 0.04f);
}

static int shape_inside(const shape *s, float x, float y) {
    float dx = x - s->x, dy = y - s->y;
    switch (s->kind) {
    case SHAPE_DISC: return dx * dx + dy * dy <= s->a * s->a;
    case SHAPE_BOX: return fabsf(dx) <= s->a && fabsf(dy) <= s->b;
    case SHAPE_BAR: return fabsf(dx * s->c + dy * s->s) <= s->a && fabsf(-dx * s->s + dy * s->c) <= s->b;
    }
    return 0;
}

/* Colour at image point (x, y); *on_sign is set when the sign covers it. */
static rgb scene_point(const scene *sc, float x, float y, int *on_sign) {
    const float *h = sc->hinv;
    float w = h[6] * x + h[7] * y + h[8];
    rgb c;
    *on_sign = 0;
    if (w > 0) {
        float u = (h[0] * x + h[1] * y + h[2]) / w, v = (h[3] * x + h[4] * y + h[5]) / w;
        if (sign_colour(sc->cls, u, v, &c)) {
            *on_sign = 1;
            rgb grey = {0.5f, 0.5f, 0.5f};
            return mix(c, grey, sc->fade);
        }
    }
    if (sc->post_hw > 0 && y >= sc->post_y && fabsf(x - sc->post_x) <= sc->post_hw) return POST;
    for (int i = sc->nshapes - 1; i >= 0; i--)
        if (shape_inside(&sc->shapes[i], x, y)) return sc->shapes[i].col;
    float t = 0.5f + (x - 0.5f * (float)sc->size) * sc->gdx + (y - 0.5f * (float)sc->size) * sc->gdy;
    return mix(sc->bg0, sc->bg1, fminf(1, fmaxf(0, t)));
}

/* Supersampled scene into chw (3, S, S); mask (S, S, may be NULL) gets the
 * fraction of each pixel the sign covers. */
static void rasterize(const scene *sc, float *chw, float *mask) {
    int S = sc->size, ss = sc->ss;
    size_t plane = (size_t)S * (size_t)S;
    float inv = 1.0f / (float)(ss * ss);
    for (int py = 0; py < S; py++)
        for (int px = 0; px < S; px++) {
            float r = 0, g = 0, b = 0, cover = 0;
            for (int sy = 0; sy < ss; sy++)
                for (int sx = 0; sx < ss; sx++) {
                    int on;
                    rgb c = scene_point(sc, (float)px + ((float)sx + 0.5f) / (float)ss,
                                        (float)py + ((float)sy + 0.5f) / (float)ss, &on);
                    r += c.r, g += c.g, b += c.b, cover += (float)on;
                }
            size_t i = (size_t)py * (size_t)S + (size_t)px;
            chw[i] = r * inv, chw[plane + i] = g * inv, chw[2 * plane + i] = b * inv;
            if (mask) mask[i] = cover * inv;
        }
}

/* Separable Gaussian blur of one (S, S) plane in place, clamped edges. */
static void blur_plane(float *p, int S, float sigma) {
    enum { MAX_R = 8 };
    float k[2 * MAX_R + 1], tmp[GB_SIGNS_MAX_SIZE];
    int rad = GB_MIN((int)ceilf(2.5f * sigma), MAX_R);
    float sum = 0;
    for (int i = -rad; i <= rad; i++) sum += k[i + rad] = expf(-0.5f * (float)(i * i) / (sigma * sigma));
    for (int i = 0; i <= 2 * rad; i++) k[i] /= sum;
    for (int pass = 0; pass < 2; pass++)
        for (int line = 0; line < S; line++) {
            /* pass 0: rows (stride 1), pass 1: columns (stride S) */
            float *base = pass ? p + line : p + (size_t)line * (size_t)S;
            size_t stride = pass ? (size_t)S : 1;
            for (int i = 0; i < S; i++) tmp[i] = base[(size_t)i * stride];
            for (int i = 0; i < S; i++) {
                float acc = 0;
                for (int j = -rad; j <= rad; j++) acc += k[j + rad] * tmp[GB_MIN(GB_MAX(i + j, 0), S - 1)];
                base[(size_t)i * stride] = acc;
            }
        }
}

static void camera(const scene *sc, gb_rng *r, float *chw) {
    int S = sc->size;
    size_t plane = (size_t)S * (size_t)S;
    const float gain[3] = {sc->gain.r, sc->gain.g, sc->gain.b};
    for (int c = 0; c < 3; c++) {
        float *p = chw + c * plane;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float shade = 1.0f - sc->shadow * (0.5f + ((float)x - 0.5f * (float)S) * sc->shadow_dx +
                                                   ((float)y - 0.5f * (float)S) * sc->shadow_dy);
                float v = p[(size_t)y * (size_t)S + (size_t)x] * gain[c] * shade;
                p[(size_t)y * (size_t)S + (size_t)x] = (v - 0.5f) * sc->contrast + 0.5f;
            }
        if (sc->blur > 0.2f) blur_plane(p, S, sc->blur);
    }
    for (size_t i = 0; i < 3 * plane; i++) {
        float v = chw[i] + sc->noise * gb_rng_normal(r);
        chw[i] = fminf(1.0f, fmaxf(0.0f, v));
    }
}

static gb_status check_params(const gb_signs_params *p) {
    if (p->size < 16 || p->size > GB_SIGNS_MAX_SIZE)
        return gb_error(GB_ERR_ARG, "signs: image size %d outside [16, %d]", p->size, GB_SIGNS_MAX_SIZE);
    if (p->supersample < 1 || p->supersample > 8)
        return gb_error(GB_ERR_ARG, "signs: supersampling %d outside [1, 8]", p->supersample);
    return GB_OK;
}

/* One rng per image, from (seed, index): splitmix64 scrambles the seed so
 * nearby seeds give unrelated sets. */
static void image_rng(gb_rng *r, uint64_t seed, int64_t index) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    gb_rng_seed(r, z ^ (z >> 31), (uint64_t)index);
}

static void render_one(const gb_signs_params *p, int64_t index, float *chw, float *mask) {
    gb_rng r;
    image_rng(&r, p->seed, index);
    scene sc;
    sample_scene(&sc, &r, (int)(index % NCLS), p->size, p->supersample);
    rasterize(&sc, chw, mask);
    camera(&sc, &r, chw);
}

gb_status gb_sign_render(const gb_signs_params *p, int64_t index, float *chw, int *label) {
    GB_TRY(check_params(p));
    if (index < 0) return gb_error(GB_ERR_ARG, "signs: negative image index %lld", (long long)index);
    render_one(p, index, chw, NULL);
    if (label) *label = (int)(index % NCLS);
    return GB_OK;
}

gb_status gb_sign_render_neutral(int cls, int size, float *chw, float *mask) {
    if (cls < 0 || cls >= NCLS) return gb_error(GB_ERR_ARG, "signs: class %d outside [0, %d)", cls, NCLS);
    gb_signs_params p = gb_signs_default_params();
    p.size = size;
    GB_TRY(check_params(&p));
    scene sc;
    memset(&sc, 0, sizeof sc);
    sc.size = size, sc.ss = 4, sc.cls = cls;
    float S = (float)size;
    sign_homography(&sc, 0.5f * S, 0.5f * S, 0.42f * S, 0, 0, 0, 2.0f * S);
    rgb grey = {0.5f, 0.52f, 0.55f};
    sc.bg0 = sc.bg1 = grey;
    rasterize(&sc, chw, mask);
    return GB_OK;
}

gb_status gb_signs_generate(const gb_signs_params *p, int64_t n, gb_dataset **out) {
    *out = NULL;
    GB_TRY(check_params(p));
    if (n < 1 || n > GB_MAX_ELEMENTS / (3 * (int64_t)p->size * p->size))
        return gb_error(GB_ERR_ARG, "signs: image count %lld out of range", (long long)n);
    gb_dataset *d = gb_calloc(1, sizeof *d);
    if (!d) return GB_ERR_NOMEM;
    d->images = gb_tensor_new4(n, 3, p->size, p->size);
    d->labels = gb_malloc((size_t)n * sizeof *d->labels);
    d->class_names = gb_calloc(NCLS, sizeof *d->class_names);
    /* Where the sign is: the adversarial patch can be confined to it. */
    d->masks = gb_malloc((size_t)n * (size_t)p->size * (size_t)p->size * sizeof *d->masks);
    d->n = n;
    d->num_classes = NCLS;
    int ok = d->images && d->labels && d->class_names && d->masks;
    for (int k = 0; ok && k < NCLS; k++) ok = (d->class_names[k] = gb_strdup(class_names[k])) != NULL;
    if (!ok) {
        gb_dataset_free(d);
        return GB_ERR_NOMEM;
    }
    size_t stride = (size_t)3 * (size_t)p->size * (size_t)p->size;
    float *data = d->images->data;
    /* Images are independent and each has its own rng: any schedule gives
     * the same bits. */
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t i = 0; i < n; i++) {
        render_one(p, i, data + (size_t)i * stride, d->masks + (size_t)i * (size_t)p->size * (size_t)p->size);
        d->labels[i] = (int)(i % NCLS);
    }
    *out = d;
    return GB_OK;
}
