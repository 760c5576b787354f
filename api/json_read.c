/* Strict JSON parsing with json-c, shared by the v1 JSON and OIP v2 decoders. */
#include "json_read.h"

#include <pthread.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 16

/*
 * One tokener per thread, reset for each body: a new one per request costs several
 * allocations and a cleared parse stack on the I/O loop's hot path. The key's destructor
 * frees it when the thread ends.
 */
static pthread_key_t tokener_key;
static pthread_once_t tokener_once = PTHREAD_ONCE_INIT;

static void tokener_free(void *tok) { json_tokener_free(tok); }
static void tokener_key_init(void) { pthread_key_create(&tokener_key, tokener_free); }

static json_tokener *thread_tokener(void) {
  pthread_once(&tokener_once, tokener_key_init);
  json_tokener *tok = pthread_getspecific(tokener_key);
  if (tok == NULL && (tok = json_tokener_new_ex(JSON_MAX_DEPTH)) != NULL) {
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    if (pthread_setspecific(tokener_key, tok) != 0) {
      json_tokener_free(tok);
      tok = NULL;
    }
  }
  return tok;
}

/* Parses BODY as one JSON object, all of it; NULL with ERR filled otherwise. */
json_object *api__json_parse_object(const char *body, size_t len, api_error_t *err) {
  size_t i = 0;
  while (i < len && api__json_is_space(body[i])) i++;
  if (i == len) {
    api__fail(err, 400, "empty body: expected a JSON object");
    return NULL;
  }
  if (len > INT32_MAX) {
    api__fail(err, 413, "body of %zu bytes is too large", len);
    return NULL;
  }
  json_tokener *tok = thread_tokener();
  if (tok == NULL) {
    api__fail(err, 500, "out of memory");
    return NULL;
  }
  json_tokener_reset(tok);
  json_object *root = json_tokener_parse_ex(tok, body, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  if (jerr == json_tokener_continue) {
    json_object_put(root);
    api__fail(err, 400, "not valid JSON: the body ends in the middle of a value");
    return NULL;
  }
  if (root == NULL || jerr != json_tokener_success) {
    json_object_put(root);
    api__fail(err, 400, "not valid JSON at byte %zu: %s", end, json_tokener_error_desc(jerr));
    return NULL;
  }
  for (size_t k = end; k < len; k++) {
    if (!api__json_is_space(body[k])) {
      json_object_put(root);
      api__fail(err, 400, "not valid JSON: unexpected data at byte %zu after the object", k);
      return NULL;
    }
  }
  if (!json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    api__fail(err, 400, "expected a JSON object, got %s",
              json_type_to_name(json_object_get_type(root)));
    return NULL;
  }
  return root;
}

int api__json_is_number(json_object *v) {
  return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
}

/* The value of a JSON number as a double; ints beyond int64/uint64 are clamped by json-c
 * without telling, so those two values are refused as too large. */
int api__json_number_value(json_object *v, double *out) {
  if (json_object_is_type(v, json_type_double)) {
    *out = json_object_get_double(v);
    return 0;
  }
  int64_t i = json_object_get_int64(v);
  if (i == INT64_MIN) return -1;
  if (i == INT64_MAX) {
    uint64_t u = json_object_get_uint64(v);
    if (u == UINT64_MAX) return -1;
    *out = (double)(float)u; /* one rounding, straight to float32 */
    return 0;
  }
  *out = (double)(float)i;
  return 0;
}

/* A boolean option: absent leaves *out alone. */
int api__json_get_bool(json_object *o, const char *key, int *out, const char *where,
                       api_error_t *err) {
  json_object *v;
  if (!json_object_object_get_ex(o, key, &v)) return 0;
  if (!json_object_is_type(v, json_type_boolean))
    return api__fail(err, 400, "%s\"%s\" must be true or false, got %s", where, key,
                     json_type_to_name(json_object_get_type(v)));
  *out = json_object_get_boolean(v);
  return 0;
}

const char *api__json_type_name(json_object *v) {
  return json_type_to_name(json_object_get_type(v));
}
