/*
 * What the API tests (test_api_json.c, test_api_oip.c, test_api_explain.c, ...) share: a
 * decoded request and its refusal checks, fixtures by path, and answers parsed back with
 * strict json-c (binary parts: le32).
 */
#ifndef GROVE_TESTS_API_CHECK_H
#define GROVE_TESTS_API_CHECK_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "grove_engine.h"
#include "test.h"

typedef struct {
  int rc;
  api_request_t req;
  api_error_t err;
} result_t;

/* A refusal with STATUS whose message holds NEEDLE; nothing may be left in the request. */
static inline void check_refused(result_t *r, int status, const char *needle, const char *what) {
  CHECK_EQ_INT(r->rc, -1, what);
  CHECK_EQ_INT(r->err.status, status, what);
  CHECK_CONTAINS(r->rc ? r->err.message : NULL, needle, what);
  CHECK(r->req.rows == NULL && r->req.id == NULL && r->req.noutputs == 0,
        "nothing is left in the request");
  CHECK(strlen(r->err.message) < 256, "message fits");
  api_request_free(&r->req);
}

/* The model at REL under the source tree, or NULL (said as a TAP comment). */
static inline grove_forest_t *load(const char *rel) {
  grove_forest_t *f = NULL;
  grove_error_t err;
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", GROVE_SOURCE_ROOT, rel);
  if (grove_forest_load_file(path, &f, &err) != GROVE_OK) printf("# %s: %s\n", path, err.msg);
  return f;
}

/* The bundled income model and its schema into *F and *S; 0, or -1 after printing a failed
 * TAP plan (the test cannot go on). */
static inline int load_income(grove_forest_t **f, grove_schema_t **s) {
  grove_error_t err;
  if (grove_model_load(GROVE_SOURCE_ROOT "/models/income", f, s, &err) == GROVE_OK) return 0;
  printf("not ok 1 - income model loads: %s\n1..1\n", err.msg);
  return -1;
}

/* 0 when OK (every fixture a test's main() loaded is there), else -1 after printing a failed
 * TAP plan, as load_income() does (load() has said which one is missing). */
static inline int fixtures_loaded(int ok) {
  if (ok) return 0;
  printf("not ok 1 - fixtures load\n1..1\n");
  return -1;
}

/* B's first LEN bytes parsed as one strict JSON value, or NULL. */
static inline json_object *parse_body(const api_body_t *b, size_t len) {
  json_tokener *tok = json_tokener_new();
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, b->data, (int)len);
  if (json_tokener_get_error(tok) != json_tokener_success ||
      json_tokener_get_parse_end(tok) != len) {
    printf("# cannot parse: %.*s\n", (int)len, b->data);
    json_object_put(o);
    o = NULL;
  }
  json_tokener_free(tok);
  return o;
}

static inline json_object *get(json_object *o, const char *key) {
  json_object *v = NULL;
  if (o != NULL) json_object_object_get_ex(o, key, &v);
  return v;
}

static inline json_object *at(json_object *a, size_t i) {
  return a != NULL && json_object_is_type(a, json_type_array) ? json_object_array_get_idx(a, i)
                                                              : NULL;
}

static inline const char *str(json_object *o) {
  return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : "";
}

static inline int is_int(json_object *o, int64_t v) {
  return o && json_object_is_type(o, json_type_int) && json_object_get_int64(o) == v;
}

static inline int same_float(json_object *o, float v) {
  if (o == NULL ||
      !(json_object_is_type(o, json_type_double) || json_object_is_type(o, json_type_int)))
    return 0;
  return (float)json_object_get_double(o) == v;
}

/* The little-endian uint32 at P (OIP binary outputs, msgpack tensors). */
static inline uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

#endif /* GROVE_TESTS_API_CHECK_H */
