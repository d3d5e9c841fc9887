/* cmd_data.c — `gibbon data signs`: write the synthetic road-sign set to a
 * directory (images.npy, labels.npy, classes.txt, contact.png), every file
 * atomically. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SHEET_COLS 10
#define SHEET_MAX 100

/* The first images at 2x with their class under each: a contact sheet. */
static gb_status write_contact(const char *path, const gb_dataset *d) {
    int S = (int)d->images->shape[2], scale = 2, n = (int)GB_MIN(d->n, SHEET_MAX);
    int cols = GB_MIN(n, SHEET_COLS), rows = (n + SHEET_COLS - 1) / SHEET_COLS;
    int cw = S * scale + 6, ch = S * scale + 20;
    gb_image *im = gb_image_new(cols * cw + 6, rows * ch + 6, 255, 255, 255);
    if (!im) return GB_ERR_NOMEM;
    size_t stride = (size_t)3 * (size_t)S * (size_t)S;
    for (int i = 0; i < n; i++) {
        int x = 6 + (i % SHEET_COLS) * cw, y = 6 + (i / SHEET_COLS) * ch;
        gb_image_blit(im, d->images->data + (size_t)i * stride, 3, S, S, 0, 1, x, y, scale);
        gb_image_text(im, x, y + S * scale + 2, gb_sign_class_name(d->labels[i]), 1, 0, 0, 0);
    }
    gb_status s = gb_png_write(path, im);
    gb_image_free(im);
    return s;
}

static gb_status write_set(const char *out, const gb_dataset *d) {
    char path[4200];
    snprintf(path, sizeof path, "%s/images.npy", out);
    GB_TRY(gb_npy_write(path, d->images));
    snprintf(path, sizeof path, "%s/labels.npy", out);
    GB_TRY(gb_npy_write_i32(path, d->labels, d->n));
    snprintf(path, sizeof path, "%s/classes.txt", out);
    gb_atomic_file af;
    GB_TRY(gb_atomic_open(&af, path));
    for (int k = 0; k < d->num_classes; k++) fprintf(af.f, "%d %s\n", k, d->class_names[k]);
    GB_TRY(gb_atomic_commit(&af));
    snprintf(path, sizeof path, "%s/contact.png", out);
    return write_contact(path, d);
}

int cmd_data(int argc, char **argv) {
    gb_signs_params p = gb_signs_default_params();
    const char *out = NULL;
    int n = 1000;
    cli_opt opts[] = {
        {"out", OPT_STR, &out, "output directory (required)"},
        {"n", OPT_INT, &n, "number of images, also -n (default 1000)"},
        {"seed", OPT_U64, &p.seed, "seed of the set (default 1 = signs:train, 2 = signs:test)"},
        {"size", OPT_INT, &p.size, "image side in pixels (default 64)"},
        {"supersample", OPT_INT, &p.supersample, "anti-aliasing samples per pixel side (default 3)"},
        {0}};
    const char *summary =
        "usage: gibbon data signs --out DIR [-n N] [--seed S]\n"
        "Writes a synthetic data set: images.npy (N, 3, H, W) float32 in [0,1], labels.npy (int32),\n"
        "classes.txt and contact.png (the first 100 images with their classes).\n"
        "Sets: signs (stop, yield, speed 30/50/80, no entry, priority, turn left/right, warning).";
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return cli_parse("data", summary, argc, argv, opts) == 1 ? 0 : 2;
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "gibbon data: name the set first: gibbon data signs --out DIR\n");
        return 2;
    }
    if (strcmp(argv[1], "signs") != 0) {
        fprintf(stderr, "gibbon data: unknown set '%s' (known: signs)\n", argv[1]);
        return 2;
    }
    /* "-n N" is the conventional short form; the parser knows long options only. */
    char **args = malloc((size_t)argc * sizeof *args);
    if (!args) return cli_fail("data");
    char nflag[] = "--n";
    for (int i = 1; i < argc; i++) args[i - 1] = strcmp(argv[i], "-n") == 0 ? nflag : argv[i];
    int r = cli_parse("data", summary, argc - 1, args, opts);
    free(args);
    if (r) return r == 1 ? 0 : r;
    if (!out) {
        fprintf(stderr, "gibbon data: --out is required\n");
        return 2;
    }
    if (n < 1) {
        fprintf(stderr, "gibbon data: -n: %d is not a positive count\n", n);
        return 2;
    }
    if (p.size < 16 || p.size > GB_SIGNS_MAX_SIZE) {
        fprintf(stderr, "gibbon data: --size: %d outside [16, %d]\n", p.size, GB_SIGNS_MAX_SIZE);
        return 2;
    }
    if (p.supersample < 1 || p.supersample > 8) {
        fprintf(stderr, "gibbon data: --supersample: %d outside [1, 8]\n", p.supersample);
        return 2;
    }
    if (cli_mkdirs(out)) {
        fprintf(stderr, "gibbon data: --out: cannot create directory %s\n", out);
        return 1;
    }
    gb_dataset *d = NULL;
    double t0 = gb_now();
    if (gb_signs_generate(&p, n, &d)) return cli_fail("data");
    double dt = gb_now() - t0;
    int rc = 0;
    if (write_set(out, d)) rc = cli_fail(out);
    else
        printf("wrote %d signs (3x%dx%d, seed %llu) to %s in %.2f s\n", n, p.size, p.size,
               (unsigned long long)p.seed, out, dt);
    gb_dataset_free(d);
    return rc;
}
