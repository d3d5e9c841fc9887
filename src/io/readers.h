/* readers.h — entry points of the IDX and .npy readers that the dataset
 * loader (src/data/dataset.c) needs beyond the public API: reading only the
 * first examples, and knowing the stored dtype. Private to libgibbon. */
#ifndef GB_READERS_H_
#define GB_READERS_H_

#include "internal.h"

/* As gb_idx_read_images / gb_idx_read_labels, but keep only the first
 * `limit` examples (all if limit < 0) without reading the rest of the file;
 * *declared (may be NULL) receives the count the header declares. */
gb_status gb_idx_read_images_n(const char *path, int64_t limit, gb_tensor **out, int64_t *declared);
gb_status gb_idx_read_labels_n(const char *path, int64_t limit, int **labels, int64_t *n,
                               int64_t *declared);

typedef enum gb_npy_dtype {
    GB_NPY_F4, /* '<f4' */
    GB_NPY_F8, /* '<f8' */
    GB_NPY_U1, /* '|u1' */
    GB_NPY_I4, /* '<i4' */
    GB_NPY_I8, /* '<i8' */
} gb_npy_dtype;

/* As gb_npy_read (values converted to float, unscaled), also telling the
 * dtype stored in the file. */
gb_status gb_npy_read_typed(const char *path, gb_tensor **out, gb_npy_dtype *dtype);
const char *gb_npy_dtype_name(gb_npy_dtype d); /* "float32", "uint8", ... */

/* .npy over pipes and buffers. gb_npy_header_encode writes a version 1.0
 * preamble + header for descr ("<f4", "<i4") and shape into buf (at least
 * GB_NPY_HEADER_MAX bytes) and returns its length, a multiple of 64.
 * gb_npy_header_decode reads the first n bytes received so far: GB_OK with
 * *hlen = 0 while more are needed, else *hlen = where the data starts and
 * the shape (GB_MAX_DIMS entries), dtype and element size; errors name
 * `what`. gb_npy_convert turns n stored elements into floats. */
#define GB_NPY_HEADER_MAX (256 + 24 * GB_MAX_DIMS)
size_t gb_npy_header_encode(char *buf, const char *descr, int ndim, const int64_t *shape);
gb_status gb_npy_header_decode(const char *what, const uint8_t *buf, size_t n, size_t *hlen,
                               int *ndim, int64_t *shape, gb_npy_dtype *dtype, size_t *esize);
void gb_npy_convert(float *dst, const void *src, size_t n, gb_npy_dtype d);

#endif
