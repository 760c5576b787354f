/*
 * libFuzzer target: any bytes -> api_decode_form() (api/codec_form.c: urlencoded and
 * multipart/form-data bodies) against the tiny embedded model, then the JSON and HTML
 * answers. The first byte picks the set-up, the rest is the body:
 *   bit 0: 0 = application/x-www-form-urlencoded, 1 = multipart/form-data; boundary=b;
 *   bit 1: with the schema (category strings, labels, missing token "?") or without.
 * A refusal has a 4xx status and a message and leaves nothing allocated; a success is one
 * row of num_features floats without infinities; both answers are written and the JSON one
 * parses back.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "grove_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"
#include "tiny_model.h"
static grove_forest_t *forest;

static void check_answers(const api_request_t *req) {
  float out[1] = {(float)req->rows[0]};
  api_body_t body;
  if (api_encode_v1("fuzz", forest, &tiny_schema, req, out, API_HTML, &body) != 0 ||
      body.data == NULL)
    fuzz_contract_violated("form", "no HTML answer", "");
  api_body_free(&body);
  if (api_encode_v1("fuzz", forest, &tiny_schema, req, out, API_JSON, &body) != 0)
    fuzz_contract_violated("form", "no JSON answer", "");
  json_object *o = json_tokener_parse(body.data);
  if (o == NULL) fuzz_contract_violated("form", "the JSON answer does not parse", body.data);
  json_object_put(o);
  api_body_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (forest == NULL) forest = fuzz_load_or_die(named_model);
  if (size < 1) return 0;
  const int multipart = data[0] & 1;
  const grove_schema_t *s = data[0] & 2 ? NULL : &tiny_schema;
  size_t len = size - 1;
  char *body = malloc(len ? len : 1); /* exact size: ASan sees reads past the end */
  if (body == NULL) abort();
  memcpy(body, data + 1, len);
  const char *ctype =
      multipart ? "multipart/form-data; boundary=b" : "application/x-www-form-urlencoded";
  api_limits_t limits = {.max_rows = 4};
  api_request_t req;
  api_error_t err = {0};
  int rc = api_decode_form(body, len, ctype, strlen(ctype), forest, s, &limits, &req, &err);
  if (rc == 0) {
    grove_forest_info_t info;
    grove_forest_get_info(forest, &info);
    if (req.nrows != 1 || req.rows == NULL || req.num_features != info.num_features)
      fuzz_contract_violated("form", "a success is not one row", "");
    for (uint32_t j = 0; j < req.num_features; j++)
      if (isinf(req.rows[j])) fuzz_contract_violated("form", "an infinity got through", "");
    check_answers(&req);
    api_request_free(&req);
  } else if (rc != -1 || err.status < 400 || err.status >= 500 || err.message[0] == '\0' ||
             req.rows != NULL) {
    fuzz_contract_violated("form", "a refusal without a 4xx, a message, or with rows left",
                           err.message);
  }
  free(body);
  return 0;
}
