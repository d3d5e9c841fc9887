/* report.h — what the HTML report (report.c) reads from an evaluation
 * directory (report_data.c): eval.json, and per epsilon examples.csv and
 * x_adv.npy. Private to libgibbon. */
#ifndef GB_REPORT_H_
#define GB_REPORT_H_

#include "internal.h"
#include "io/json.h"

/* One row of a run's examples.csv. */
typedef struct gb_report_example {
    int64_t index; /* position in the data set */
    int label, clean_pred, adv_pred;
    float clean_conf, adv_conf, linf, l2;
    int robust;
    char broken_by[24]; /* attack name, "" (robust) or "clean" (misclassified already) */
} gb_report_example;

/* One epsilon of the evaluation. Strings are borrowed from the eval.json tree. */
typedef struct gb_report_run {
    double eps, robust_accuracy, time_s;
    int complete;
    const char *dir;
    const gb_json *attacks; /* array of {name, robust_accuracy, newly_broken, ...} */
    gb_report_example *ex;  /* examples.csv rows (NULL when the file is missing) */
    int64_t n;
    char csv_error[256]; /* why examples.csv could not be read ("" when fine or absent) */
} gb_report_run;

typedef struct gb_report_data {
    gb_json *eval; /* the whole eval.json */
    const char *model, *data, *norm, *command, *version;
    double clean_accuracy;
    int64_t n;
    gb_report_run *runs; /* sorted by eps */
    int nruns;
} gb_report_data;

/* Reads dir/eval.json and every run's examples.csv. Errors (missing or
 * corrupt eval.json, no runs) name the file; a missing or bad examples.csv
 * only empties that run's examples (the page says so). */
gb_status gb_report_load(const char *dir, gb_report_data *d);
void gb_report_data_free(gb_report_data *d);

/* Parses examples.csv (header names the columns, in any order; quoted
 * fields allowed) into *ex (release with gb_free), *n rows. */
gb_status gb_report_read_csv(const char *path, gb_report_example **ex, int64_t *n);

/* The page being written, for the section writers (report_sections.c). */
typedef struct gb_report_page {
    FILE *f;
    const gb_report_data *d;
    const char *report_cmd; /* the command that makes this page */
} gb_report_page;

/* "Reproduce with" block: eval's command, then `extra` (may be NULL: the
 * report command). All strings escaped. */
void gb_report_commands(const gb_report_page *pg, const char *extra);
/* Robust accuracy vs eps per attack (SVG) and the ensemble's table. */
void gb_report_section_results(const gb_report_page *pg);
/* Confidence histograms, clean vs adversarial, per eps. */
void gb_report_section_confidence(const gb_report_page *pg);
/* The optional sections: errors name the file. */
gb_status gb_report_section_transfer(const gb_report_page *pg, const char *path);
gb_status gb_report_section_defenses(const gb_report_page *pg, const char *path);
/* Other evaluation directories (comma-separated) side by side (report_compare.c). */
gb_status gb_report_section_compare(const gb_report_page *pg, const char *dirs);

#endif
