/*
 * The Open Inference Protocol v2 (KServe / Triton REST) infer request and answer, with
 * Triton's binary tensor extension: the JSON header is parsed with json-c (strict), the
 * tensors that follow it are read as little-endian bytes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codecs.h"
#include "json_read.h"

#define CONTENT_TYPE_JSON   "application/json"
#define CONTENT_TYPE_BINARY "application/octet-stream"

/* ------------------------------------------------------------------------- */
/* OIP v2 requests                                                            */

typedef enum { DT_FLOAT, DT_INT, DT_UINT, DT_BOOL } dt_kind_t;

typedef struct {
  const char *name;
  dt_kind_t kind;
  uint8_t size;
} v2_dtype_t;

static const v2_dtype_t v2_dtypes[] = {
    {"FP32", DT_FLOAT, 4},  {"FP64", DT_FLOAT, 8},  {"INT8", DT_INT, 1},   {"INT16", DT_INT, 2},
    {"INT32", DT_INT, 4},   {"INT64", DT_INT, 8},   {"UINT8", DT_UINT, 1}, {"UINT16", DT_UINT, 2},
    {"UINT32", DT_UINT, 4}, {"UINT64", DT_UINT, 8}, {"BOOL", DT_BOOL, 1},
};

typedef struct {
  const grove_forest_t *forest;
  const v2_dtype_t *dt;
  uint32_t nf;
  float *rows;
  size_t pos; /* next element */
  api_error_t *err;
} v2_fill_t;

/* Counts the leaves of nested arrays V (non-arrays count 1). */
static size_t count_leaves(json_object *v) {
  if (!json_object_is_type(v, json_type_array)) return 1;
  size_t n = 0, m = json_object_array_length(v);
  for (size_t i = 0; i < m; i++) n += count_leaves(json_object_array_get_idx(v, i));
  return n;
}

static int v2_put(v2_fill_t *f, json_object *v) {
  size_t r = f->pos / f->nf;
  api_loc_t loc = {"row", r, (uint32_t)(f->pos % f->nf)};
  float *dst = &f->rows[f->pos++];
  char name[API_QUOTE_MAX + 16];
  const char *fname = api__feature_label(f->forest, NULL, loc.feature, name, sizeof name);
  switch (f->dt->kind) {
    case DT_BOOL:
      if (!json_object_is_type(v, json_type_boolean))
        return api__fail(f->err, 400,
                         "row %zu, feature '%s': BOOL data must be true or false, got %s", r, fname,
                         api__json_type_name(v));
      *dst = json_object_get_boolean(v) ? 1.0f : 0.0f;
      return 0;
    case DT_FLOAT: {
      if (json_object_is_type(v, json_type_null)) return 0; /* missing */
      double d;
      if (!api__json_is_number(v))
        return api__fail(f->err, 400,
                         "row %zu, feature '%s': %s data must be numbers (or null), got %s", r,
                         fname, f->dt->name, api__json_type_name(v));
      if (api__json_number_value(v, &d) != 0)
        return api__fail(f->err, 400, "row %zu, feature '%s': integer out of range", r, fname);
      return api__put_number(d, f->forest, NULL, &loc, dst, f->err);
    }
    case DT_INT:
    case DT_UINT: {
      if (!json_object_is_type(v, json_type_int))
        return api__fail(f->err, 400, "row %zu, feature '%s': %s data must be integers, got %s", r,
                         fname, f->dt->name, api__json_type_name(v));
      int bits = f->dt->size * 8;
      int64_t i = json_object_get_int64(v);
      if (f->dt->kind == DT_UINT && bits == 64) {
        uint64_t u = json_object_get_uint64(v);
        if (i < 0 || u == UINT64_MAX)
          return api__fail(f->err, 400, "row %zu, feature '%s': value out of UINT64 range", r,
                           fname);
        *dst = (float)u;
        return 0;
      }
      int64_t lo = f->dt->kind == DT_UINT ? 0
                   : bits == 64           ? INT64_MIN + 1
                                          : -((int64_t)1 << (bits - 1));
      int64_t hi = bits == 64               ? INT64_MAX - 1
                   : f->dt->kind == DT_UINT ? ((int64_t)1 << bits) - 1
                                            : ((int64_t)1 << (bits - 1)) - 1;
      if (i < lo || i > hi)
        return api__fail(f->err, 400, "row %zu, feature '%s': value out of %s range", r, fname,
                         f->dt->name);
      *dst = (float)i;
      return 0;
    }
  }
  return -1;
}

static int v2_fill(v2_fill_t *f, json_object *v) {
  if (!json_object_is_type(v, json_type_array)) return v2_put(f, v);
  size_t m = json_object_array_length(v);
  for (size_t i = 0; i < m; i++)
    if (v2_fill(f, json_object_array_get_idx(v, i)) != 0) return -1;
  return 0;
}

static uint64_t load_le(const unsigned char *p, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Converts N little-endian elements of type DT at P into f->rows. */
static int v2_fill_binary(v2_fill_t *f, const unsigned char *p, size_t n) {
  for (size_t e = 0; e < n; e++, p += f->dt->size) {
    uint64_t bits = load_le(p, f->dt->size);
    float *dst = &f->rows[e];
    api_loc_t loc = {"row", e / f->nf, (uint32_t)(e % f->nf)};
    switch (f->dt->kind) {
      case DT_BOOL:
        *dst = bits ? 1.0f : 0.0f;
        break;
      case DT_UINT:
        *dst = (float)bits;
        break;
      case DT_INT: {
        unsigned shift = 64 - 8u * f->dt->size;
        int64_t i = (int64_t)(bits << shift) >> shift; /* sign-extend */
        *dst = (float)i;
        break;
      }
      case DT_FLOAT: {
        double d;
        if (f->dt->size == 4) {
          uint32_t b32 = (uint32_t)bits;
          float x;
          memcpy(&x, &b32, sizeof x);
          d = x;
        } else {
          memcpy(&d, &bits, sizeof d);
        }
        if (isnan(d)) break; /* NaN = missing */
        if (api__put_number(d, f->forest, NULL, &loc, dst, f->err) != 0) return -1;
        break;
      }
    }
  }
  return 0;
}

/* Reads "shape" into *n rows (a [f] shape is one row). */
static int v2_shape(json_object *input, uint32_t nf, size_t *n, api_error_t *err) {
  json_object *shape;
  if (!json_object_object_get_ex(input, "shape", &shape) ||
      !json_object_is_type(shape, json_type_array))
    return api__fail(err, 400, "inputs[0]: \"shape\" must be an array: [rows, %u] or [%u]", nf, nf);
  size_t rank = json_object_array_length(shape);
  int64_t dims[2] = {1, 0};
  if (rank != 1 && rank != 2)
    return api__fail(err, 400, "inputs[0]: shape has %zu dimensions; expected [rows, %u] or [%u]",
                     rank, nf, nf);
  for (size_t d = 0; d < rank; d++) {
    json_object *v = json_object_array_get_idx(shape, d);
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
      return api__fail(err, 400, "inputs[0]: shape[%zu] must be a non-negative integer", d);
    dims[2 - rank + d] = json_object_get_int64(v);
  }
  if (dims[1] != (int64_t)nf)
    return api__fail(err, 400, "inputs[0]: shape has %lld features per row, the model has %u",
                     (long long)dims[1], nf);
  if ((uint64_t)dims[0] > SIZE_MAX) return api__fail(err, 413, "inputs[0]: too many rows");
  *n = (size_t)dims[0];
  return 0;
}

static int v2_outputs(json_object *root, api_request_t *req, api_error_t *err) {
  json_object *params, *outputs;
  if (json_object_object_get_ex(root, "parameters", &params)) {
    if (!json_object_is_type(params, json_type_object))
      return api__fail(err, 400, "\"parameters\" must be an object");
    if (api__json_get_bool(params, "binary_data_output", &req->binary_output,
                           "parameters: ", err) != 0)
      return -1;
  }
  if (!json_object_object_get_ex(root, "outputs", &outputs) ||
      json_object_is_type(outputs, json_type_null))
    return 0;
  if (!json_object_is_type(outputs, json_type_array))
    return api__fail(err, 400, "\"outputs\" must be an array");
  size_t n = json_object_array_length(outputs);
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_array_get_idx(outputs, i), *name, *oparams;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "name", &name) ||
        !json_object_is_type(name, json_type_string))
      return api__fail(err, 400, "outputs[%zu]: expected an object with a \"name\"", i);
    if (strcmp(json_object_get_string(name), API_OIP_OUTPUT_NAME) != 0)
      return api__fail(
          err, 400,
          "outputs[%zu]: unknown output \"%.*s\" (the model's output is \"" API_OIP_OUTPUT_NAME
          "\")",
          i, API_QUOTE_MAX, json_object_get_string(name));
    if (json_object_object_get_ex(o, "parameters", &oparams)) {
      if (!json_object_is_type(oparams, json_type_object))
        return api__fail(err, 400, "outputs[%zu]: \"parameters\" must be an object", i);
      char where[48];
      snprintf(where, sizeof where, "outputs[%zu].parameters: ", i);
      if (api__json_get_bool(oparams, "binary_data_output", &req->binary_output, where, err) != 0)
        return -1;
    }
    if (req->output_name == NULL && (req->output_name = strdup(API_OIP_OUTPUT_NAME)) == NULL)
      return api__fail(err, 500, "out of memory");
  }
  return 0;
}

/* The one input tensor's object and datatype; 0, or -1 with ERR filled. */
static int v2_input(json_object *root, uint32_t nf, json_object **input, const v2_dtype_t **dt,
                    api_error_t *err) {
  json_object *inputs, *name, *dtype;
  if (!json_object_object_get_ex(root, "inputs", &inputs) ||
      !json_object_is_type(inputs, json_type_array))
    return api__fail(
        err, 400,
        "expected \"inputs\": [{\"name\", \"shape\": [rows, %u], \"datatype\", \"data\"}]", nf);
  if (json_object_array_length(inputs) != 1)
    return api__fail(err, 400, "expected exactly one input tensor of shape [rows, %u], got %zu", nf,
                     json_object_array_length(inputs));
  *input = json_object_array_get_idx(inputs, 0);
  if (!json_object_is_type(*input, json_type_object))
    return api__fail(err, 400, "inputs[0] must be an object");
  if (!json_object_object_get_ex(*input, "name", &name) ||
      !json_object_is_type(name, json_type_string))
    return api__fail(err, 400, "inputs[0]: \"name\" must be a string");
  if (!json_object_object_get_ex(*input, "datatype", &dtype) ||
      !json_object_is_type(dtype, json_type_string))
    return api__fail(err, 400, "inputs[0]: \"datatype\" must be a string such as \"FP32\"");
  *dt = NULL;
  for (size_t i = 0; i < sizeof v2_dtypes / sizeof v2_dtypes[0]; i++)
    if (strcmp(json_object_get_string(dtype), v2_dtypes[i].name) == 0) *dt = &v2_dtypes[i];
  if (*dt == NULL)
    return api__fail(err, 400,
                     "inputs[0]: unsupported datatype \"%.*s\" (FP32, FP64, INT8..INT64, "
                     "UINT8..UINT64 or BOOL)",
                     API_QUOTE_MAX, json_object_get_string(dtype));
  return 0;
}

/* N rows of the tensor from the BIN_LEN bytes after the JSON (Triton's binary extension),
 * whose size the input declared in SIZE_V (a non-negative integer). */
static int v2_binary_rows(v2_fill_t *fill, json_object *size_v, size_t n, const char *bin,
                          size_t bin_len, const api_limits_t *limits, api_request_t *req) {
  const uint32_t nf = fill->nf;
  api_error_t *err = fill->err;
  uint64_t size = (uint64_t)json_object_get_int64(size_v);
  if (nf != 0 && n > SIZE_MAX / nf / fill->dt->size)
    return api__fail(err, 413, "inputs[0]: too many rows");
  uint64_t want = (uint64_t)n * nf * fill->dt->size;
  if (size != want)
    return api__fail(err, 400, "inputs[0]: binary_data_size is %llu bytes, shape and %s need %llu",
                     (unsigned long long)size, fill->dt->name, (unsigned long long)want);
  if (size > bin_len)
    return api__fail(err, 400,
                     "inputs[0]: binary_data_size is %llu bytes, only %zu follow the JSON",
                     (unsigned long long)size, bin_len);
  if (size < bin_len)
    return api__fail(
        err, 400, "%zu bytes after the tensors (the JSON is Inference-Header-Content-Length bytes)",
        bin_len - (size_t)size);
  if (api__alloc_rows(n, fill->forest, limits, req, err) != 0) return -1;
  fill->rows = req->rows;
  return v2_fill_binary(fill, (const unsigned char *)bin, n * nf);
}

/* N rows of the tensor from its JSON "data" (flat or nested). */
static int v2_json_rows(v2_fill_t *fill, json_object *data, size_t n, const api_limits_t *limits,
                        api_request_t *req) {
  const uint32_t nf = fill->nf;
  api_error_t *err = fill->err;
  if (!json_object_is_type(data, json_type_array))
    return api__fail(err, 400, "inputs[0]: \"data\" must be an array");
  size_t count = count_leaves(data);
  if (nf == 0 ? count != 0 : n > SIZE_MAX / nf || count != n * nf)
    return api__fail(err, 400, "inputs[0]: shape [%zu, %u] needs %zu values, \"data\" has %zu", n,
                     nf, nf != 0 && n <= SIZE_MAX / nf ? n * nf : (size_t)0, count);
  if (api__alloc_rows(n, fill->forest, limits, req, err) != 0) return -1;
  fill->rows = req->rows;
  return v2_fill(fill, data);
}

static int v2_decode(json_object *root, const char *bin, size_t bin_len, int has_binary,
                     const grove_forest_t *forest, const api_limits_t *limits, api_request_t *req,
                     api_error_t *err) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  uint32_t nf = info.num_features;
  json_object *id, *input = NULL, *data, *params, *size_v = NULL;
  const v2_dtype_t *dt = NULL;
  if (json_object_object_get_ex(root, "id", &id) && !json_object_is_type(id, json_type_null)) {
    if (!json_object_is_type(id, json_type_string))
      return api__fail(err, 400, "\"id\" must be a string");
    if ((req->id = strdup(json_object_get_string(id))) == NULL)
      return api__fail(err, 500, "out of memory");
  }
  if (v2_outputs(root, req, err) != 0 || v2_input(root, nf, &input, &dt, err) != 0) return -1;
  size_t n = 0;
  if (v2_shape(input, nf, &n, err) != 0) return -1;
  if (json_object_object_get_ex(input, "parameters", &params)) {
    if (!json_object_is_type(params, json_type_object))
      return api__fail(err, 400, "inputs[0]: \"parameters\" must be an object");
    json_object_object_get_ex(params, "binary_data_size", &size_v);
  }
  int has_data = json_object_object_get_ex(input, "data", &data);
  v2_fill_t fill = {forest, dt, nf, NULL, 0, err};
  if (size_v != NULL) {
    if (!json_object_is_type(size_v, json_type_int) || json_object_get_int64(size_v) < 0)
      return api__fail(err, 400, "inputs[0]: \"binary_data_size\" must be a non-negative integer");
    if (!has_binary)
      return api__fail(err, 400,
                       "inputs[0]: \"binary_data_size\" needs the Inference-Header-Content-Length "
                       "header (the JSON's length) and the tensor bytes after the JSON");
    if (has_data)
      return api__fail(err, 400, "inputs[0]: give \"data\" or \"binary_data_size\", not both");
    return v2_binary_rows(&fill, size_v, n, bin, bin_len, limits, req);
  }
  if (!has_data)
    return api__fail(err, 400,
                     "inputs[0]: no \"data\" (nor \"parameters\": {\"binary_data_size\"})");
  if (has_binary && bin_len > 0)
    return api__fail(err, 400,
                     "%zu bytes after the JSON but no input names them with binary_data_size",
                     bin_len);
  return v2_json_rows(&fill, data, n, limits, req);
}

int api__oip_decode_infer(const char *body, size_t len, size_t json_len,
                          const grove_forest_t *forest, const api_limits_t *limits,
                          api_request_t *req, api_error_t *err) {
  if (json_len > len) {
    return api__fail(err, 400,
                     "Inference-Header-Content-Length is %zu but the body has only %zu bytes",
                     json_len, len);
  }
  size_t jlen = json_len ? json_len : len;
  json_object *root = api__json_parse_object(body, jlen, err);
  if (root == NULL) return -1;
  int rc = v2_decode(root, body + jlen, len - jlen, json_len > 0, forest, limits, req, err);
  json_object_put(root);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* The answer                                                                 */

int api__oip_encode_infer(const api_answer_t *a, api_body_t *body) {
  const api_request_t *req = a->req;
  const float *out = a->out;
  const uint32_t width = a->width;
  const size_t count = req->nrows * width;
  if (width != 0 && req->nrows > SIZE_MAX / 16 / width) return -1;
  api_buf_t b = {0};
  api_buf_reserve(&b, 256 + (req->binary_output ? count * 4 : count * 16));
  api_buf_puts(&b, "{\"model_name\":");
  api_buf_json_string(&b, a->model_name, strlen(a->model_name));
  if (req->id != NULL) {
    api_buf_puts(&b, ",\"id\":");
    api_buf_json_string(&b, req->id, strlen(req->id));
  }
  const char *oname = req->output_name ? req->output_name : API_OIP_OUTPUT_NAME;
  api_buf_puts(&b, ",\"outputs\":[{\"name\":");
  api_buf_json_string(&b, oname, strlen(oname));
  api_buf_puts(&b, ",\"datatype\":\"FP32\",\"shape\":[");
  if (width == 1)
    api_buf_printf(&b, "%zu]", req->nrows);
  else
    api_buf_printf(&b, "%zu,%u]", req->nrows, width);
  if (req->binary_output) {
    api_buf_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}]}", count * 4);
    size_t header = b.len;
    if (api_buf_reserve(&b, count * 4) == 0) {
      unsigned char *p = (unsigned char *)b.data + b.len;
      for (size_t i = 0; i < count; i++, p += 4) {
        uint32_t bits;
        memcpy(&bits, &out[i], 4);
        p[0] = (unsigned char)bits;
        p[1] = (unsigned char)(bits >> 8);
        p[2] = (unsigned char)(bits >> 16);
        p[3] = (unsigned char)(bits >> 24);
      }
      b.len += count * 4;
    }
    if (api_buf_finish(&b, CONTENT_TYPE_BINARY, body) != 0) return -1;
    body->inference_header_len = header;
    return 0;
  }
  api_buf_puts(&b, ",\"data\":[");
  for (size_t i = 0; i < count && !b.failed; i++) {
    if (i) api_buf_put(&b, ",", 1);
    api_buf_json_float(&b, out[i]);
  }
  api_buf_puts(&b, "]}]}");
  return api_buf_finish(&b, CONTENT_TYPE_JSON, body);
}
