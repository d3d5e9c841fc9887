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

#endif
