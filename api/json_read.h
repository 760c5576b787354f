/* Internal: strict JSON parsing with json-c, shared by the v1 JSON and OIP v2 decoders. */
#ifndef GROVE_API_JSON_READ_H
#define GROVE_API_JSON_READ_H

#include <json-c/json.h>

#include "common.h"

static inline int api__json_is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses all of BODY as one JSON object (strict, UTF-8 checked, at most 16 levels deep) with
 * this thread's tokener; NULL with ERR filled (400, or 413 past 2 GiB) otherwise. The
 * caller drops the result with json_object_put(). */
json_object *api__json_parse_object(const char *body, size_t len, api_error_t *err);

/* 1 when V is a JSON number (int or double). */
int api__json_is_number(json_object *v);

/* The value of a JSON number as a double (integers rounded once, straight to float32);
 * -1 for integers beyond int64/uint64, which json-c clamps without telling. */
int api__json_number_value(json_object *v, double *out);

/* Boolean member KEY of O into *OUT (absent: left alone); a non-boolean is a 400 whose
 * message starts with WHERE. */
int api__json_get_bool(json_object *o, const char *key, int *out, const char *where,
                       api_error_t *err);

/* json-c's name of V's type ("array", "string", ...), for messages. */
const char *api__json_type_name(json_object *v);

#endif /* GROVE_API_JSON_READ_H */
