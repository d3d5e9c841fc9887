/* figure.h — the adversarial-example figure as a canvas, for callers that
 * place it themselves (the HTML report embeds it as a data: URI). Private to
 * libgibbon; gb_figure_adversarial in gibbon.h writes the same as a PNG. */
#ifndef GB_FIGURE_H_
#define GB_FIGURE_H_

#include "internal.h"

/* Draws clean + eps * perturbation = adversarial (see gb_figure_adversarial)
 * into a new canvas *out (release with gb_image_free); `middle` captions the
 * perturbation panel (what it shows: "sign(grad_x J)" for FGSM). */
gb_status gb_figure_render(int c, int h, int w, gb_figure_panel clean, gb_figure_panel adv, float eps,
                           const char *title, const char *middle, gb_image **out);

#endif
