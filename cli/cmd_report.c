/* cmd_report.c — `gibbon report`: the HTML page for an evaluation
 * directory (see gb_report_write). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

int cmd_report(int argc, char **argv) {
    gb_report_params p = gb_report_default_params();
    const char *in = NULL;
    cli_opt opts[] = {
        {"in", OPT_STR, &in, "evaluation directory written by gibbon eval (holds eval.json)"},
        {"out", OPT_STR, &p.out, "HTML file to write (default: <in>/report.html)"},
        {"transfer", OPT_STR, &p.transfer, "transfer-matrix JSON to include ({sources, targets, success})"},
        {"defenses", OPT_STR, &p.defenses, "defense-comparison JSON to include (list of {name, clean_accuracy, ...})"},
        {"compare", OPT_STR, &p.compare, "eval directories to compare side by side, comma-separated (e.g. plain vs defended)"},
        {"examples", OPT_INT, &p.examples, "broken examples drawn as figures (default 4)"},
        {0},
    };
    int r = cli_parse("report", "Writes a self-contained HTML report (inline SVG plots and PNG figures) for the "
                      "output directory of gibbon eval.", argc, argv, opts);
    if (r) return r == 1 ? 0 : r;
    if (!in) {
        fprintf(stderr, "gibbon report: --in DIR is required (the output directory of gibbon eval)\n");
        return 2;
    }
    if (p.examples < 0 || p.examples > 1000) {
        fprintf(stderr, "gibbon report: --examples: %d is not in 0..1000\n", p.examples);
        return 2;
    }
    if (gb_report_write(in, &p) != GB_OK) return cli_fail("report");
    char def[4200];
    snprintf(def, sizeof def, "%s/report.html", in);
    printf("wrote %s\n", p.out ? p.out : def);
    return 0;
}
