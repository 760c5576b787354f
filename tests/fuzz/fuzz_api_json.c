/*
 * libFuzzer target: any bytes -> the JSON request decoders (api/codec_v1_json.c, api/codec_oip.c)
 * against a tiny embedded model, then the response encoders. The first byte picks the set-up, the
 * rest is the body:
 *   bit 0: 0 = v1 (rows/records), 1 = OIP v2 infer;
 *   bits 1-2: 0 = named features + schema (categories by name), 1 = named features without
 *             a schema, 2 or 3 = unnamed features (f0, f1, f2);
 *   bits 3-7 (K): v2 only: K = 0: all JSON; else the JSON header is the body minus its
 *             last 4*(K-1) bytes (Triton's binary tensor extension).
 * The decoder's contract is turned into aborts: a refusal has a status and a short message
 * and leaves nothing allocated; a success has 1..max_rows rows of num_features floats; json-c
 * (strict) and the pull reader agree on what is valid JSON.
 * Every response, error bodies included, must parse back as strict JSON.
 */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "codecs.h"
#include "grove_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ROWS 64

#include "fuzz_common.h"
#include "tiny_model.h"
static grove_forest_t *named_forest, *unnamed_forest;

/* LEN bytes at S must be one strict, valid-UTF-8 JSON object. */
static void check_json(const char *s, size_t len, const char *what) {
  json_tokener *tok = json_tokener_new();
  if (tok == NULL) abort();
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, s, (int)len);
  int ok = o != NULL && json_object_is_type(o, json_type_object) &&
           json_tokener_get_error(tok) == json_tokener_success &&
           json_tokener_get_parse_end(tok) == len;
  json_object_put(o);
  json_tokener_free(tok);
  if (!ok) {
    fprintf(stderr, "%.*s\n", (int)(len > 2000 ? 2000 : len), s);
    fuzz_contract_violated("api", what, "");
  }
}

static void check_request(const api_request_t *req, const grove_forest_t *forest) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (req->rows == NULL || req->nrows == 0 || req->nrows > MAX_ROWS)
    fuzz_contract_violated("api", "success without 1..max_rows rows", "");
  if (req->num_features != info.num_features)
    fuzz_contract_violated("api", "num_features differs from the model", "");
  for (size_t i = 0; i < req->nrows * req->num_features; i++)
    if (isinf(req->rows[i])) fuzz_contract_violated("api", "an infinite value got through", "");
  if ((req->margin & ~1) || (req->labels & ~1) || (req->binary_output & ~1))
    fuzz_contract_violated("api", "an option is not 0/1", "");
}

static void encode(int v2, const grove_forest_t *forest, const grove_schema_t *s,
                   const api_request_t *req) {
  uint32_t width = grove_forest_output_width(forest, req->margin);
  float *out = malloc(req->nrows * width * sizeof *out);
  if (out == NULL) abort();
  grove_predict_opts_t opts = {.margin = req->margin, .threads = 1};
  grove_error_t gerr;
  if (grove_forest_predict(forest, req->rows, req->nrows, out, &opts, &gerr) != GROVE_OK)
    fuzz_contract_violated("api", "predict failed on decoded rows", gerr.msg);
  /* And outputs that are whatever the input was (NaN, huge, tiny), to exercise the writer. */
  size_t n = req->nrows * req->num_features;
  for (size_t i = 0; i < req->nrows * width; i += 2) out[i] = req->rows[i % n];
  api_body_t body;
  int rc = v2 ? api_encode_v2_infer("fuzz", forest, s, req, out, &body)
              : api_encode_v1("fuzz", forest, s, req, out, API_JSON, &body);
  free(out);
  if (rc != 0) fuzz_contract_violated("api", "encoding failed", "");
  if (body.data == NULL || body.content_type == NULL)
    fuzz_contract_violated("api", "no body or no content type", "");
  int binary = 0;
  for (uint32_t o = 0; o < req->noutputs; o++) binary |= req->outputs[o].binary;
  if (v2 && (req->noutputs ? binary : req->binary_output)) {
    size_t h = body.inference_header_len;
    if (h == 0 || h + req->nrows * 4 > body.len) fuzz_contract_violated("api", "binary length", "");
    check_json(body.data, h, "binary header is not JSON");
  } else {
    if (body.inference_header_len != 0)
      fuzz_contract_violated("api", "inference header on a JSON body", "");
    check_json(body.data, body.len, "response is not JSON");
  }
  api_body_free(&body);
}

/*
 * json-c, an independent strict reader, judges the same bytes: a body it refuses as JSON is
 * refused by the pull reader as JSON ("not valid JSON", "empty body"), and a body the pull
 * reader calls invalid JSON json-c refuses too (the pull reader decodes only objects, so a
 * valid non-object is refused for its type, not its syntax), but for json_c_laxer's cases.
 */
static int json_c_accepts(const char *body, size_t len) {
  if (len > INT32_MAX) return 0;
  json_tokener *tok = json_tokener_new_ex(16);
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  json_object *o = json_tokener_parse_ex(tok, body, (int)len);
  int ok = o != NULL && json_tokener_get_error(tok) == json_tokener_success;
  for (size_t k = json_tokener_get_parse_end(tok); ok && k < len; k++)
    ok = body[k] == ' ' || body[k] == '\n' || body[k] == '\t' || body[k] == '\r';
  json_object_put(o);
  json_tokener_free(tok);
  return ok;
}

/* Where json-c is laxer than RFC 8259 and grove is not: code points past U+10FFFF and
 * overlong UTF-8, and numbers such as "00", "-01", "-.2" (json-c takes these, though it
 * refuses "01"). */
static int json_c_laxer(const char *message) {
  return strstr(message, "not UTF-8") != NULL || strstr(message, "malformed number") != NULL;
}

static void check_syntax_like_json_c(const char *body, size_t len, int rc, const api_error_t *err) {
  int syntax =
      rc != 0 && (strstr(err->message, "not valid JSON") || strstr(err->message, "empty body"));
  if (syntax && json_c_laxer(err->message)) return;
  if (syntax == json_c_accepts(body, len)) {
    fprintf(stderr, "%.*s\n", (int)(len > 2000 ? 2000 : len), body);
    fuzz_contract_violated("api",
                           syntax ? "refused as invalid JSON, json-c takes it"
                                  : "json-c refuses it as JSON, the decoder does not",
                           err->message);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Loaded once and kept: the fuzzer's leak check ignores what is still reachable. */
  if (named_forest == NULL) {
    named_forest = fuzz_load_or_die(named_model);
    unnamed_forest = fuzz_load_or_die(unnamed_model);
  }
  if (size < 1) return 0;
  int v2 = data[0] & 1;
  unsigned mode = (data[0] >> 1) & 3;
  unsigned k = data[0] >> 3;
  const grove_forest_t *forest = mode >= 2 ? unnamed_forest : named_forest;
  const grove_schema_t *s = mode == 0 ? &tiny_schema : NULL;
  /* An exact-size copy without the set-up byte, so that ASan sees reads past the end. */
  size_t len = size - 1;
  char *body = malloc(len ? len : 1);
  if (body == NULL) abort();
  memcpy(body, data + 1, len);
  /* k = 0: no Inference-Header-Content-Length; else the JSON ends 4 * (k - 1) bytes before the
   * body does (0: a raw binary request). */
  size_t json_len = API_OIP_NO_HEADER;
  if (v2 && k > 0) json_len = len > 4 * (size_t)(k - 1) ? len - 4 * (size_t)(k - 1) : 0;

  (void)api_format_from_header(body, len);

  api_limits_t limits = {.max_rows = MAX_ROWS};
  api_request_t req;
  api_error_t err;
  memset(&err, 0, sizeof err);
  int rc = v2 ? api_decode_v2_infer(body, len, json_len, forest, s, &limits, &req, &err)
              : api_decode_v1(body, len, API_JSON, forest, s, &limits, &req, &err);
  if (!v2 || json_len != 0) /* a raw binary request has no JSON */
    check_syntax_like_json_c(body, v2 && json_len != API_OIP_NO_HEADER ? json_len : len, rc, &err);
  if (rc == 0) {
    check_request(&req, forest);
    encode(v2, forest, s, &req);
  } else {
    if (rc != -1) fuzz_contract_violated("api", "return code not 0/-1", err.message);
    if (req.rows != NULL || req.id != NULL || req.noutputs != 0)
      fuzz_contract_violated("api", "a refusal left memory in the request", err.message);
    if (err.status != 400 && err.status != 413)
      fuzz_contract_violated("api", "unexpected status", err.message);
    size_t mlen = strnlen(err.message, sizeof err.message);
    if (mlen == 0 || mlen >= sizeof err.message)
      fuzz_contract_violated("api", "empty or unterminated message", "");
    api_body_t body_err;
    if (api_encode_error(err.message, API_JSON, &body_err) != 0)
      fuzz_contract_violated("api", "error encoding failed", "");
    check_json(body_err.data, body_err.len, "error body is not JSON");
    api_body_free(&body_err);
  }
  api_request_free(&req);
  free(body);
  return 0;
}
