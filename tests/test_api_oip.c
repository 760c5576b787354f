/* The Open Inference Protocol v2 codec: requests as tritonclient, MLServer's and KServe's
 * codecs send them (one tensor or one per feature, JSON or Triton's binary data, raw binary
 * requests, every datatype), every refusal, and the answers and metadata parsed back. */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>

#include "api.h"
#include "api_check.h"
#include "grove_engine.h"
#include "test.h"

#define NO_HEADER API_OIP_NO_HEADER

static grove_forest_t *income, *multi, *named;
static grove_schema_t *income_schema;

static result_t v2_with(const grove_forest_t *f, const grove_schema_t *s, size_t max_rows,
                        const char *body, size_t len, size_t json_len) {
  result_t r;
  memset(&r, 0, sizeof r);
  api_limits_t limits = {.max_rows = max_rows};
  r.rc = api_decode_v2_infer(body, len, json_len, f, s, &limits, &r.req, &r.err);
  return r;
}

static result_t v2(const grove_forest_t *f, size_t max_rows, const char *body, size_t len,
                   size_t json_len) {
  return v2_with(f, NULL, max_rows, body, len, json_len);
}

static void v2_error(const grove_forest_t *f, const char *body, int status, const char *needle,
                     const char *what) {
  result_t r = v2(f, 0, body, strlen(body), NO_HEADER);
  check_refused(&r, status, needle, what);
}

static void income_error(const char *body, int status, const char *needle, const char *what) {
  result_t r = v2_with(income, income_schema, 0, body, strlen(body), NO_HEADER);
  check_refused(&r, status, needle, what);
}

/* ------------------------------------------------------------------------- */
/* One [rows, F] tensor                                                        */

static void test_v2_json(void) {
  const char *body =
      "{\"id\": \"req-7\", \"inputs\": [{\"name\": \"input\", \"shape\": [2, 4], \"datatype\": "
      "\"FP32\", "
      "\"data\": [1, 2.5, null, 4, 5, 6, 7, 0.1]}], \"outputs\": [{\"name\": \"predict\", "
      "\"parameters\": {\"binary_data_output\": true}}]}";
  result_t r = v2(named, 0, body, strlen(body), NO_HEADER);
  CHECK_EQ_INT(r.rc, 0, "v2 flat FP32");
  CHECK_EQ_INT(r.req.nrows, 2, "v2 two rows");
  if (r.rc == 0) {
    CHECK(r.req.rows[0] == 1.0f && r.req.rows[1] == 2.5f && isnan(r.req.rows[2]) &&
              r.req.rows[7] == 0.1f,
          "v2 values (null = missing)");
    CHECK(r.req.id && strcmp(r.req.id, "req-7") == 0, "v2 id kept");
    CHECK(r.req.noutputs == 1 && r.req.outputs[0].kind == API_OUT_PREDICT, "v2 output asked");
    CHECK(r.req.outputs[0].binary == 1 && r.req.binary_output == 0,
          "binary_data_output in outputs[] is that output's");
  }
  api_request_free(&r.req);

  body =
      "{\"inputs\": [{\"name\": \"x\", \"shape\": [2, 4], \"datatype\": \"INT64\", \"data\": [[1, "
      "2, 3, 4], "
      "[-5, 6, 16777217, 8]]}], \"parameters\": {\"binary_data_output\": true}}";
  r = v2(named, 0, body, strlen(body), NO_HEADER);
  CHECK_EQ_INT(r.rc, 0, "v2 nested INT64");
  if (r.rc == 0) {
    CHECK(r.req.rows[4] == -5.0f && r.req.rows[6] == 16777216.0f, "v2 nested values");
    CHECK(r.req.id == NULL && r.req.noutputs == 0, "no id, no outputs");
    CHECK_EQ_INT(r.req.binary_output, 1, "top-level binary_data_output");
  }
  api_request_free(&r.req);

  body =
      "{\"inputs\": [{\"name\": \"x\", \"shape\": [4], \"datatype\": \"BOOL\", \"data\": [true, "
      "false, true, true]}]}";
  r = v2(named, 0, body, strlen(body), NO_HEADER);
  CHECK(r.rc == 0 && r.req.nrows == 1, "v2 shape [f] is one row");
  if (r.rc == 0) CHECK(r.req.rows[0] == 1.0f && r.req.rows[1] == 0.0f, "BOOL values");
  CHECK_EQ_INT(r.req.binary_output, 0, "JSON output by default");
  api_request_free(&r.req);

  body =
      "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4], \"datatype\": \"UINT8\", \"data\": [0, "
      "255, 3, 4]}]}";
  r = v2(named, 0, body, strlen(body), NO_HEADER);
  CHECK(r.rc == 0 && r.req.rows[1] == 255.0f, "UINT8 range");
  api_request_free(&r.req);

  v2_error(named, "{\"inputs\": []}", 400, "or one input per feature (4), got 0", "no inputs");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3, 4]}, "
           "{\"name\": \"b\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
           400,
           "inputs[0]: no feature is named \"a\" (features: 'alpha', 'beta', 'gamma', 'delta')",
           "two inputs that name no feature");
  v2_error(named, "{\"id\": 5}", 400, "\"id\" must be a string", "id type");
  v2_error(named, "{}", 400, "expected \"inputs\"", "no inputs key");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 3], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3]}]}",
           400, "shape has 3 features per row, the model has 4", "wrong feature count");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 1, 4], \"datatype\": \"FP32\", "
           "\"data\": [1, 2, 3, 4]}]}",
           400, "3 dimensions", "rank 3");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [-1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3, 4]}]}",
           400, "shape[0] must be a non-negative integer", "negative shape");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}", 400,
           "\"shape\" must be an array", "no shape");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [2, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3, 4]}]}",
           400, "shape [2, 4] needs 8 values, \"data\" has 4", "count mismatch");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1000000000000, 4], \"datatype\": \"FP32\", "
           "\"data\": [1, 2, 3, 4]}]}",
           400, "\"data\" has 4", "huge shape, small data");
  v2_error(
      named,
      "{\"inputs\": [{\"name\": \"a\", \"shape\": [0, 4], \"datatype\": \"FP32\", \"data\": []}]}",
      400, "no rows", "zero rows");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP8\", \"data\": "
           "[1, 2, 3, 4]}]}",
           400, "unsupported datatype \"FP8\"", "unsupported datatype");
  v2_error(named, "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"data\": [1, 2, 3, 4]}]}",
           400, "\"datatype\" must be a string", "no datatype");
  v2_error(named,
           "{\"inputs\": [{\"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
           400, "\"name\" must be a string", "no name");
  v2_error(named, "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\"}]}",
           400, "no \"data\"", "no data");
  v2_error(
      named,
      "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": 5}]}",
      400, "\"data\" must be an array", "data not an array");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"INT8\", \"data\": "
           "[1, 2, 300, 4]}]}",
           400, "row 0, feature 'gamma': value out of INT8 range", "INT8 range");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"UINT16\", \"data\": "
           "[1, -2, 3, 4]}]}",
           400, "row 0, feature 'beta': value out of UINT16 range", "UINT16 range");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"INT32\", \"data\": "
           "[1, 2, 3.5, 4]}]}",
           400, "INT32 data must be integers", "fraction in INT32");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, \"3\", 4]}]}",
           400, "FP32 data must be numbers", "string in FP32");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP64\", \"data\": "
           "[1, 2, 1e300, 4]}]}",
           400, "row 0, feature 'gamma': value out of float32 range", "FP64 beyond float32");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"BOOL\", \"data\": "
           "[1, 0, 2, 1]}]}",
           400, "BOOL data must be true, false, 0 or 1", "2 in BOOL");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3, 4]}], "
           "\"outputs\": [{\"name\": \"probabilities\"}]}",
           400, "unknown output \"probabilities\"", "unknown output");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3, 4]}], "
           "\"outputs\": [{\"name\": \"predict\", \"parameters\": {\"binary_data_output\": 1}}]}",
           400, "outputs[0].parameters: \"binary_data_output\" must be true or false",
           "binary_data_output type");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, 3, 4]}], "
           "\"outputs\": 3}",
           400, "\"outputs\" must be an array", "outputs type");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
           "\"parameters\": {\"binary_data_size\": 16}}]}",
           400, "needs the Inference-Header-Content-Length", "binary size without binary part");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
           "[1, 2, NaN, 4]}]}",
           400, "row 0, feature 'gamma': NaN", "NaN in v2 JSON");
  v2_error(named, "", 400, "empty body", "v2 empty body");

  const char *three =
      "{\"inputs\": [{\"name\": \"a\", \"shape\": [3, 4], \"datatype\": \"FP32\", \"data\": "
      "[1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4]}]}";
  r = v2(named, 2, three, strlen(three), NO_HEADER);
  check_refused(&r, 413, "3 rows in one request; the limit is 2", "v2 too many rows");
}

/* Appends V as SIZE little-endian bytes. */
static size_t put_le(unsigned char *p, uint64_t v, unsigned size) {
  for (unsigned i = 0; i < size; i++) p[i] = (unsigned char)(v >> (8 * i));
  return size;
}

static size_t put_f32(unsigned char *p, float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  return put_le(p, bits, 4);
}

static void test_v2_binary(void) {
  unsigned char body[1024];
  const char *header =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [2, 4], \"datatype\": \"FP32\", "
      "\"parameters\": {\"binary_data_size\": 32}}], \"outputs\": [{\"name\": \"predict\"}]}";
  size_t hlen = strlen(header), n = hlen;
  memcpy(body, header, hlen);
  const float vals[8] = {1.0f, NAN, -3.25f, 1e-30f, 0.1f, 7.0f, 3.4e38f, -0.0f};
  for (int i = 0; i < 8; i++) n += put_f32(body + n, vals[i]);
  result_t r = v2(named, 0, (const char *)body, n, hlen);
  CHECK_EQ_INT(r.rc, 0, "binary FP32 tensor");
  if (r.rc == 0) {
    CHECK_EQ_INT(r.req.nrows, 2, "binary rows");
    CHECK(r.req.rows[0] == 1.0f && isnan(r.req.rows[1]) && r.req.rows[2] == -3.25f &&
              r.req.rows[3] == 1e-30f,
          "binary values, NaN = missing");
    CHECK(r.req.rows[4] == 0.1f && r.req.rows[6] == 3.4e38f, "binary values exact");
    CHECK_EQ_INT(r.req.binary_output, 0, "no binary output asked");
  }
  api_request_free(&r.req);

  r = v2(named, 0, (const char *)body, n - 1, hlen);
  check_refused(&r, 400, "binary_data_size is 32 bytes, only 31 follow", "missing tensor bytes");
  body[n] = 0;
  r = v2(named, 0, (const char *)body, n + 1, hlen);
  check_refused(&r, 400, "1 bytes after the tensors", "trailing bytes");
  r = v2(named, 0, (const char *)body, n, n + 1);
  check_refused(&r, 400, "Inference-Header-Content-Length is", "header length past the body");
  r = v2(named, 0, (const char *)body, n, hlen - 1);
  check_refused(&r, 400, "not valid JSON", "header length inside the JSON");

  /* FP64 and signed ints, little-endian */
  const char *h64 =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP64\", "
      "\"parameters\": {\"binary_data_size\": 32}}]}";
  n = strlen(h64);
  memcpy(body, h64, n);
  const double d[4] = {0.1, NAN, -2.0, 1e-300};
  for (int i = 0; i < 4; i++) {
    uint64_t bits;
    memcpy(&bits, &d[i], 8);
    n += put_le(body + n, bits, 8);
  }
  r = v2(named, 0, (const char *)body, n, strlen(h64));
  CHECK_EQ_INT(r.rc, 0, "binary FP64");
  if (r.rc == 0)
    CHECK(r.req.rows[0] == 0.1f && isnan(r.req.rows[1]) && r.req.rows[2] == -2.0f &&
              r.req.rows[3] == 0.0f,
          "FP64 rounded once to float32");
  api_request_free(&r.req);

  const char *h16 =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"INT16\", "
      "\"parameters\": {\"binary_data_size\": 8}}]}";
  n = strlen(h16);
  memcpy(body, h16, n);
  const int16_t i16[4] = {-1, 32767, -32768, 5};
  for (int i = 0; i < 4; i++) n += put_le(body + n, (uint16_t)i16[i], 2);
  r = v2(named, 0, (const char *)body, n, strlen(h16));
  CHECK(r.rc == 0 && r.req.rows[0] == -1.0f && r.req.rows[1] == 32767.0f &&
            r.req.rows[2] == -32768.0f,
        "INT16 sign-extended");
  api_request_free(&r.req);

  const char *hu =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [4], \"datatype\": \"UINT64\", "
      "\"parameters\": {\"binary_data_size\": 32}}]}";
  n = strlen(hu);
  memcpy(body, hu, n);
  n += put_le(body + n, UINT64_MAX, 8);
  for (int i = 0; i < 3; i++) n += put_le(body + n, (uint64_t)i, 8);
  r = v2(named, 0, (const char *)body, n, strlen(hu));
  CHECK(r.rc == 0 && r.req.rows[0] == 18446744073709551616.0f && r.req.rows[3] == 2.0f, "UINT64");
  api_request_free(&r.req);

  /* errors */
  const char *hbad =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
      "\"parameters\": {\"binary_data_size\": 12}}]}";
  n = strlen(hbad);
  memcpy(body, hbad, n);
  memset(body + n, 0, 12);
  r = v2(named, 0, (const char *)body, n + 12, strlen(hbad));
  check_refused(&r, 400, "binary_data_size is 12 bytes, its shape and FP32 need 16",
                "size does not match shape");

  const char *hinf =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
      "\"parameters\": {\"binary_data_size\": 16}}]}";
  n = strlen(hinf);
  memcpy(body, hinf, n);
  for (int i = 0; i < 4; i++) n += put_f32(body + n, i == 2 ? INFINITY : 1.0f);
  r = v2(named, 0, (const char *)body, n, strlen(hinf));
  check_refused(&r, 400, "row 0, feature 'gamma': value out of float32 range", "binary infinity");

  const char *hboth =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
      "[1, 2, 3, 4], "
      "\"parameters\": {\"binary_data_size\": 16}}]}";
  n = strlen(hboth);
  memcpy(body, hboth, n);
  memset(body + n, 0, 16);
  r = v2(named, 0, (const char *)body, n + 16, strlen(hboth));
  check_refused(&r, 400, "not both", "data and binary_data_size");

  const char *hjson =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": "
      "[1, 2, 3, 4]}]}";
  n = strlen(hjson);
  memcpy(body, hjson, n);
  memset(body + n, 0, 4);
  r = v2(named, 0, (const char *)body, n + 4, n);
  check_refused(&r, 400, "4 bytes after the JSON but no input names them", "stray binary bytes");
  r = v2(named, 0, (const char *)body, n, n);
  CHECK_EQ_INT(r.rc, 0, "header length = body length, all JSON");
  api_request_free(&r.req);
}

/* ------------------------------------------------------------------------- */
/* Outputs asked for, raw binary requests, datatypes                          */

static const char ONE_ROW[] =
    "{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}";

static result_t with_outputs(const char *tail) {
  char body[1024];
  snprintf(body, sizeof body, "{\"inputs\": [%s]%s}", ONE_ROW, tail);
  return v2(named, 0, body, strlen(body), NO_HEADER);
}

static void test_outputs_asked(void) {
  /* tritonclient's InferRequestedOutput(name, binary_data=True) */
  result_t r = with_outputs(
      ", \"outputs\": [{\"name\": \"output__0\", \"parameters\": "
      "{\"binary_data\": true}}]");
  CHECK(r.rc == 0 && r.req.noutputs == 1 && r.req.outputs[0].kind == API_OUT_OUTPUT0 &&
            r.req.outputs[0].binary == 1,
        "per-output binary_data: true is read");
  api_request_free(&r.req);

  /* The extension: an output's own binary_data overrides the request's binary_data_output. */
  r = with_outputs(
      ", \"parameters\": {\"binary_data_output\": true}, \"outputs\": [{\"name\": "
      "\"predict\"}, {\"name\": \"predict_proba\", \"parameters\": {\"binary_data\": "
      "false}}]");
  CHECK(r.rc == 0 && r.req.noutputs == 2, "two outputs asked");
  if (r.rc == 0) {
    CHECK(r.req.outputs[0].kind == API_OUT_PREDICT && r.req.outputs[0].binary == 1,
          "an output without binary_data follows binary_data_output");
    CHECK(r.req.outputs[1].kind == API_OUT_PROBA && r.req.outputs[1].binary == 0,
          "binary_data: false overrides binary_data_output: true");
  }
  api_request_free(&r.req);

  r = with_outputs(", \"parameters\": {\"binary_data_output\": true}");
  CHECK(r.rc == 0 && r.req.noutputs == 0 && r.req.binary_output == 1,
        "no outputs asked: all of them, binary as the request says");
  api_request_free(&r.req);

  r = with_outputs(", \"parameters\": {\"margin\": true, \"other\": [1, {\"x\": 2}]}");
  CHECK(r.rc == 0 && r.req.margin == 1, "parameters.margin read, unknown parameters skipped");
  api_request_free(&r.req);

  r = with_outputs(", \"parameters\": {\"margin\": \"yes\"}");
  check_refused(&r, 400, "parameters: \"margin\" must be true or false", "margin type");
  r = with_outputs(", \"outputs\": [{\"name\": \"predict\"}, {\"name\": \"predict\"}]");
  check_refused(&r, 400, "outputs[1]: \"predict\" is asked for twice", "an output twice");
  r = with_outputs(", \"outputs\": [{\"parameters\": {}}]");
  check_refused(&r, 400, "outputs[0]: expected an object with a \"name\"", "output without name");
  r = with_outputs(
      ", \"outputs\": [{\"name\": \"output__0\", \"parameters\": {\"binary_data\": "
      "\"true\"}}]");
  check_refused(&r, 400, "outputs[0].parameters: \"binary_data\" must be true or false",
                "binary_data type");
  r = with_outputs(
      ", \"outputs\": [{\"name\": \"output__0\", \"parameters\": {\"binary_data\": "
      "true, \"classification\": 2}}]");
  check_refused(&r, 400, "\"classification\": Triton's classification extension is not supported",
                "classification is refused, not ignored");
  const char *shm =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
      "\"parameters\": {\"shared_memory_region\": \"r\", \"shared_memory_byte_size\": 16}}]}";
  r = v2(named, 0, shm, strlen(shm), NO_HEADER);
  check_refused(&r, 400, "inputs[0]: Triton's shared-memory extension is not supported",
                "shared-memory inputs are refused");
}

static void test_raw_binary(void) {
  unsigned char body[64];
  size_t n = 0;
  const float vals[8] = {0.5f, NAN, -1.0f, 2.0f, 3.0f, 4.0f, 5.0f, -0.0f};
  for (int i = 0; i < 8; i++) n += put_f32(body + n, vals[i]);
  result_t r = v2(named, 0, (const char *)body, n, 0);
  CHECK(r.rc == 0 && r.req.nrows == 2, "Inference-Header-Content-Length: 0: one FP32 tensor");
  if (r.rc == 0)
    CHECK(r.req.rows[0] == 0.5f && isnan(r.req.rows[1]) && r.req.rows[7] == 0.0f &&
              r.req.noutputs == 0,
          "raw rows, NaN missing, all outputs as JSON");
  api_request_free(&r.req);

  r = v2(named, 0, (const char *)body, 15, 0);
  check_refused(&r, 400, "rows of 4 little-endian float32 values (16 bytes each); the body has 15",
                "a raw body that is not whole rows");
  r = v2(named, 0, "", 0, 0);
  check_refused(&r, 400, "the body has 0 bytes", "an empty raw body");
  r = v2(named, 1, (const char *)body, n, 0);
  check_refused(&r, 413, "2 rows in one request; the limit is 1",
                "raw rows count against the limit");
}

/* IEEE half and bfloat16, as numpy and torch write them. */
static void test_half_floats(void) {
  unsigned char body[512];
  const char *h16 =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP16\", "
      "\"parameters\": {\"binary_data_size\": 8}}]}";
  size_t n = strlen(h16);
  memcpy(body, h16, n);
  const uint16_t half[4] = {0x3C00 /* 1 */, 0xC100 /* -2.5 */, 0x7E00 /* NaN */,
                            0x0001 /* 2^-24 */};
  for (int i = 0; i < 4; i++) n += put_le(body + n, half[i], 2);
  result_t r = v2(named, 0, (const char *)body, n, strlen(h16));
  CHECK(r.rc == 0 && r.req.rows[0] == 1.0f && r.req.rows[1] == -2.5f && isnan(r.req.rows[2]) &&
            r.req.rows[3] == ldexpf(1.0f, -24),
        "FP16 binary: normal, negative, NaN (missing), subnormal");
  api_request_free(&r.req);

  n = strlen(h16);
  for (int i = 0; i < 4; i++) n += put_le(body + n, i == 1 ? 0xFC00 : 0x3C00, 2);
  r = v2(named, 0, (const char *)body, n, strlen(h16));
  check_refused(&r, 400, "row 0, feature 'beta': value out of float32 range", "FP16 -infinity");

  const char *hb =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BF16\", "
      "\"parameters\": {\"binary_data_size\": 8}}]}";
  n = strlen(hb);
  memcpy(body, hb, n);
  const uint16_t bf[4] = {0x3FC0 /* 1.5 */, 0xC000 /* -2 */, 0x7FC0 /* NaN */,
                          0x4049 /* 3.140625 */};
  for (int i = 0; i < 4; i++) n += put_le(body + n, bf[i], 2);
  r = v2(named, 0, (const char *)body, n, strlen(hb));
  CHECK(r.rc == 0 && r.req.rows[0] == 1.5f && r.req.rows[1] == -2.0f && isnan(r.req.rows[2]) &&
            r.req.rows[3] == 3.140625f,
        "BF16 binary");
  api_request_free(&r.req);

  const char *json =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP16\", \"data\": "
      "[0.5, null, -1, 65504]}]}";
  r = v2(named, 0, json, strlen(json), NO_HEADER);
  CHECK(r.rc == 0 && r.req.rows[0] == 0.5f && isnan(r.req.rows[1]) && r.req.rows[3] == 65504.0f,
        "FP16 as JSON numbers");
  api_request_free(&r.req);
  json =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BF16\", \"data\": "
      "[0.5, 1, 2, 3]}]}";
  r = v2(named, 0, json, strlen(json), NO_HEADER);
  CHECK(r.rc == 0 && r.req.rows[3] == 3.0f, "BF16 as JSON numbers");
  api_request_free(&r.req);
}

static void test_bool_and_bytes(void) {
  const char *body =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BOOL\", \"data\": "
      "[1, 0, true, false]}]}";
  result_t r = v2(named, 0, body, strlen(body), NO_HEADER);
  CHECK(r.rc == 0 && r.req.rows[0] == 1.0f && r.req.rows[1] == 0.0f && r.req.rows[2] == 1.0f &&
            r.req.rows[3] == 0.0f,
        "BOOL takes 0/1 and true/false");
  api_request_free(&r.req);

  body =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BYTES\", \"data\": "
      "[\"1.5\", \"-2\", null, \"4e1\"]}]}";
  r = v2(named, 0, body, strlen(body), NO_HEADER);
  CHECK(r.rc == 0 && r.req.rows[0] == 1.5f && r.req.rows[1] == -2.0f && isnan(r.req.rows[2]) &&
            r.req.rows[3] == 40.0f,
        "BYTES numbers' text for numeric features");
  api_request_free(&r.req);
  v2_error(named,
           "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BYTES\", "
           "\"data\": [\"1\", \"two\", \"3\", \"4\"]}]}",
           400, "row 0, feature 'beta': expected a number, got the string \"two\"",
           "BYTES text that is no number, for a numeric feature");
  v2_error(named,
           "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BYTES\", "
           "\"data\": [\"1\", 2, \"3\", \"4\"]}]}",
           400, "BYTES data must be strings", "a number in BYTES");

  /* Binary BYTES: each element a 4-byte little-endian length and its bytes. */
  unsigned char bin[512];
  const char *h =
      "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"BYTES\", "
      "\"parameters\": {\"binary_data_size\": 23}}]}";
  size_t n = strlen(h);
  memcpy(bin, h, n);
  const char *el[4] = {"1", "2.5", "-3", "4"};
  for (int i = 0; i < 4; i++) {
    n += put_le(bin + n, strlen(el[i]), 4);
    memcpy(bin + n, el[i], strlen(el[i]));
    n += strlen(el[i]);
  }
  r = v2(named, 0, (const char *)bin, n, strlen(h));
  CHECK(r.rc == 0 && r.req.rows[1] == 2.5f && r.req.rows[2] == -3.0f, "binary BYTES");
  api_request_free(&r.req);
  put_le(bin + strlen(h) + 4 + 1, 100, 4); /* the second element claims 100 bytes */
  r = v2(named, 0, (const char *)bin, n, strlen(h));
  check_refused(&r, 400, "binary_data_size is 23 bytes, too few for its shape's 4 BYTES elements",
                "BYTES lengths that run past the tensor");
}

/* ------------------------------------------------------------------------- */
/* One input per feature (MLServer's and KServe's pandas codec)               */

/* The income model's sample record, as v1 JSON records and as OIP inputs per feature. */
static const char INCOME_RECORDS[] =
    "{\"records\": [{\"age\": 27, \"workclass\": \"Private\", \"fnlwgt\": 181284, \"education\": "
    "\"12th\", \"educational-num\": 8, \"marital-status\": \"Married-civ-spouse\", \"occupation\": "
    "\"Sales\", \"relationship\": \"Husband\", \"race\": \"Black\", \"gender\": \"Male\", "
    "\"capital-gain\": 0, \"capital-loss\": 0, \"hours-per-week\": 45, \"native-country\": "
    "\"United-States\"}, {\"age\": 52, \"workclass\": \"Self-emp-inc\", \"fnlwgt\": 287927, "
    "\"education\": \"HS-grad\", \"educational-num\": 9, \"marital-status\": "
    "\"Married-civ-spouse\", "
    "\"occupation\": \"Exec-managerial\", \"relationship\": \"Wife\", \"race\": \"White\", "
    "\"gender\": \"Female\", \"capital-gain\": 15024, \"capital-loss\": 0, \"hours-per-week\": 40, "
    "\"native-country\": \"United-States\"}]}";

static const char *const INCOME_COLUMNS[14] = {
    "{\"name\": \"age\", \"shape\": [2], \"datatype\": \"INT64\", \"data\": [27, 52]}",
    "{\"name\": \"workclass\", \"shape\": [2, 1], \"datatype\": \"BYTES\", \"data\": "
    "[[\"Private\"], "
    "[\"Self-emp-inc\"]]}",
    "{\"name\": \"fnlwgt\", \"shape\": [2], \"datatype\": \"FP64\", \"data\": [181284.0, 287927]}",
    "{\"name\": \"education\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"12th\", "
    "\"HS-grad\"]}",
    "{\"name\": \"educational-num\", \"shape\": [2], \"datatype\": \"INT32\", \"data\": [8, 9]}",
    "{\"name\": \"marital-status\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": "
    "[\"Married-civ-spouse\", \"Married-civ-spouse\"]}",
    "{\"name\": \"occupation\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"Sales\", "
    "\"Exec-managerial\"]}",
    "{\"name\": \"relationship\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"Husband\", "
    "\"Wife\"]}",
    "{\"name\": \"race\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"Black\", "
    "\"White\"]}",
    "{\"name\": \"gender\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"Male\", "
    "\"Female\"]}",
    "{\"name\": \"capital-gain\", \"shape\": [2], \"datatype\": \"INT64\", \"data\": [0, 15024]}",
    "{\"name\": \"capital-loss\", \"shape\": [2], \"datatype\": \"INT64\", \"data\": [0, 0]}",
    "{\"name\": \"hours-per-week\", \"shape\": [2], \"datatype\": \"INT64\", \"data\": [45, 40]}",
    "{\"name\": \"native-country\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": "
    "[\"United-States\", \"United-States\"]}",
};

/* The columns in the order ORDER gives (a permutation of 0..13, or fewer), skipping SKIP. */
static void income_columns(char *body, size_t size, const int *order, int count, int skip) {
  size_t used = (size_t)snprintf(body, size, "{\"inputs\": [");
  for (int i = 0, k = 0; i < count; i++) {
    if (order[i] == skip) continue;
    used += (size_t)snprintf(body + used, size - used, "%s%s", k++ ? ", " : "",
                             INCOME_COLUMNS[order[i]]);
  }
  snprintf(body + used, size - used, "]}");
}

static void test_by_feature(void) {
  result_t want;
  memset(&want, 0, sizeof want);
  api_limits_t limits = {0};
  want.rc = api_decode_v1(INCOME_RECORDS, strlen(INCOME_RECORDS), API_JSON, income, income_schema,
                          &limits, &want.req, &want.err);
  CHECK_EQ_INT(want.rc, 0, "the records decode as v1");

  static char body[8192];
  const int in_order[14] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13};
  const int shuffled[14] = {13, 2, 7, 0, 11, 4, 9, 1, 12, 6, 3, 10, 5, 8};
  for (int pass = 0; pass < 2; pass++) {
    income_columns(body, sizeof body, pass ? shuffled : in_order, 14, -1);
    result_t r = v2_with(income, income_schema, 0, body, strlen(body), NO_HEADER);
    CHECK_EQ_INT(r.rc, 0, pass ? "columns in any order" : "one input per feature, mixed datatypes");
    if (r.rc == 0 && want.rc == 0)
      CHECK(r.req.nrows == 2 && memcmp(r.req.rows, want.req.rows, 2 * 14 * sizeof(float)) == 0,
            "the same rows as the v1 records, bit for bit");
    api_request_free(&r.req);
  }
  api_request_free(&want.req);

  income_columns(body, sizeof body, in_order, 14, 6);
  income_error(body, 400, "no input for 1 of the model's 14 features: 'occupation'",
               "a missing feature is named");
  char extra[9000];
  income_columns(body, sizeof body, in_order, 14, -1);
  snprintf(extra, sizeof extra,
           "%.*s, {\"name\": \"salary\", \"shape\": [2], \"datatype\": "
           "\"FP32\", \"data\": [1, 2]}]}",
           (int)strlen(body) - 2, body);
  income_error(extra, 400,
               "expected one input tensor of shape [rows, 14], or one input per "
               "feature (14), got 15",
               "more inputs than features");
  income_columns(body, sizeof body, in_order, 13, -1);
  snprintf(extra, sizeof extra,
           "%.*s, {\"name\": \"salary\", \"shape\": [2], \"datatype\": "
           "\"FP32\", \"data\": [1, 2]}]}",
           (int)strlen(body) - 2, body);
  income_error(extra, 400, "inputs[13]: no feature is named \"salary\" (features: 'age', ",
               "an unknown feature name");
  snprintf(extra, sizeof extra, "{\"inputs\": [%s, %s]}", INCOME_COLUMNS[0], INCOME_COLUMNS[0]);
  income_error(extra, 400, "inputs[1]: feature \"age\" is given twice", "a feature twice");
  snprintf(extra, sizeof extra,
           "{\"inputs\": [%s, {\"name\": \"fnlwgt\", \"shape\": [3], "
           "\"datatype\": \"FP32\", \"data\": [1, 2, 3]}]}",
           INCOME_COLUMNS[0]);
  income_error(extra, 400, "inputs[1] (\"fnlwgt\"): 3 rows, inputs[0] has 2", "rows disagree");
  snprintf(extra, sizeof extra,
           "{\"inputs\": [%s, {\"name\": \"fnlwgt\", \"shape\": [2, 2], "
           "\"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
           INCOME_COLUMNS[0]);
  income_error(extra, 400,
               "inputs[1] (\"fnlwgt\"): one input per feature has shape [rows] or "
               "[rows, 1]",
               "a column of two values per row");
  income_columns(body, sizeof body, in_order, 14, 8);
  snprintf(extra, sizeof extra,
           "%.*s, {\"name\": \"race\", \"shape\": [2], \"datatype\": "
           "\"BYTES\", \"data\": [\"Black\", \"Martian\"]}]}",
           (int)strlen(body) - 2, body);
  income_error(extra, 400, "row 1, feature 'race': unknown category \"Martian\"",
               "an unknown category in a BYTES column");

  /* MLServer's pandas codec writes a column of mixed values as JSON texts ("pd_json"). */
  income_columns(body, sizeof body, in_order, 14, 1);
  snprintf(
      extra, sizeof extra,
      "%.*s, {\"name\": \"workclass\", \"shape\": [2, 1], \"datatype\": "
      "\"BYTES\", \"parameters\": {\"content_type\": \"pd_json\"}, \"data\": [\"\\\"Private\\\"\", "
      "\"null\"]}]}",
      (int)strlen(body) - 2, body);
  result_t r = v2_with(income, income_schema, 0, extra, strlen(extra), NO_HEADER);
  CHECK(r.rc == 0 &&
            r.req.rows[1] == (float)grove_schema_category_code(income_schema, 1, "Private", 7) &&
            isnan(r.req.rows[14 + 1]),
        "pd_json elements: a JSON string is the category, null is missing");
  api_request_free(&r.req);
  snprintf(extra, sizeof extra,
           "%.*s, {\"name\": \"workclass\", \"shape\": [2, 1], \"datatype\": "
           "\"BYTES\", \"parameters\": {\"content_type\": \"pd_json\"}, \"data\": [\"Private\", "
           "\"null\"]}]}",
           (int)strlen(body) - 2, body);
  income_error(extra, 400, "row 0: a \"pd_json\" element must be one JSON string",
               "a pd_json element that is not JSON");

  /* A model with one feature per input and a lone input named after a feature: a column. */
  const char *lone =
      "{\"inputs\": [{\"name\": \"gamma\", \"shape\": [3], \"datatype\": \"FP32\", "
      "\"data\": [1, 2, 3]}]}";
  v2_error(named, lone, 400, "no input for 3 of the model's 4 features: 'alpha', 'beta', 'delta'",
           "a lone feature column is a column, not the tensor");
  lone =
      "{\"inputs\": [{\"name\": \"gamma\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
      "\"data\": [1, 2, 3, 4]}]}";
  r = v2(named, 0, lone, strlen(lone), NO_HEADER);
  CHECK(r.rc == 0 && r.req.nrows == 1 && r.req.rows[3] == 4.0f,
        "a lone [rows, F] input is the tensor, whatever its name");
  api_request_free(&r.req);
}

/* ------------------------------------------------------------------------- */
/* Answers                                                                    */

/* The output called NAME in answer O, or NULL. */
static json_object *output_named(json_object *o, const char *name) {
  json_object *outs = get(o, "outputs");
  for (size_t i = 0; outs != NULL && i < json_object_array_length(outs); i++)
    if (strcmp(str(get(at(outs, i), "name")), name) == 0) return at(outs, i);
  return NULL;
}

static int shape_is(json_object *out, int64_t rows, int64_t cols) {
  json_object *s = get(out, "shape");
  if (cols == 0) return json_object_array_length(s) == 1 && is_int(at(s, 0), rows);
  return json_object_array_length(s) == 2 && is_int(at(s, 0), rows) && is_int(at(s, 1), cols);
}

static void test_encode_v2(void) {
  api_request_t req = {.nrows = 2, .labels = 1, .id = "abc"};
  api_body_t b;
  const float out[6] = {0.25f, 0.1f, 0.65f, 1.0f / 3.0f, 0.0f, 2.0f / 3.0f};
  CHECK_EQ_INT(api_encode_v2_infer("multi", multi, NULL, &req, out, &b), 0, "encode v2");
  json_object *o = parse_body(&b, b.len);
  CHECK(strcmp(str(get(o, "model_name")), "multi") == 0 && strcmp(str(get(o, "id")), "abc") == 0 &&
            strcmp(str(get(o, "model_version")), "1") == 0,
        "v2 name, version and id");
  CHECK_EQ_INT(json_object_array_length(get(o, "outputs")), 2,
               "a classifier answers predict and predict_proba by default");
  json_object *p = output_named(o, "predict"), *pp = output_named(o, "predict_proba");
  CHECK(strcmp(str(get(p, "datatype")), "INT64") == 0 && shape_is(p, 2, 0) &&
            is_int(at(get(p, "data"), 0), 2) && is_int(at(get(p, "data"), 1), 2),
        "predict: class indices (argmax) without a schema's labels");
  CHECK(strcmp(str(get(pp, "datatype")), "FP32") == 0 && shape_is(pp, 2, 3),
        "predict_proba: FP32 [n, K]");
  json_object *d = get(pp, "data");
  int ok = json_object_array_length(d) == 6;
  for (size_t i = 0; i < 6 && ok; i++) ok = same_float(at(d, i), out[i]);
  CHECK(ok, "probabilities round-trip");
  CHECK(b.inference_header_len == 0, "JSON: no inference header");
  json_object_put(o);
  api_body_free(&b);

  /* Triton's tree backend's output name, asked alone. */
  req.id = NULL;
  req.noutputs = 1;
  req.outputs[0] = (api_output_t){API_OUT_OUTPUT0, 0};
  api_encode_v2_infer("multi", multi, NULL, &req, out, &b);
  o = parse_body(&b, b.len);
  CHECK(get(o, "id") == NULL && json_object_array_length(get(o, "outputs")) == 1 &&
            shape_is(output_named(o, "output__0"), 2, 3),
        "output__0 alone, no id when none was sent");
  json_object_put(o);
  api_body_free(&b);

  /* Labels from the schema: BYTES. */
  const float p2[2] = {0.2f, 0.7f};
  req.noutputs = 0;
  api_encode_v2_infer("income", income, income_schema, &req, p2, &b);
  o = parse_body(&b, b.len);
  p = output_named(o, "predict");
  CHECK(strcmp(str(get(p, "datatype")), "BYTES") == 0 && shape_is(p, 2, 0) &&
            strcmp(str(at(get(p, "data"), 0)), "<=50K") == 0 &&
            strcmp(str(at(get(p, "data"), 1)), ">50K") == 0,
        "predict: the schema's labels as BYTES");
  d = get(output_named(o, "predict_proba"), "data");
  CHECK(shape_is(output_named(o, "predict_proba"), 2, 2) && same_float(at(d, 0), 1.0f - 0.2f) &&
            same_float(at(d, 1), 0.2f) && same_float(at(d, 3), 0.7f),
        "binary predict_proba: [n, 2] as scikit-learn's, [P(0), P(1)]");
  json_object_put(o);
  api_body_free(&b);

  req.margin = 1;
  api_encode_v2_infer("income", income, income_schema, &req, p2, &b);
  o = parse_body(&b, b.len);
  CHECK(shape_is(output_named(o, "predict_proba"), 2, 0) &&
            same_float(at(get(output_named(o, "predict_proba"), "data"), 1), 0.7f),
        "margins: one column, as they are");
  json_object_put(o);
  api_body_free(&b);
  req.margin = 0;

  /* A regression model: predict holds the values, and is all it answers by default. */
  grove_forest_t *regression = load("tests/fixtures/dart.json");
  api_encode_v2_infer("reg", regression, NULL, &req, p2, &b);
  o = parse_body(&b, b.len);
  p = output_named(o, "predict");
  CHECK(json_object_array_length(get(o, "outputs")) == 1 &&
            strcmp(str(get(p, "datatype")), "FP32") == 0 && same_float(at(get(p, "data"), 1), 0.7f),
        "regression: predict holds the values");
  json_object_put(o);
  api_body_free(&b);
  grove_forest_free(regression);

  /* Binary outputs follow the header in the order asked; JSON ones stay in it. */
  req.noutputs = 2;
  req.outputs[0] = (api_output_t){API_OUT_PREDICT, 1};
  req.outputs[1] = (api_output_t){API_OUT_PROBA, 1};
  CHECK_EQ_INT(api_encode_v2_infer("income", income, income_schema, &req, p2, &b), 0,
               "encode v2 binary");
  CHECK(strcmp(b.content_type, "application/octet-stream") == 0, "binary content type");
  o = parse_body(&b, b.inference_header_len);
  p = output_named(o, "predict");
  pp = output_named(o, "predict_proba");
  const size_t label_bytes = 4 + 5 + 4 + 4; /* "<=50K", ">50K" with their lengths */
  CHECK(is_int(get(get(p, "parameters"), "binary_data_size"), (int64_t)label_bytes) &&
            is_int(get(get(pp, "parameters"), "binary_data_size"), 16) && get(p, "data") == NULL,
        "binary_data_size of each output, no data in the header");
  CHECK(b.inference_header_len + label_bytes + 16 == b.len, "header + labels + 2 x 2 floats");
  const unsigned char *q = (const unsigned char *)b.data + b.inference_header_len;
  CHECK(le32(q) == 5 && memcmp(q + 4, "<=50K", 5) == 0 && le32(q + 9) == 4 &&
            memcmp(q + 13, ">50K", 4) == 0,
        "BYTES labels as Triton writes them: length-prefixed");
  float f[4];
  for (int i = 0; i < 4; i++) {
    uint32_t bits = le32(q + label_bytes + 4 * i);
    memcpy(&f[i], &bits, 4);
  }
  CHECK(f[0] == 1.0f - 0.2f && f[1] == 0.2f && f[2] == 1.0f - 0.7f && f[3] == 0.7f,
        "little-endian float32 probabilities");
  json_object_put(o);
  api_body_free(&b);

  req.outputs[0] = (api_output_t){API_OUT_PREDICT, 0};
  api_encode_v2_infer("named", named, NULL, &req, p2, &b);
  o = parse_body(&b, b.inference_header_len);
  p = output_named(o, "predict");
  CHECK(b.inference_header_len + 16 == b.len && is_int(at(get(p, "data"), 1), 1) &&
            get(get(p, "parameters"), "binary_data_size") == NULL,
        "a JSON output beside a binary one");
  json_object_put(o);
  api_body_free(&b);

  req.outputs[0] = (api_output_t){API_OUT_PREDICT, 1};
  req.noutputs = 1;
  api_encode_v2_infer("named", named, NULL, &req, p2, &b);
  q = (const unsigned char *)b.data + b.inference_header_len;
  CHECK(b.inference_header_len + 16 == b.len && le32(q) == 0 && le32(q + 4) == 0 &&
            le32(q + 8) == 1 && le32(q + 12) == 0,
        "INT64 class indices in binary");
  api_body_free(&b);
}

static void test_metadata(void) {
  api_model_meta_t meta = {.name = "multi"};
  api_body_t b;
  CHECK_EQ_INT(api_encode_model_v2(&meta, multi, NULL, &b), 0, "model v2");
  json_object *o = parse_body(&b, b.len);
  CHECK(strcmp(str(get(o, "name")), "multi") == 0 &&
            strcmp(str(at(get(o, "versions"), 0)), "1") == 0 &&
            strcmp(str(get(o, "platform")), "grove_xgboost") == 0,
        "v2 name, versions, platform <project>_<format>");
  json_object *in = at(get(o, "inputs"), 0);
  CHECK(strcmp(str(get(in, "name")), "input") == 0 && shape_is(in, -1, 3), "v2 input [-1, F]");
  CHECK(shape_is(output_named(o, "predict_proba"), -1, 3) &&
            shape_is(output_named(o, "output__0"), -1, 3) &&
            strcmp(str(get(output_named(o, "predict"), "datatype")), "INT64") == 0 &&
            shape_is(output_named(o, "predict"), -1, 0),
        "v2 outputs: labels [-1], probabilities [-1, K]");
  json_object *params = get(o, "parameters");
  CHECK(strstr(str(get(params, "outputs")), "predict_proba: probabilities") != NULL &&
            strstr(str(get(params, "inputs")), "one input per feature") != NULL,
        "the parameters say what inputs and outputs mean");
  int strings = json_object_is_type(params, json_type_object);
  json_object_object_foreach(params, key, val) {
    (void)key;
    strings &= json_object_is_type(val, json_type_string);
  }
  CHECK(strings, "OIP parameters of metadata are strings");
  json_object_put(o);
  api_body_free(&b);

  meta.name = "income";
  api_encode_model_v2(&meta, income, income_schema, &b);
  o = parse_body(&b, b.len);
  CHECK(strcmp(str(get(output_named(o, "predict"), "datatype")), "BYTES") == 0 &&
            shape_is(output_named(o, "predict_proba"), -1, 2),
        "income: BYTES labels, two probability columns");
  CHECK(strstr(str(get(get(o, "parameters"), "inputs")), "'workclass'") != NULL,
        "the feature names are listed");
  json_object_put(o);
  api_body_free(&b);
}

int main(void) {
  if (load_income(&income, &income_schema) != 0) return 1;
  multi = load("tests/fixtures/multi_softprob.json");
  named = load("tests/fixtures/binary_logistic.json");
  if (fixtures_loaded(multi != NULL && named != NULL) != 0) return 1;
  test_v2_json();
  test_v2_binary();
  test_outputs_asked();
  test_raw_binary();
  test_half_floats();
  test_bool_and_bytes();
  test_by_feature();
  test_encode_v2();
  test_metadata();
  grove_forest_free(income);
  grove_forest_free(multi);
  grove_forest_free(named);
  grove_schema_free(income_schema);
  return test_done();
}
