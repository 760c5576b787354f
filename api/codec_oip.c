/*
 * The Open Inference Protocol v2 (KServe / Triton REST) infer request and answer, with
 * Triton's binary tensor extension: the JSON header is read with the strict pull reader
 * (json_pull.h: one pass checks it whole and notes where things are, nothing is built), the
 * tensor data then read where it lies, as JSON values or as the little-endian bytes after
 * the header.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codecs.h"
#include "json_pull.h"

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

/* What the header says of the one input tensor, as read (checked by check_input); a kind
 * of JP_DONE is a member that is absent. */
typedef struct {
  int is_object;
  jp_kind_t name_kind, dtype_kind, shape_kind, params_kind, size_kind, data_kind;
  char dtype[16];    /* the datatype's text, cut */
  size_t shape_rank; /* elements of "shape" */
  int shape_bad;     /* index + 1 of the first shape element that is not a count */
  uint64_t dims[2];  /* the last two of them */
  jp_number_t size;  /* parameters.binary_data_size */
  size_t data_at, data_leaves;
} v2_input_t;

/* Everything the header says, as read; semantic errors wait until it is known valid. */
typedef struct {
  size_t inputs_at, ninputs;
  jp_kind_t inputs_kind;
  int binary_header; /* Inference-Header-Content-Length came with the request */
  api_error_t first; /* the first semantic error met while reading */
} v2_header_t;

typedef struct {
  const grove_forest_t *forest;
  const v2_dtype_t *dt;
  uint32_t nf;
  float *rows;
  size_t pos; /* next element */
  api_error_t *err;
} v2_fill_t;

/* Notes E (unless an earlier error was noted) and returns -1. */
static int note(v2_header_t *h, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int note(v2_header_t *h, int status, const char *fmt, ...) {
  if (h->first.status == 0) {
    va_list ap;
    va_start(ap, fmt);
    h->first.status = status;
    vsnprintf(h->first.message, sizeof h->first.message, fmt, ap);
    va_end(ap);
  }
  return -1;
}

/* A member's boolean value at J (already read): into *OUT, or a noted error naming WHERE. */
static void read_bool(jp_t *j, v2_header_t *h, const char *where, const char *key, int *out) {
  jp_kind_t k = j->kind;
  jp_skip(j, NULL, NULL);
  if (k == JP_TRUE || k == JP_FALSE)
    *out = k == JP_TRUE;
  else
    note(h, 400, "%s\"%s\" must be true or false, got %s", where, key, jp_kind_name(k));
}

/* The members of the object J just opened: ON_MEMBER(j, key, ctx) reads each value (it must
 * consume it); returns 0, or -1 on a syntax error. */
static int each_member(jp_t *j, void (*on_member)(jp_t *, const char *, void *), void *ctx) {
  for (jp_kind_t k = jp_next(j); k != JP_OBJECT_END; k = jp_next(j)) {
    if (k != JP_KEY) return -1;
    char key[64];
    if (jp_string(j, key, sizeof key) == SIZE_MAX) key[0] = '\0'; /* no key we know is that long */
    if (jp_next(j) == JP_ERROR) return -1;
    on_member(j, key, ctx);
    if (j->kind == JP_ERROR) return -1;
  }
  return 0;
}

typedef struct {
  v2_header_t *h;
  api_request_t *req;
  char where[64];
} params_ctx_t;

static void on_params_member(jp_t *j, const char *key, void *ctx) {
  params_ctx_t *c = ctx;
  if (strcmp(key, "binary_data_output") == 0)
    read_bool(j, c->h, c->where, key, &c->req->binary_output);
  else
    jp_skip(j, NULL, NULL);
}

/* "parameters" at J (already read), top-level or an output's: an object. */
static void read_params(jp_t *j, v2_header_t *h, api_request_t *req, const char *where) {
  if (j->kind != JP_OBJECT) {
    jp_kind_t k = j->kind;
    jp_skip(j, NULL, NULL);
    note(h, 400, "%s\"parameters\" must be an object, got %s", where, jp_kind_name(k));
    return;
  }
  params_ctx_t c = {h, req, ""};
  snprintf(c.where, sizeof c.where, "%sparameters: ", where);
  each_member(j, on_params_member, &c);
}

typedef struct {
  v2_header_t *h;
  api_request_t *req;
  size_t index;
  int named;
} output_ctx_t;

static void on_output_member(jp_t *j, const char *key, void *ctx) {
  output_ctx_t *c = ctx;
  char where[48];
  snprintf(where, sizeof where, "outputs[%zu].", c->index);
  if (strcmp(key, "parameters") == 0) {
    read_params(j, c->h, c->req, where);
  } else if (strcmp(key, "name") == 0 && j->kind == JP_STRING) {
    char name[API_QUOTE_MAX + 1];
    jp_string(j, name, sizeof name);
    c->named = 1;
    if (j->escaped || strlen(name) != j->len || strcmp(name, API_OIP_OUTPUT_NAME) != 0)
      note(c->h, 400,
           "outputs[%zu]: unknown output \"%s\" (the model's output is \"" API_OIP_OUTPUT_NAME
           "\")",
           c->index, name);
  } else {
    jp_skip(j, NULL, NULL);
  }
}

/* "outputs" at J (already read): null, or an array of {"name", "parameters"} objects. */
static void read_outputs(jp_t *j, v2_header_t *h, api_request_t *req) {
  if (j->kind == JP_NULL) return;
  if (j->kind != JP_ARRAY) {
    jp_skip(j, NULL, NULL);
    note(h, 400, "\"outputs\" must be an array");
    return;
  }
  size_t i = 0;
  for (jp_kind_t k = jp_next(j); k != JP_ARRAY_END && k > JP_DONE; k = jp_next(j), i++) {
    output_ctx_t c = {h, req, i, 0};
    if (k != JP_OBJECT || each_member(j, on_output_member, &c) != 0 || !c.named) {
      if (k != JP_OBJECT) jp_skip(j, NULL, NULL);
      note(h, 400, "outputs[%zu]: expected an object with a \"name\"", i);
      continue;
    }
    if (req->output_name == NULL && (req->output_name = strdup(API_OIP_OUTPUT_NAME)) == NULL)
      note(h, 500, "out of memory");
  }
}

/* "id" at J (already read): a string (kept) or null. */
static void read_id(jp_t *j, v2_header_t *h, api_request_t *req) {
  if (j->kind == JP_NULL) return;
  if (j->kind != JP_STRING) {
    jp_skip(j, NULL, NULL);
    note(h, 400, "\"id\" must be a string");
    return;
  }
  free(req->id);
  if ((req->id = malloc(j->len + 1)) == NULL)
    note(h, 500, "out of memory");
  else
    jp_string(j, req->id, j->len + 1);
}

typedef struct {
  v2_header_t *h;
  api_request_t *req;
} top_ctx_t;

static void on_top_member(jp_t *j, const char *key, void *ctx) {
  top_ctx_t *c = ctx;
  if (strcmp(key, "id") == 0)
    read_id(j, c->h, c->req);
  else if (strcmp(key, "parameters") == 0)
    read_params(j, c->h, c->req, "");
  else if (strcmp(key, "outputs") == 0)
    read_outputs(j, c->h, c->req);
  else if (strcmp(key, "inputs") == 0) {
    c->h->inputs_at = j->offset;
    c->h->inputs_kind = j->kind;
    jp_skip(j, &c->h->ninputs, NULL);
  } else {
    jp_skip(j, NULL, NULL);
  }
}

/* Reads the header (JSON_LEN bytes of BODY) whole into H; 0, or -1 with ERR filled. */
static int read_header(const char *body, size_t json_len, v2_header_t *h, api_request_t *req,
                       api_error_t *err) {
  jp_t j;
  memset(h, 0, sizeof *h);
  if (api__json_body_start(&j, body, json_len, err) != 0) return -1;
  top_ctx_t c = {h, req};
  if (each_member(&j, on_top_member, &c) != 0 || jp_next(&j) != JP_DONE)
    return api__json_syntax_error(&j, err);
  if (h->first.status != 0) return *err = h->first, -1;
  return 0;
}

static void on_input_member(jp_t *j, const char *key, void *ctx) {
  v2_input_t *in = ctx;
  jp_kind_t k = j->kind;
  if (strcmp(key, "name") == 0) {
    in->name_kind = k;
  } else if (strcmp(key, "datatype") == 0) {
    in->dtype_kind = k;
    if (k == JP_STRING && jp_string(j, in->dtype, sizeof in->dtype) == SIZE_MAX) in->dtype[0] = '?';
  } else if (strcmp(key, "data") == 0) {
    in->data_kind = k;
    in->data_at = j->offset;
    jp_skip(j, NULL, &in->data_leaves);
    return;
  } else if (strcmp(key, "shape") == 0 && k == JP_ARRAY) {
    in->shape_kind = k;
    for (jp_kind_t e = jp_next(j); e != JP_ARRAY_END && e > JP_DONE;
         e = jp_next(j), in->shape_rank++) {
      jp_number_t n = {0};
      if (e == JP_NUMBER) jp_number(j, &n);
      if ((e != JP_NUMBER || !n.integral || n.negative || !n.fits) && !in->shape_bad)
        in->shape_bad = (int)in->shape_rank + 1;
      in->dims[0] = in->dims[1];
      in->dims[1] = n.magnitude;
      jp_skip(j, NULL, NULL);
    }
    return;
  } else if (strcmp(key, "shape") == 0) {
    in->shape_kind = k;
  } else if (strcmp(key, "parameters") == 0 && k == JP_OBJECT) {
    in->params_kind = k;
    for (jp_kind_t e = jp_next(j); e == JP_KEY; e = jp_next(j)) {
      int is_size = !j->escaped && j->len == 16 && memcmp(j->text, "binary_data_size", 16) == 0;
      jp_kind_t v = jp_next(j);
      if (is_size) {
        in->size_kind = v;
        if (v == JP_NUMBER) jp_number(j, &in->size);
      }
      jp_skip(j, NULL, NULL);
    }
    return;
  } else if (strcmp(key, "parameters") == 0) {
    in->params_kind = k;
  }
  jp_skip(j, NULL, NULL);
}

static const v2_dtype_t *find_dtype(const char *name) {
  for (size_t i = 0; i < sizeof v2_dtypes / sizeof v2_dtypes[0]; i++)
    if (strcmp(name, v2_dtypes[i].name) == 0) return &v2_dtypes[i];
  return NULL;
}

/* The checks on the one input, in the order a client most needs them; *N gets the rows. */
static int check_input(const v2_input_t *in, uint32_t nf, const v2_dtype_t **dt, size_t *n,
                       api_error_t *err) {
  if (!in->is_object) return api__fail(err, 400, "inputs[0] must be an object");
  if (in->name_kind != JP_STRING)
    return api__fail(err, 400, "inputs[0]: \"name\" must be a string");
  if (in->dtype_kind != JP_STRING)
    return api__fail(err, 400, "inputs[0]: \"datatype\" must be a string such as \"FP32\"");
  if ((*dt = find_dtype(in->dtype)) == NULL)
    return api__fail(err, 400,
                     "inputs[0]: unsupported datatype \"%s\" (FP32, FP64, INT8..INT64, "
                     "UINT8..UINT64 or BOOL)",
                     in->dtype);
  if (in->shape_kind != JP_ARRAY)
    return api__fail(err, 400, "inputs[0]: \"shape\" must be an array: [rows, %u] or [%u]", nf, nf);
  if (in->shape_rank != 1 && in->shape_rank != 2)
    return api__fail(err, 400, "inputs[0]: shape has %zu dimensions; expected [rows, %u] or [%u]",
                     in->shape_rank, nf, nf);
  if (in->shape_bad)
    return api__fail(err, 400, "inputs[0]: shape[%d] must be a non-negative integer",
                     in->shape_bad - 1);
  uint64_t rows = in->shape_rank == 2 ? in->dims[0] : 1, cols = in->dims[1];
  if (cols != nf)
    return api__fail(err, 400, "inputs[0]: shape has %llu features per row, the model has %u",
                     (unsigned long long)cols, nf);
  if (rows > SIZE_MAX) return api__fail(err, 413, "inputs[0]: too many rows");
  if (in->params_kind != JP_DONE && in->params_kind != JP_OBJECT)
    return api__fail(err, 400, "inputs[0]: \"parameters\" must be an object");
  *n = (size_t)rows;
  return 0;
}

/* Converts one JSON value at J (a scalar of the tensor's data) into f->rows. */
static int v2_put(v2_fill_t *f, const jp_t *j) {
  size_t r = f->pos / f->nf;
  api_loc_t loc = {"row", r, (uint32_t)(f->pos % f->nf)};
  float *dst = &f->rows[f->pos++];
  char name[API_QUOTE_MAX + 16];
  const char *fname = api__feature_label(f->forest, NULL, loc.feature, name, sizeof name);
  jp_number_t n = {0};
  if (j->kind == JP_NUMBER) jp_number(j, &n);
  switch (f->dt->kind) {
    case DT_BOOL:
      if (j->kind != JP_TRUE && j->kind != JP_FALSE)
        return api__fail(f->err, 400,
                         "row %zu, feature '%s': BOOL data must be true or false, got %s", r, fname,
                         jp_kind_name(j->kind));
      *dst = j->kind == JP_TRUE ? 1.0f : 0.0f;
      return 0;
    case DT_FLOAT:
      if (j->kind == JP_NULL) return 0; /* missing */
      if (j->kind != JP_NUMBER)
        return api__fail(f->err, 400,
                         "row %zu, feature '%s': %s data must be numbers (or null), got %s", r,
                         fname, f->dt->name, jp_kind_name(j->kind));
      if (n.integral && !n.fits)
        return api__fail(f->err, 400, "row %zu, feature '%s': integer out of range", r, fname);
      return api__put_number(n.d, f->forest, NULL, &loc, dst, f->err);
    case DT_INT:
    case DT_UINT: {
      if (j->kind != JP_NUMBER || !n.integral)
        return api__fail(f->err, 400, "row %zu, feature '%s': %s data must be integers, got %s", r,
                         fname, f->dt->name,
                         j->kind == JP_NUMBER ? "a fraction" : jp_kind_name(j->kind));
      /* The largest magnitude each sign may have (json-c's clamped ends stay refused at 64 bits).
       */
      const unsigned bits = f->dt->size * 8u;
      const uint64_t pos_max = f->dt->kind == DT_UINT
                                   ? (bits == 64 ? UINT64_MAX - 1 : ((uint64_t)1 << bits) - 1)
                                   : ((uint64_t)1 << (bits - 1)) - 1 - (bits == 64);
      const uint64_t neg_max =
          f->dt->kind == DT_UINT ? 0 : ((uint64_t)1 << (bits - 1)) - (bits == 64);
      if (!n.fits || n.magnitude > (n.negative ? neg_max : pos_max))
        return api__fail(f->err, 400, "row %zu, feature '%s': value out of %s range", r, fname,
                         f->dt->name);
      *dst = n.negative ? -(float)n.magnitude : (float)n.magnitude;
      return 0;
    }
  }
  return -1;
}

/* Fills f->rows from the JSON "data" at OFFSET of BODY (flat or nested arrays). */
static int v2_fill(v2_fill_t *f, const char *body, size_t len, size_t offset) {
  jp_t j;
  jp_init_at(&j, body, len, offset);
  jp_kind_t k = jp_next(&j);
  if (k != JP_ARRAY) return v2_put(f, &j);
  for (int depth = 1; depth > 0;) {
    k = jp_next(&j);
    if (k == JP_ARRAY)
      depth++;
    else if (k == JP_ARRAY_END)
      depth--;
    else if (k <= JP_DONE)
      return api__fail(f->err, 400, "inputs[0]: malformed \"data\"");
    else if (v2_put(f, &j) != 0)
      return -1;
  }
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

/* N rows of the tensor from the BIN_LEN bytes after the JSON (Triton's binary extension),
 * whose size the input declared. */
static int v2_binary_rows(v2_fill_t *fill, const v2_input_t *in, size_t n, const char *bin,
                          size_t bin_len, const api_limits_t *limits, api_request_t *req) {
  const uint32_t nf = fill->nf;
  api_error_t *err = fill->err;
  uint64_t size = in->size.magnitude;
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

/* The one input tensor of the header, checked, into REQ's rows. */
static int v2_decode_input(const char *body, size_t len, size_t json_len, const v2_header_t *h,
                           const grove_forest_t *forest, const api_limits_t *limits,
                           api_request_t *req, api_error_t *err) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  const uint32_t nf = info.num_features;
  if (h->inputs_kind != JP_ARRAY)
    return api__fail(
        err, 400,
        "expected \"inputs\": [{\"name\", \"shape\": [rows, %u], \"datatype\", \"data\"}]", nf);
  if (h->ninputs != 1)
    return api__fail(err, 400, "expected exactly one input tensor of shape [rows, %u], got %zu", nf,
                     h->ninputs);
  v2_input_t in = {0};
  jp_t j;
  jp_init_at(&j, body, json_len, h->inputs_at);
  jp_next(&j); /* the array */
  in.is_object = jp_next(&j) == JP_OBJECT;
  if (in.is_object) each_member(&j, on_input_member, &in);
  const v2_dtype_t *dt = NULL;
  size_t n = 0;
  if (check_input(&in, nf, &dt, &n, err) != 0) return -1;
  v2_fill_t fill = {forest, dt, nf, NULL, 0, err};
  if (in.size_kind != JP_DONE) {
    if (in.size_kind != JP_NUMBER || !in.size.integral || in.size.negative || !in.size.fits)
      return api__fail(err, 400, "inputs[0]: \"binary_data_size\" must be a non-negative integer");
    if (!h->binary_header)
      return api__fail(err, 400,
                       "inputs[0]: \"binary_data_size\" needs the Inference-Header-Content-Length "
                       "header (the JSON's length) and the tensor bytes after the JSON");
    if (in.data_kind != JP_DONE)
      return api__fail(err, 400, "inputs[0]: give \"data\" or \"binary_data_size\", not both");
    return v2_binary_rows(&fill, &in, n, body + json_len, len - json_len, limits, req);
  }
  if (in.data_kind == JP_DONE)
    return api__fail(err, 400,
                     "inputs[0]: no \"data\" (nor \"parameters\": {\"binary_data_size\"})");
  if (h->binary_header && len > json_len)
    return api__fail(err, 400,
                     "%zu bytes after the JSON but no input names them with binary_data_size",
                     len - json_len);
  if (in.data_kind != JP_ARRAY) return api__fail(err, 400, "inputs[0]: \"data\" must be an array");
  if (nf == 0 ? in.data_leaves != 0 : n > SIZE_MAX / nf || in.data_leaves != n * nf)
    return api__fail(err, 400, "inputs[0]: shape [%zu, %u] needs %zu values, \"data\" has %zu", n,
                     nf, nf != 0 && n <= SIZE_MAX / nf ? n * nf : (size_t)0, in.data_leaves);
  if (api__alloc_rows(n, forest, limits, req, err) != 0) return -1;
  fill.rows = req->rows;
  return v2_fill(&fill, body, json_len, in.data_at);
}

int api__oip_decode_infer(const char *body, size_t len, size_t json_len,
                          const grove_forest_t *forest, const api_limits_t *limits,
                          api_request_t *req, api_error_t *err) {
  if (json_len > len)
    return api__fail(err, 400,
                     "Inference-Header-Content-Length is %zu but the body has only %zu bytes",
                     json_len, len);
  const size_t jlen = json_len ? json_len : len;
  v2_header_t h;
  if (read_header(body, jlen, &h, req, err) != 0) return -1;
  h.binary_header = json_len > 0;
  return v2_decode_input(body, len, jlen, &h, forest, limits, req, err);
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
