/* png.h — PNG encoding into memory, for pages that embed images as data:
 * URIs (the HTML report). Private to libgibbon. */
#ifndef GB_PNG_H_
#define GB_PNG_H_

#include "internal.h"

/* Encodes a canvas as an 8-bit RGB PNG: *buf (release with gb_free) holds
 * *len bytes. */
gb_status gb_png_encode(const gb_image *im, unsigned char **buf, size_t *len);

#endif
