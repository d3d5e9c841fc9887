/* json.h — a small JSON reader (RFC 8259) for the result files gibbon reads
 * back: eval.json, transfer matrices, defense comparisons. Private to
 * libgibbon. Tolerant where Python's json module is: NaN, Infinity and
 * -Infinity are accepted as numbers. */
#ifndef GB_JSON_H_
#define GB_JSON_H_

#include "internal.h"

typedef enum gb_json_type {
    GB_JSON_NULL,
    GB_JSON_BOOL,
    GB_JSON_NUMBER,
    GB_JSON_STRING,
    GB_JSON_ARRAY,
    GB_JSON_OBJECT,
} gb_json_type;

/* A parsed value. Arrays and objects hold n items; objects also keys[n]
 * (UTF-8, NUL-terminated; duplicate keys keep the first for lookups). */
typedef struct gb_json {
    gb_json_type type;
    double num;  /* NUMBER; BOOL: 0 or 1 */
    char *str;   /* STRING (UTF-8, NUL-terminated; embedded \u0000 ends it) */
    int n;
    struct gb_json *items;
    char **keys;
} gb_json;

/* Parses len bytes of text into *out (release with gb_json_free).
 * GB_ERR_FORMAT "line L, column C: ..." on malformed input or nesting
 * deeper than 64. */
gb_status gb_json_parse(const char *text, size_t len, gb_json **out);
/* Reads and parses a file; errors start with the path. */
gb_status gb_json_read_file(const char *path, gb_json **out);
void gb_json_free(gb_json *v);
/* Reads a whole file into *text (NUL-terminated, release with gb_free),
 * *len bytes; GB_ERR_FORMAT past max bytes. */
gb_status gb_text_file_read(const char *path, size_t max, char **text, size_t *len);

/* Member `key` of an object (NULL when v is not an object or lacks it). */
const gb_json *gb_json_get(const gb_json *v, const char *key);
/* Item i of an array (NULL when out of range or not an array). */
const gb_json *gb_json_at(const gb_json *v, int i);
/* The number (bools count as 0/1), or dflt when v is NULL or not a number. */
double gb_json_number(const gb_json *v, double dflt);
/* The string, or dflt when v is NULL or not a string. */
const char *gb_json_string(const gb_json *v, const char *dflt);
/* Items of an array (0 when not an array). */
int gb_json_len(const gb_json *v);

#endif
