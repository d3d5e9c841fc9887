/* masks.c — where a physical perturbation may go: built-in shapes scaled to
 * the image (a square or disc for patches, RP2's sticker bars, Sharif et
 * al.'s eyeglass frame) or a PNG drawn by the user. */
#include "transforms/transforms.h"

#include <math.h>
#include <png.h>

/* The eyeglass frame (Sharif et al. 2016, Fig. 1 in spirit): two elliptic
 * rims at eye height, a bridge, and temples running to the sides. The line
 * width is at least 1.5 pixels so the frame survives small images. */
static void glasses(int h, int w, float *m) {
    const float th = fmaxf(1.5f, 0.07f * (float)w);
    const float cy = 0.40f * h, rx = 0.19f * w, ry = 0.15f * h;
    const float cxs[2] = {0.29f * w, 0.71f * w};
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float u = j + 0.5f, v = i + 0.5f, val = 0;
            for (int e = 0; e < 2; e++) {
                float dx = u - cxs[e], dy = v - cy;
                float outer = dx * dx / (rx * rx) + dy * dy / (ry * ry);
                float ix = fmaxf(rx - th, 0.5f), iy = fmaxf(ry - th, 0.5f);
                float inner = dx * dx / (ix * ix) + dy * dy / (iy * iy);
                if (outer <= 1 && inner >= 1) val = 1;
            }
            int rim_row = fabsf(v - (cy - 0.5f * ry)) <= 0.5f * th;
            if (rim_row && u >= cxs[0] + rx - th && u <= cxs[1] - rx + th) val = 1; /* bridge */
            if (rim_row && (u <= cxs[0] - rx + th || u >= cxs[1] + rx - th)) val = 1; /* temples */
            m[(int64_t)i * w + j] = val;
        }
}

static void rect(int h, int w, float x0, float y0, float x1, float y1, float *m) {
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            float u = (j + 0.5f) / w, v = (i + 0.5f) / h;
            if (u >= x0 && u <= x1 && v >= y0 && v <= y1) m[(int64_t)i * w + j] = 1;
        }
}

static gb_status load_png(const char *path, int h, int w, float *m) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return gb_error(GB_ERR_IO, "%s: cannot read mask PNG: %s", path, img.message);
    img.format = PNG_FORMAT_GRAY;
    if (img.width == 0 || img.height == 0 || (uint64_t)img.width * img.height > ((uint64_t)1 << 26)) {
        png_image_free(&img);
        return gb_error(GB_ERR_FORMAT, "%s: mask PNG size %ux%u out of range", path, img.width, img.height);
    }
    uint8_t *buf = gb_malloc(PNG_IMAGE_SIZE(img));
    if (!buf) {
        png_image_free(&img);
        return GB_ERR_NOMEM;
    }
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        gb_status s = gb_error(GB_ERR_FORMAT, "%s: corrupt mask PNG: %s", path, img.message);
        gb_free(buf);
        png_image_free(&img);
        return s;
    }
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++) {
            uint32_t si = (uint32_t)(((uint64_t)i * img.height) / (uint64_t)h);
            uint32_t sj = (uint32_t)(((uint64_t)j * img.width) / (uint64_t)w);
            m[(int64_t)i * w + j] = buf[(size_t)si * img.width + sj] >= 128 ? 1.0f : 0.0f;
        }
    gb_free(buf);
    png_image_free(&img);
    return GB_OK;
}

gb_status gb_mask_make(const char *name, int h, int w, float *mask) {
    if (h < 1 || w < 1) return gb_error(GB_ERR_ARG, "mask: size %dx%d out of range", h, w);
    memset(mask, 0, (size_t)h * (size_t)w * sizeof *mask);
    if (strcmp(name, "square") == 0) {
        rect(h, w, 0, 0, 1, 1, mask);
    } else if (strcmp(name, "circle") == 0) {
        float r = 0.5f * (float)GB_MIN(h, w);
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                float dx = j + 0.5f - 0.5f * w, dy = i + 0.5f - 0.5f * h;
                mask[(int64_t)i * w + j] = dx * dx + dy * dy <= r * r ? 1.0f : 0.0f;
            }
    } else if (strcmp(name, "glasses") == 0) {
        glasses(h, w, mask);
    } else if (strcmp(name, "rect") == 0) {
        /* RP2's "sticker" layout: two bars across the sign, above and below its middle. */
        rect(h, w, 0.22f, 0.28f, 0.78f, 0.40f, mask);
        rect(h, w, 0.22f, 0.60f, 0.78f, 0.72f, mask);
    } else if (strncmp(name, "rect:", 5) == 0) {
        float v[4];
        char tail;
        if (sscanf(name + 5, "%f,%f,%f,%f%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 || !(v[0] < v[2]) ||
            !(v[1] < v[3]) || v[0] < 0 || v[1] < 0 || v[2] > 1 || v[3] > 1)
            return gb_error(GB_ERR_ARG, "mask '%s': want rect:X0,Y0,X1,Y1 with 0 <= X0 < X1 <= 1 and "
                            "0 <= Y0 < Y1 <= 1", name);
        rect(h, w, v[0], v[1], v[2], v[3], mask);
    } else {
        size_t n = strlen(name);
        if (n < 4 || strcmp(name + n - 4, ".png") != 0)
            return gb_error(GB_ERR_ARG, "mask '%s': not square, circle, rect, rect:X0,Y0,X1,Y1, glasses "
                            "or a .png file", name);
        GB_TRY(load_png(name, h, w, mask));
    }
    double area = 0;
    for (int64_t k = 0; k < (int64_t)h * w; k++) area += mask[k];
    if (area == 0) return gb_error(GB_ERR_ARG, "mask '%s' covers no pixel of a %dx%d image", name, h, w);
    return GB_OK;
}
