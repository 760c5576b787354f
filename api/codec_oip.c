/*
 * The Open Inference Protocol v2 (KServe / Triton REST) infer request and answer, with
 * Triton's binary tensor extension. The JSON header is read with the strict pull reader
 * (json_pull.h: one pass checks it whole and notes where things are, nothing is built);
 * tensor data is then read where it lies, as JSON values or as the little-endian bytes
 * after the header.
 *
 * A request holds either one tensor of shape [rows, F] (any name), or one tensor per feature
 * named after it, of shape [rows] or [rows, 1] (MLServer's and KServe's pandas codec, which
 * sends strings as BYTES and mixes datatypes), or, with Inference-Header-Content-Length: 0,
 * no JSON at all: the body is one FP32 tensor [rows, F] (Triton's raw binary request).
 * Outputs are asked for by the names other servers give them (api.h's api_output_kind_t).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "codecs.h"
#include "json_pull.h"

#define CONTENT_TYPE_JSON   "application/json"
#define CONTENT_TYPE_BINARY "application/octet-stream"

/* ------------------------------------------------------------------------- */
/* Datatypes and outputs                                                      */

typedef enum { DT_FLOAT, DT_INT, DT_UINT, DT_BOOL, DT_BYTES } dt_kind_t;

typedef struct {
  const char *name;
  dt_kind_t kind;
  uint8_t size; /* bytes an element takes in binary (BYTES: its length prefix) */
} v2_dtype_t;

static const v2_dtype_t v2_dtypes[] = {
    {"FP32", DT_FLOAT, 4}, {"FP64", DT_FLOAT, 8},  {"FP16", DT_FLOAT, 2},  {"BF16", DT_FLOAT, 2},
    {"INT8", DT_INT, 1},   {"INT16", DT_INT, 2},   {"INT32", DT_INT, 4},   {"INT64", DT_INT, 8},
    {"UINT8", DT_UINT, 1}, {"UINT16", DT_UINT, 2}, {"UINT32", DT_UINT, 4}, {"UINT64", DT_UINT, 8},
    {"BOOL", DT_BOOL, 1},  {"BYTES", DT_BYTES, 4},
};
#define DTYPE_LIST "FP16, BF16, FP32, FP64, INT8..INT64, UINT8..UINT64, BOOL or BYTES"

static const char *const output_names[API_OUT_KINDS] = {[API_OUT_PREDICT] = "predict",
                                                        [API_OUT_PROBA] = "predict_proba",
                                                        [API_OUT_OUTPUT0] = "output__0",
                                                        [API_OUT_CONTRIBS] = "contributions",
                                                        [API_OUT_LEAVES] = "leaves"};

static const v2_dtype_t *find_dtype(const char *name) {
  for (size_t i = 0; i < sizeof v2_dtypes / sizeof v2_dtypes[0]; i++)
    if (strcmp(name, v2_dtypes[i].name) == 0) return &v2_dtypes[i];
  return NULL;
}

/* ------------------------------------------------------------------------- */
/* The header                                                                 */

/* What the header says of one input tensor, as read (checked later); a kind of JP_DONE is a
 * member that is absent. */
typedef struct {
  int is_object;
  jp_kind_t name_kind, dtype_kind, shape_kind, params_kind, size_kind, data_kind;
  char name[128]; /* the name, NUL-terminated; NAME_CUT when it did not fit */
  int name_cut;
  char dtype[16];    /* the datatype's text, cut */
  size_t shape_rank; /* elements of "shape" */
  int shape_bad;     /* index + 1 of the first shape element that is not a count */
  uint64_t dims[2];  /* the last two of them */
  jp_number_t size;  /* parameters.binary_data_size */
  size_t data_at, data_leaves;
  size_t bin_at;     /* where its binary data starts after the header (binary inputs) */
  int shared_memory; /* parameters.shared_memory_*: Triton's shared-memory extension */
  int json_elements; /* parameters.content_type "pd_json": BYTES elements are JSON texts */
} v2_input_t;

/* One output as asked; binary is -1 until decided. */
typedef struct {
  int kind, binary;
} asked_output_t;

/* Everything the header says, as read; semantic errors wait until it is known valid. */
typedef struct {
  size_t inputs_at, ninputs;
  jp_kind_t inputs_kind;
  int binary_output; /* parameters.binary_data_output */
  asked_output_t outputs[API_OUT_KINDS];
  uint32_t noutputs;
  api_error_t first; /* the first semantic error met while reading */
} v2_header_t;

/* Notes an error (unless an earlier one was noted) and returns -1. */
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

/* A member's word (one of choice C's two) at J into REQ, or a noted error. */
static void read_choice(jp_t *j, v2_header_t *h, const api_v1_choice_t *c, api_request_t *req) {
  char word[16] = "";
  jp_kind_t k = j->kind;
  if (k == JP_STRING && jp_string(j, word, sizeof word) == SIZE_MAX) word[0] = '\0';
  jp_skip(j, NULL, NULL);
  api_error_t e;
  if (api__v1_choice(c, k == JP_STRING ? word : NULL, req, &e) != 0)
    note(h, 400, "parameters: %s", e.message);
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

/* Consumes the value at J, noting an error when it is not an object. */
static int expect_object(jp_t *j, v2_header_t *h, const char *what) {
  if (j->kind == JP_OBJECT) return 1;
  jp_kind_t k = j->kind;
  jp_skip(j, NULL, NULL);
  note(h, 400, "%s must be an object, got %s", what, jp_kind_name(k));
  return 0;
}

typedef struct {
  v2_header_t *h;
  api_request_t *req;
} top_ctx_t;

static void on_params_member(jp_t *j, const char *key, void *ctx) {
  top_ctx_t *c = ctx;
  if (strcmp(key, "binary_data_output") == 0)
    read_bool(j, c->h, "parameters: ", key, &c->h->binary_output);
  else if (strcmp(key, "margin") == 0)
    read_bool(j, c->h, "parameters: ", key, &c->req->margin);
  else if (strcmp(key, "unknown_categories") == 0)
    read_choice(j, c->h, &api__v1_choices[1], c->req);
  else
    jp_skip(j, NULL, NULL);
}

typedef struct {
  v2_header_t *h;
  size_t index;
  int named, binary;
  char name[64];
} output_ctx_t;

static void on_output_params_member(jp_t *j, const char *key, void *ctx) {
  output_ctx_t *c = ctx;
  char where[48];
  snprintf(where, sizeof where, "outputs[%zu].parameters: ", c->index);
  /* Triton names it binary_data; binary_data_output, the request-level name, is read too. */
  if (strcmp(key, "binary_data") == 0 || strcmp(key, "binary_data_output") == 0) {
    int v = 0;
    read_bool(j, c->h, where, key, &v);
    c->binary = v;
  } else if (strcmp(key, "classification") == 0 || strncmp(key, "shared_memory_", 14) == 0) {
    jp_skip(j, NULL, NULL);
    note(c->h, 400, "%s\"%s\": Triton's %s extension is not supported", where, key,
         key[0] == 'c' ? "classification" : "shared-memory");
  } else {
    jp_skip(j, NULL, NULL);
  }
}

static void on_output_member(jp_t *j, const char *key, void *ctx) {
  output_ctx_t *c = ctx;
  if (strcmp(key, "parameters") == 0) {
    char what[48];
    snprintf(what, sizeof what, "outputs[%zu].\"parameters\"", c->index);
    if (expect_object(j, c->h, what)) each_member(j, on_output_params_member, c);
  } else if (strcmp(key, "name") == 0 && j->kind == JP_STRING) {
    if (jp_string(j, c->name, sizeof c->name) == SIZE_MAX) c->name[0] = '\0';
    c->named = 1;
  } else {
    jp_skip(j, NULL, NULL);
  }
}

/* "outputs" at J (already read): null, or an array of {"name", "parameters"} objects. */
static void read_outputs(jp_t *j, v2_header_t *h) {
  if (j->kind == JP_NULL) return;
  if (j->kind != JP_ARRAY) {
    jp_skip(j, NULL, NULL);
    note(h, 400, "\"outputs\" must be an array");
    return;
  }
  size_t i = 0;
  for (jp_kind_t k = jp_next(j); k != JP_ARRAY_END && k > JP_DONE; k = jp_next(j), i++) {
    output_ctx_t c = {h, i, 0, -1, ""};
    if (k != JP_OBJECT || each_member(j, on_output_member, &c) != 0 || !c.named) {
      if (k != JP_OBJECT) jp_skip(j, NULL, NULL);
      note(h, 400, "outputs[%zu]: expected an object with a \"name\"", i);
      continue;
    }
    int kind = -1;
    for (int o = 0; o < API_OUT_KINDS; o++)
      if (strcmp(c.name, output_names[o]) == 0) kind = o;
    if (kind < 0) {
      note(h, 400,
           "outputs[%zu]: unknown output \"%.*s\" (this model answers \"predict\" (labels), "
           "\"predict_proba\" and \"output__0\" (probabilities or values), \"contributions\" "
           "and \"leaves\")",
           i, API_QUOTE_MAX, c.name);
      continue;
    }
    int dup = 0;
    for (uint32_t o = 0; o < h->noutputs; o++) dup |= h->outputs[o].kind == kind;
    if (dup)
      note(h, 400, "outputs[%zu]: \"%s\" is asked for twice", i, c.name);
    else
      h->outputs[h->noutputs++] = (asked_output_t){kind, c.binary};
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

static void on_top_member(jp_t *j, const char *key, void *ctx) {
  top_ctx_t *c = ctx;
  if (strcmp(key, "id") == 0) {
    read_id(j, c->h, c->req);
  } else if (strcmp(key, "parameters") == 0) {
    if (expect_object(j, c->h, "\"parameters\"")) each_member(j, on_params_member, c);
  } else if (strcmp(key, "outputs") == 0) {
    read_outputs(j, c->h);
  } else if (strcmp(key, "inputs") == 0) {
    c->h->inputs_at = j->offset;
    c->h->inputs_kind = j->kind;
    jp_skip(j, &c->h->ninputs, NULL);
  } else {
    jp_skip(j, NULL, NULL);
  }
}

/* Reads the header (JSON_LEN bytes of BODY) whole into H and REQ's options; 0, or -1. */
static int read_header(const char *body, size_t json_len, v2_header_t *h, api_request_t *req,
                       api_error_t *err) {
  jp_t j;
  if (api__json_body_start(&j, body, json_len, err) != 0) return -1;
  top_ctx_t c = {h, req};
  if (each_member(&j, on_top_member, &c) != 0 || jp_next(&j) != JP_DONE)
    return api__json_syntax_error(&j, err);
  if (h->first.status != 0) return *err = h->first, -1;
  return 0;
}

static void on_input_params_member(jp_t *j, const char *key, void *ctx) {
  v2_input_t *in = ctx;
  if (strcmp(key, "binary_data_size") == 0) {
    in->size_kind = j->kind;
    if (j->kind == JP_NUMBER) jp_number(j, &in->size);
  }
  in->shared_memory |= strncmp(key, "shared_memory_", 14) == 0;
  if (strcmp(key, "content_type") == 0 && j->kind == JP_STRING) {
    char type[16];
    in->json_elements = jp_string(j, type, sizeof type) != SIZE_MAX && strcmp(type, "pd_json") == 0;
  }
  jp_skip(j, NULL, NULL);
}

static void read_shape(jp_t *j, v2_input_t *in) {
  in->shape_kind = j->kind;
  if (j->kind != JP_ARRAY) {
    jp_skip(j, NULL, NULL);
    return;
  }
  for (jp_kind_t e = jp_next(j); e != JP_ARRAY_END && e > JP_DONE;
       e = jp_next(j), in->shape_rank++) {
    jp_number_t n = {0};
    if (e == JP_NUMBER) jp_number(j, &n);
    if ((e != JP_NUMBER || !n.integral || (n.negative && n.magnitude) || !n.fits) && !in->shape_bad)
      in->shape_bad = (int)in->shape_rank + 1;
    in->dims[0] = in->dims[1];
    in->dims[1] = n.magnitude;
    jp_skip(j, NULL, NULL);
  }
}

static void on_input_member(jp_t *j, const char *key, void *ctx) {
  v2_input_t *in = ctx;
  jp_kind_t k = j->kind;
  if (strcmp(key, "name") == 0) {
    in->name_kind = k;
    if (k == JP_STRING) in->name_cut = jp_string(j, in->name, sizeof in->name) == SIZE_MAX;
  } else if (strcmp(key, "datatype") == 0) {
    in->dtype_kind = k;
    if (k == JP_STRING && jp_string(j, in->dtype, sizeof in->dtype) == SIZE_MAX) in->dtype[0] = '?';
  } else if (strcmp(key, "data") == 0) {
    in->data_kind = k;
    in->data_at = j->offset;
    jp_skip(j, NULL, &in->data_leaves);
    return;
  } else if (strcmp(key, "shape") == 0) {
    read_shape(j, in);
    return;
  } else if (strcmp(key, "parameters") == 0) {
    in->params_kind = k;
    if (k == JP_OBJECT) {
      each_member(j, on_input_params_member, in);
      return;
    }
  }
  jp_skip(j, NULL, NULL);
}

/* The inputs array of the header into INS (N of them, as counted by read_header). */
static void read_inputs(const char *body, size_t json_len, const v2_header_t *h, v2_input_t *ins) {
  jp_t j;
  jp_init_at(&j, body, json_len, h->inputs_at);
  jp_next(&j); /* the array */
  for (size_t i = 0; i < h->ninputs; i++) {
    ins[i].is_object = jp_next(&j) == JP_OBJECT;
    if (ins[i].is_object)
      each_member(&j, on_input_member, &ins[i]);
    else
      jp_skip(&j, NULL, NULL);
  }
}

/* ------------------------------------------------------------------------- */
/* Inputs to rows                                                             */

/* Where values go: the request (rows, options), the model and the schema for names and
 * categories. */
typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  uint32_t nf;
  api_request_t *req;
  api_error_t *err;
  int json_elements; /* the input's BYTES elements are JSON texts (MLServer's "pd_json") */
} fill_t;

/* The element of datatype DT at P (binary, little-endian) as a double; NaN for a NaN. */
static double binary_number(const v2_dtype_t *dt, const unsigned char *p) {
  uint64_t bits = 0;
  for (unsigned i = 0; i < dt->size; i++) bits |= (uint64_t)p[i] << (8 * i);
  switch (dt->kind) {
    case DT_BOOL:
      return bits ? 1.0 : 0.0;
    case DT_UINT:
      return (double)(float)bits;
    case DT_INT: {
      unsigned shift = 64 - 8u * dt->size;
      return (double)(float)((int64_t)(bits << shift) >> shift); /* sign-extended */
    }
    default:
      break;
  }
  if (dt->size == 8) {
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
  }
  uint32_t b32 = (uint32_t)bits;
  if (dt->size == 2 && strcmp(dt->name, "BF16") == 0) {
    b32 <<= 16;               /* bfloat16 is a float32's upper half */
  } else if (dt->size == 2) { /* IEEE half */
    uint32_t sign = (b32 & 0x8000u) << 16, exp = (b32 >> 10) & 0x1f, man = b32 & 0x3ff;
    float mag = exp == 0    ? ldexpf((float)man, -24)
                : exp == 31 ? (man ? NAN : INFINITY)
                            : ldexpf((float)(man | 0x400), (int)exp - 25);
    float f;
    memcpy(&b32, &mag, sizeof b32);
    b32 |= sign;
    memcpy(&f, &b32, sizeof f);
    return f;
  }
  float f;
  memcpy(&f, &b32, sizeof f);
  return f;
}

/* A number D for feature LOC->feature: a value, or for a categorical feature a code. Numeric
 * datatypes' NaN is missing (JSON's null is handled by the caller). */
static int put_number(fill_t *f, double d, const api_loc_t *loc, float *dst) {
  if (isnan(d)) return 0;
  return api__put_feature_number(d, f->forest, f->schema, loc, dst, f->err);
}

/* A BYTES element S: its text, or with f->json_elements the JSON value it holds (MLServer's
 * pandas codec writes a column of mixed values so: "\"Private\"", "42", "null"). */
static int put_string(fill_t *f, const char *s, size_t len, const api_loc_t *loc, float *dst) {
  if (!f->json_elements)
    return api__put_text(s, len, f->forest, f->schema, f->req->unknown_missing, loc, dst, f->err);
  jp_t j;
  jp_init(&j, s, len);
  jp_kind_t k = jp_next(&j);
  jp_number_t n = {0};
  if (k == JP_NUMBER) jp_number(&j, &n);
  if (k > JP_DONE) jp_skip(&j, NULL, NULL);
  if (k <= JP_DONE || jp_next(&j) != JP_DONE || k == JP_ARRAY || k == JP_OBJECT)
    return api__fail(f->err, 400,
                     "%s %zu: a \"pd_json\" element must be one JSON string, number, "
                     "boolean or null",
                     loc->what, loc->index);
  if (k == JP_NULL) return 0;
  if (k == JP_TRUE || k == JP_FALSE) return put_number(f, k == JP_TRUE, loc, dst);
  if (k == JP_NUMBER) return put_number(f, n.d, loc, dst);
  jp_init(&j, s, len);
  jp_next(&j);
  char small[256], *heap;
  size_t text_len;
  const char *text = api__json_text(&j, small, sizeof small, &heap, &text_len);
  int rc = text == NULL ? api__fail(f->err, 500, "out of memory")
                        : api__put_text(text, text_len, f->forest, f->schema,
                                        f->req->unknown_missing, loc, dst, f->err);
  free(heap);
  return rc;
}

/* The JSON value at J (a scalar of DT's data) into *DST for the feature at LOC. */
static int put_json(fill_t *f, const v2_dtype_t *dt, const jp_t *j, const api_loc_t *loc,
                    float *dst) {
  char name[API_QUOTE_MAX + 16];
  const char *fname = api__feature_label(f->forest, f->schema, loc->feature, name, sizeof name);
  jp_number_t n = {0};
  if (j->kind == JP_NUMBER) jp_number(j, &n);
  if (j->kind == JP_NUMBER && n.integral && !n.fits)
    return api__fail(f->err, 400, "row %zu, feature '%s': integer out of range", loc->index, fname);
  switch (dt->kind) {
    case DT_BOOL:
      if (j->kind == JP_TRUE || j->kind == JP_FALSE)
        return put_number(f, j->kind == JP_TRUE, loc, dst);
      if (j->kind == JP_NUMBER && n.integral && n.magnitude <= 1)
        return put_number(f, (double)n.magnitude, loc, dst);
      return api__fail(f->err, 400,
                       "row %zu, feature '%s': BOOL data must be true, false, 0 or 1, got %s",
                       loc->index, fname, jp_kind_name(j->kind));
    case DT_FLOAT:
      if (j->kind == JP_NULL) return 0; /* missing */
      if (j->kind == JP_NUMBER)
        return api__put_feature_number(n.d, f->forest, f->schema, loc, dst, f->err);
      return api__fail(f->err, 400,
                       "row %zu, feature '%s': %s data must be numbers (or null), got %s",
                       loc->index, fname, dt->name, jp_kind_name(j->kind));
    case DT_INT:
    case DT_UINT: {
      if (j->kind != JP_NUMBER || !n.integral)
        return api__fail(f->err, 400, "row %zu, feature '%s': %s data must be integers, got %s",
                         loc->index, fname, dt->name,
                         j->kind == JP_NUMBER ? "a fraction" : jp_kind_name(j->kind));
      /* The largest magnitude each sign may have (json-c's clamped ends stay refused at 64 bits).
       */
      const unsigned bits = dt->size * 8u;
      const uint64_t pos_max = dt->kind == DT_UINT
                                   ? (bits == 64 ? UINT64_MAX - 1 : ((uint64_t)1 << bits) - 1)
                                   : ((uint64_t)1 << (bits - 1)) - 1 - (bits == 64);
      const uint64_t neg_max = dt->kind == DT_UINT ? 0 : ((uint64_t)1 << (bits - 1)) - (bits == 64);
      if (n.magnitude > (n.negative ? neg_max : pos_max))
        return api__fail(f->err, 400, "row %zu, feature '%s': value out of %s range", loc->index,
                         fname, dt->name);
      return put_number(f, n.d, loc, dst);
    }
    case DT_BYTES: {
      if (j->kind == JP_NULL) return 0;
      if (j->kind != JP_STRING)
        return api__fail(f->err, 400, "row %zu, feature '%s': BYTES data must be strings, got %s",
                         loc->index, fname, jp_kind_name(j->kind));
      char small[256], *heap;
      size_t len;
      const char *s = api__json_text(j, small, sizeof small, &heap, &len);
      int rc =
          s == NULL ? api__fail(f->err, 500, "out of memory") : put_string(f, s, len, loc, dst);
      free(heap);
      return rc;
    }
  }
  return -1;
}

/* Every scalar of the JSON "data" at OFFSET of BODY (flat or nested) in order: element e goes
 * to rows[e / per_row * stride ...]: row e / PER_ROW, feature FIRST + e % PER_ROW. */
static int fill_json(fill_t *f, const v2_dtype_t *dt, const char *body, size_t len, size_t offset,
                     uint32_t first, uint32_t per_row) {
  jp_t j;
  jp_init_at(&j, body, len, offset);
  jp_next(&j); /* the array */
  size_t e = 0;
  for (int depth = 1; depth > 0;) {
    jp_kind_t k = jp_next(&j);
    if (k == JP_ARRAY) {
      depth++;
    } else if (k == JP_ARRAY_END) {
      depth--;
    } else if (k <= JP_DONE) {
      return api__fail(f->err, 400, "malformed \"data\"");
    } else {
      api_loc_t loc = {"row", e / per_row, first + (uint32_t)(e % per_row), f->req};
      if (put_json(f, dt, &j, &loc, &f->req->rows[loc.index * f->nf + loc.feature]) != 0) return -1;
      if (k == JP_OBJECT) jp_skip(&j, NULL, NULL);
      e++;
    }
  }
  return 0;
}

/* The same from N binary elements at P (SIZE bytes: BYTES elements carry their lengths). */
static int fill_binary(fill_t *f, const v2_dtype_t *dt, const unsigned char *p, size_t size,
                       size_t n, uint32_t first, uint32_t per_row) {
  const unsigned char *end = p + size;
  for (size_t e = 0; e < n; e++) {
    api_loc_t loc = {"row", e / per_row, first + (uint32_t)(e % per_row), f->req};
    float *dst = &f->req->rows[loc.index * f->nf + loc.feature];
    if (dt->kind != DT_BYTES) {
      if (put_number(f, binary_number(dt, p), &loc, dst) != 0) return -1;
      p += dt->size;
      continue;
    }
    uint32_t len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if ((size_t)(end - p - 4) < len)
      return api__fail(f->err, 400, "row %zu: a BYTES element of %u bytes runs past its tensor",
                       loc.index, len);
    if (put_string(f, (const char *)p + 4, len, &loc, dst) != 0) return -1;
    p += 4 + len;
  }
  return 0;
}

/* The bytes N elements of a BYTES tensor at P take (length prefixes included), or SIZE_MAX
 * when they run past END. */
static size_t bytes_tensor_size(const unsigned char *p, const unsigned char *end, size_t n) {
  const unsigned char *start = p;
  for (size_t e = 0; e < n; e++) {
    if (end - p < 4) return SIZE_MAX;
    uint32_t len =
        (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    if ((size_t)(end - p - 4) < len) return SIZE_MAX;
    p += 4 + len;
  }
  return (size_t)(p - start);
}

/* Checks input I's name, datatype and data presence; *DT gets its datatype. */
static int check_input_common(const v2_input_t *in, size_t i, const v2_dtype_t **dt,
                              api_error_t *err) {
  if (!in->is_object) return api__fail(err, 400, "inputs[%zu] must be an object", i);
  if (in->name_kind != JP_STRING)
    return api__fail(err, 400, "inputs[%zu]: \"name\" must be a string", i);
  if (in->dtype_kind != JP_STRING)
    return api__fail(err, 400, "inputs[%zu]: \"datatype\" must be a string such as \"FP32\"", i);
  if ((*dt = find_dtype(in->dtype)) == NULL)
    return api__fail(err, 400, "inputs[%zu]: unsupported datatype \"%s\" (" DTYPE_LIST ")", i,
                     in->dtype);
  if (in->shape_kind != JP_ARRAY)
    return api__fail(err, 400, "inputs[%zu]: \"shape\" must be an array", i);
  if (in->shape_bad)
    return api__fail(err, 400, "inputs[%zu]: shape[%d] must be a non-negative integer", i,
                     in->shape_bad - 1);
  if (in->params_kind != JP_DONE && in->params_kind != JP_OBJECT)
    return api__fail(err, 400, "inputs[%zu]: \"parameters\" must be an object", i);
  if (in->shared_memory)
    return api__fail(err, 400,
                     "inputs[%zu]: Triton's shared-memory extension is not supported; send "
                     "\"data\" or binary data",
                     i);
  if (in->size_kind != JP_DONE &&
      (in->size_kind != JP_NUMBER || !in->size.integral || in->size.negative || !in->size.fits))
    return api__fail(err, 400, "inputs[%zu]: \"binary_data_size\" must be a non-negative integer",
                     i);
  if (in->size_kind != JP_DONE && in->data_kind != JP_DONE)
    return api__fail(err, 400, "inputs[%zu]: give \"data\" or \"binary_data_size\", not both", i);
  if (in->size_kind == JP_DONE && in->data_kind == JP_DONE)
    return api__fail(err, 400,
                     "inputs[%zu]: no \"data\" (nor \"parameters\": {\"binary_data_size\"})", i);
  if (in->data_kind != JP_DONE && in->data_kind != JP_ARRAY)
    return api__fail(err, 400, "inputs[%zu]: \"data\" must be an array", i);
  return 0;
}

/* Where each binary input's bytes start after the header, checked against BIN_LEN. */
static int place_binary(v2_input_t *ins, size_t n, int binary_header, size_t bin_len,
                        api_error_t *err) {
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    if (ins[i].size_kind == JP_DONE) continue;
    if (!binary_header)
      return api__fail(
          err, 400,
          "inputs[%zu]: \"binary_data_size\" needs the Inference-Header-Content-Length "
          "header (the JSON's length) and the tensor bytes after the JSON",
          i);
    uint64_t size = ins[i].size.magnitude;
    if (size > bin_len - at)
      return api__fail(err, 400,
                       "inputs[%zu]: binary_data_size is %llu bytes, only %zu follow the JSON", i,
                       (unsigned long long)size, bin_len - at);
    ins[i].bin_at = at;
    at += (size_t)size;
  }
  if (at < bin_len) {
    int any = at > 0;
    return any ? api__fail(err, 400,
                           "%zu bytes after the tensors (the JSON is "
                           "Inference-Header-Content-Length bytes)",
                           bin_len - at)
               : api__fail(err, 400,
                           "%zu bytes after the JSON but no input names them with binary_data_size",
                           bin_len - at);
  }
  return 0;
}

/* Input IN's elements (N of them) from its JSON data or binary bytes into columns FIRST.. of
 * f->req->rows, PER_ROW of them per row. */
static int fill_input(fill_t *f, const v2_input_t *in, size_t i, const v2_dtype_t *dt, size_t n,
                      uint32_t first, uint32_t per_row, const char *body, size_t json_len,
                      const unsigned char *bin) {
  f->json_elements = in->json_elements;
  if (in->data_kind != JP_DONE) {
    if (in->data_leaves != n)
      return api__fail(f->err, 400, "inputs[%zu]: its shape needs %zu values, \"data\" has %zu", i,
                       n, in->data_leaves);
    return fill_json(f, dt, body, json_len, in->data_at, first, per_row);
  }
  size_t size = (size_t)in->size.magnitude;
  size_t want = dt->kind == DT_BYTES
                    ? bytes_tensor_size(bin + in->bin_at, bin + in->bin_at + size, n)
                    : (n <= SIZE_MAX / dt->size ? n * dt->size : SIZE_MAX);
  if (want == SIZE_MAX)
    return api__fail(
        f->err, 400,
        "inputs[%zu]: binary_data_size is %zu bytes, too few for its shape's %zu %s elements", i,
        size, n, dt->name);
  if (want != size)
    return api__fail(f->err, 400,
                     "inputs[%zu]: binary_data_size is %zu bytes, its shape and %s need %zu", i,
                     size, dt->name, want);
  return fill_binary(f, dt, bin + in->bin_at, size, n, first, per_row);
}

/* The request's one tensor [rows, F] (or [F]: one row). */
static int decode_tensor(fill_t *f, const v2_input_t *in, const char *body, size_t json_len,
                         const unsigned char *bin, const api_limits_t *limits, api_request_t *req) {
  const v2_dtype_t *dt = NULL;
  const uint32_t nf = f->nf;
  if (check_input_common(in, 0, &dt, f->err) != 0) return -1;
  if (in->shape_rank != 1 && in->shape_rank != 2)
    return api__fail(f->err, 400,
                     "inputs[0]: shape has %zu dimensions; expected [rows, %u] or [%u]",
                     in->shape_rank, nf, nf);
  uint64_t rows = in->shape_rank == 2 ? in->dims[0] : 1, cols = in->dims[1];
  if (cols != nf)
    return api__fail(f->err, 400, "inputs[0]: shape has %llu features per row, the model has %u",
                     (unsigned long long)cols, nf);
  if (rows > SIZE_MAX / (nf ? nf : 1)) return api__fail(f->err, 413, "inputs[0]: too many rows");
  if (in->data_kind != JP_DONE && in->data_leaves != rows * nf)
    return api__fail(f->err, 400, "inputs[0]: shape [%llu, %u] needs %llu values, \"data\" has %zu",
                     (unsigned long long)rows, nf, (unsigned long long)(rows * nf),
                     in->data_leaves);
  if (api__alloc_rows((size_t)rows, f->forest, limits, req, f->err) != 0) return -1;
  return fill_input(f, in, 0, dt, (size_t)(rows * nf), 0, nf, body, json_len, bin);
}

/* One tensor per feature, named after it, each of shape [rows] or [rows, 1]. */
static int decode_columns(fill_t *f, const v2_input_t *ins, size_t n, const char *body,
                          size_t json_len, const unsigned char *bin, const api_limits_t *limits,
                          api_request_t *req) {
  const uint32_t nf = f->nf;
  int32_t *feature_of = malloc(n * sizeof *feature_of);
  uint8_t *given = calloc(nf ? nf : 1, 1);
  const v2_dtype_t **dts = malloc(n * sizeof *dts);
  int rc = feature_of && given && dts ? 0 : api__fail(f->err, 500, "out of memory");
  uint64_t rows = 0;
  char list[160];
  for (size_t i = 0; rc == 0 && i < n; i++) {
    const v2_input_t *in = &ins[i];
    if ((rc = check_input_common(in, i, &dts[i], f->err)) != 0) break;
    feature_of[i] =
        in->name_cut ? -1 : api__feature_lookup(f->forest, f->schema, in->name, strlen(in->name));
    if (feature_of[i] < 0)
      rc = api__fail(f->err, 400, "inputs[%zu]: no feature is named \"%.*s\" (features: %s)", i,
                     API_QUOTE_MAX, in->name,
                     api__feature_list(f->forest, f->schema, list, sizeof list));
    else if (given[feature_of[i]]++)
      rc = api__fail(f->err, 400, "inputs[%zu]: feature \"%.*s\" is given twice", i, API_QUOTE_MAX,
                     in->name);
    else if (in->shape_rank != 1 && !(in->shape_rank == 2 && in->dims[1] == 1))
      rc = api__fail(f->err, 400,
                     "inputs[%zu] (\"%.*s\"): one input per feature has shape [rows] or [rows, 1]",
                     i, API_QUOTE_MAX, in->name);
    else if (i > 0 && in->dims[in->shape_rank == 2 ? 0 : 1] != rows)
      rc = api__fail(f->err, 400, "inputs[%zu] (\"%.*s\"): %llu rows, inputs[0] has %llu", i,
                     API_QUOTE_MAX, in->name,
                     (unsigned long long)in->dims[in->shape_rank == 2 ? 0 : 1],
                     (unsigned long long)rows);
    else
      rows = in->dims[in->shape_rank == 2 ? 0 : 1];
  }
  if (rc == 0 && n < nf) {
    size_t used = 0;
    for (uint32_t j = 0; j < nf && used + 8 < sizeof list; j++) {
      if (given[j]) continue;
      char name[API_QUOTE_MAX + 16];
      int w = snprintf(list + used, sizeof list - used, "%s'%s'", used ? ", " : "",
                       api__feature_label(f->forest, f->schema, j, name, sizeof name));
      used += w > 0 && (size_t)w < sizeof list - used ? (size_t)w : 0;
    }
    rc = api__fail(f->err, 400, "no input for %u of the model's %u features: %s", nf - (uint32_t)n,
                   nf, list);
  }
  if (rc == 0 && rows > SIZE_MAX / (nf ? nf : 1)) rc = api__fail(f->err, 413, "too many rows");
  if (rc == 0) rc = api__alloc_rows((size_t)rows, f->forest, limits, req, f->err);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = fill_input(f, &ins[i], i, dts[i], (size_t)rows, (uint32_t)feature_of[i], 1, body, json_len,
                    bin);
  free(feature_of);
  free(given);
  free(dts);
  return rc;
}

/* Whether the inputs are the columns of the rows, one per feature, rather than one tensor. */
static int by_feature(const fill_t *f, const v2_input_t *ins, size_t n) {
  if (n != 1) return 1;
  const v2_input_t *in = &ins[0];
  int named = in->name_kind == JP_STRING && !in->name_cut &&
              api__feature_lookup(f->forest, f->schema, in->name, strlen(in->name)) >= 0;
  /* A lone input shaped like the whole tensor ([rows, F] or [F]) is that tensor, whatever its
   * name (with one feature both readings agree). */
  return named && !((in->shape_rank == 2 || in->shape_rank == 1) && in->dims[1] == f->nf);
}

/* The header's outputs into REQ: binary as asked per output, else as the request says. */
static void set_outputs(const v2_header_t *h, api_request_t *req) {
  req->binary_output = h->binary_output;
  req->noutputs = h->noutputs;
  for (uint32_t o = 0; o < h->noutputs; o++) {
    req->outputs[o] = (api_output_t){
        (uint8_t)h->outputs[o].kind,
        (uint8_t)(h->outputs[o].binary >= 0 ? h->outputs[o].binary : h->binary_output)};
    /* Explanations are computed only when an output asks for them. */
    req->explain |= h->outputs[o].kind == API_OUT_CONTRIBS;
    req->leaves |= h->outputs[o].kind == API_OUT_LEAVES;
  }
}

/* A raw binary request: the whole body is one FP32 tensor [rows, F]. */
static int decode_raw(fill_t *f, const char *body, size_t len, const api_limits_t *limits,
                      api_request_t *req) {
  const size_t row_bytes = (size_t)f->nf * 4;
  if (row_bytes == 0 || len == 0 || len % row_bytes != 0)
    return api__fail(
        f->err, 400,
        "a raw binary request (Inference-Header-Content-Length: 0) is rows of %u little-endian "
        "float32 values (%zu bytes each); the body has %zu bytes",
        f->nf, row_bytes, len);
  if (api__alloc_rows(len / row_bytes, f->forest, limits, req, f->err) != 0) return -1;
  static const v2_dtype_t fp32 = {"FP32", DT_FLOAT, 4};
  return fill_binary(f, &fp32, (const unsigned char *)body, len, len / 4, 0, f->nf);
}

int api__oip_decode_infer(const char *body, size_t len, size_t json_len,
                          const grove_forest_t *forest, const grove_schema_t *schema,
                          const api_limits_t *limits, api_request_t *req, api_error_t *err) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  fill_t f = {forest, schema, info.num_features, req, err, 0};
  if (json_len == 0) return decode_raw(&f, body, len, limits, req);
  const int binary_header = json_len != API_OIP_NO_HEADER;
  const size_t jlen = binary_header ? json_len : len;
  if (jlen > len)
    return api__fail(err, 400,
                     "Inference-Header-Content-Length is %zu but the body has only %zu bytes", jlen,
                     len);
  v2_header_t h = {0};
  if (read_header(body, jlen, &h, req, err) != 0) return -1;
  set_outputs(&h, req);
  if (h.inputs_kind != JP_ARRAY)
    return api__fail(err, 400,
                     "expected \"inputs\": one tensor [{\"name\", \"shape\": [rows, %u], "
                     "\"datatype\", \"data\"}], "
                     "or one per feature",
                     f.nf);
  if (h.ninputs == 0 || h.ninputs > (f.nf > 1 ? f.nf : 1))
    return api__fail(
        err, 400,
        "expected one input tensor of shape [rows, %u], or one input per feature (%u), got %zu",
        f.nf, f.nf, h.ninputs);
  v2_input_t *ins = calloc(h.ninputs, sizeof *ins);
  if (ins == NULL) return api__fail(err, 500, "out of memory");
  read_inputs(body, jlen, &h, ins);
  const unsigned char *bin = (const unsigned char *)body + jlen;
  int rc = place_binary(ins, h.ninputs, binary_header, len - jlen, err);
  if (rc == 0)
    rc = by_feature(&f, ins, h.ninputs)
             ? decode_columns(&f, ins, h.ninputs, body, jlen, bin, limits, req)
             : decode_tensor(&f, &ins[0], body, jlen, bin, limits, req);
  free(ins);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* The answer                                                                 */

/* The outputs an answer carries: those asked for, else predict and predict_proba for
 * classifiers (predict alone for the others, where both hold the values). */
static uint32_t answer_outputs(const api_answer_t *a, api_output_t *outs) {
  const api_request_t *req = a->req;
  if (req->noutputs > 0) {
    memcpy(outs, req->outputs, req->noutputs * sizeof *outs);
    return req->noutputs;
  }
  uint8_t bin = (uint8_t)req->binary_output;
  outs[0] = (api_output_t){API_OUT_PREDICT, bin};
  if (!a->labels) return 1;
  outs[1] = (api_output_t){API_OUT_PROBA, bin};
  return 2;
}

/* What an output holds per row. */
typedef struct {
  int labels;      /* class labels (else numbers) */
  int pairs;       /* a binary classifier's [P(class 0), P(class 1)] from its one probability */
  uint32_t cols;   /* elements per row */
  uint32_t groups; /* >1: a row is [groups, cols / groups] (multi-class contributions) */
  int kind;        /* api_output_kind_t: contributions and leaves are read from the request */
  const char *datatype;
} output_form_t;

/* Output KIND's form in A's answer: predict holds a classifier's labels (BYTES: the schema's
 * label strings, else INT64 class indices), the others probabilities or values. A binary
 * classifier's probabilities come as scikit-learn's predict_proba gives them (and so
 * MLServer and Triton's tree backend): two columns, unless margins were asked for. */
static output_form_t output_form(const api_answer_t *a, int kind) {
  /* Contributions as FP32, as the v1 msgpack answer gives them: [n, F + 1], or
   * [n, groups, F + 1] for multi-class models; leaves as INT32 [n, trees]. */
  if (kind == API_OUT_CONTRIBS)
    return (output_form_t){0,    0,     a->num_groups * (a->num_features + 1), a->num_groups,
                           kind, "FP32"};
  if (kind == API_OUT_LEAVES) return (output_form_t){0, 0, a->num_trees, 1, kind, "INT32"};
  if (kind == API_OUT_PREDICT && a->labels) {
    int strings = a->schema != NULL && a->schema->num_labels > 0;
    return (output_form_t){1, 0, a->label_columns, 1, kind, strings ? "BYTES" : "INT64"};
  }
  grove_forest_info_t info;
  grove_forest_get_info(a->forest, &info);
  if (kind != API_OUT_PREDICT && info.task == GROVE_TASK_BINARY && a->width == 1 && !a->req->margin)
    return (output_form_t){0, 1, 2, 1, kind, "FP32"};
  return (output_form_t){0, 0, a->width, 1, kind, "FP32"};
}

void api__oip_output_meta(const grove_forest_t *forest, const grove_schema_t *schema, int kind,
                          api_oip_output_meta_t *out) {
  api_request_t req = {.labels = 1};
  api_answer_t a;
  api__answer_init(&a, NULL, forest, schema, &req, NULL);
  output_form_t form = output_form(&a, kind);
  out->name = output_names[kind];
  out->datatype = form.datatype;
  out->columns = form.groups > 1 ? form.cols / form.groups : form.cols;
  out->groups = form.groups;
}

/* Number E of an output of form F (not labels; leaves are read with leaf_at). */
static float number_at(const api_answer_t *a, const output_form_t *f, size_t e) {
  if (f->kind == API_OUT_CONTRIBS) return (float)a->req->contribs[e];
  if (!f->pairs) return a->out[e];
  float p = a->out[e / 2];
  return e % 2 ? p : 1.0f - p;
}

/* Label E's text (a schema's label; "" for a row without one), or NULL for class indices. */
static const char *label_text(const api_answer_t *a, const output_form_t *f, size_t e, int32_t *k) {
  *k = api__answer_label(a, e / f->cols, (uint32_t)(e % f->cols));
  if (f->datatype[0] != 'B') return NULL;
  return *k >= 0 && (uint32_t)*k < a->schema->num_labels ? a->schema->labels[*k] : "";
}

static void put_le32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Element E of an output of form F: its JSON text into B. */
static void put_json_element(api_buf_t *b, const api_answer_t *a, const output_form_t *f,
                             size_t e) {
  if (f->kind == API_OUT_LEAVES) return api_buf_printf(b, "%u", a->req->leaf_ids[e]);
  if (!f->labels) return api_buf_json_float(b, number_at(a, f, e));
  int32_t k;
  const char *s = label_text(a, f, e, &k);
  if (s == NULL) return api_buf_printf(b, "%d", k);
  api_buf_json_string(b, s, strlen(s));
}

/* Element E of an output of form F as Triton's binary data into B: float32, int64, or a
 * BYTES element (its 4-byte length, then its bytes). */
static void put_binary_element(api_buf_t *b, const api_answer_t *a, const output_form_t *f,
                               size_t e) {
  unsigned char word[8];
  if (f->kind == API_OUT_LEAVES) { /* INT32: leaf indexes are far below 2^31 */
    put_le32(word, a->req->leaf_ids[e]);
    return api_buf_put(b, word, 4);
  }
  if (!f->labels) {
    float v = number_at(a, f, e);
    uint32_t bits;
    memcpy(&bits, &v, 4);
    put_le32(word, bits);
    return api_buf_put(b, word, 4);
  }
  int32_t k;
  const char *s = label_text(a, f, e, &k);
  if (s == NULL) {
    uint64_t v = (uint64_t)(int64_t)k;
    for (int i = 0; i < 8; i++) word[i] = (unsigned char)(v >> (8 * i));
    return api_buf_put(b, word, 8);
  }
  put_le32(word, (uint32_t)strlen(s));
  api_buf_put(b, word, 4);
  api_buf_put(b, s, strlen(s));
}

/* The bytes COUNT elements of an output of form F take as binary data. */
static size_t binary_size(const api_answer_t *a, const output_form_t *f, size_t count) {
  if (!f->labels) return count * 4;
  if (f->datatype[0] != 'B') return count * 8;
  size_t size = 0;
  for (size_t e = 0; e < count; e++) {
    int32_t k;
    size += 4 + strlen(label_text(a, f, e, &k));
  }
  return size;
}

int api__oip_encode_infer(const api_answer_t *a, api_body_t *body) {
  const api_request_t *req = a->req;
  api_output_t outs[API_OUT_KINDS];
  output_form_t forms[API_OUT_KINDS];
  const uint32_t nouts = answer_outputs(a, outs);
  /* Elements per row over every output: a classifier's few, plus any explanations (their
   * size bounded by limits.max_explain_values when decoded). */
  size_t per_row = 0;
  for (uint32_t o = 0; o < nouts; o++) per_row += output_form(a, outs[o].kind).cols + 2;
  if (req->nrows > SIZE_MAX / 64 / per_row) return -1;
  api_buf_t b = {0};
  api_buf_reserve(&b, 256 + req->nrows * per_row * 16);
  api_buf_puts(&b, "{\"model_name\":");
  api_buf_json_string(&b, a->model_name, strlen(a->model_name));
  api_buf_puts(&b, ",\"model_version\":\"" API_OIP_MODEL_VERSION "\"");
  if (req->id != NULL) {
    api_buf_puts(&b, ",\"id\":");
    api_buf_json_string(&b, req->id, strlen(req->id));
  }
  api_buf_puts(&b, ",\"outputs\":[");
  int any_binary = 0;
  for (uint32_t o = 0; o < nouts; o++) {
    const output_form_t *f = &forms[o];
    forms[o] = output_form(a, outs[o].kind);
    const size_t count = req->nrows * f->cols;
    api_buf_printf(&b, "%s{\"name\":\"%s\",\"datatype\":\"%s\"", o ? "," : "",
                   output_names[outs[o].kind], f->datatype);
    if (f->cols == 1 && f->kind != API_OUT_CONTRIBS && f->kind != API_OUT_LEAVES)
      api_buf_printf(&b, ",\"shape\":[%zu]", req->nrows);
    else if (f->groups > 1)
      api_buf_printf(&b, ",\"shape\":[%zu,%u,%u]", req->nrows, f->groups, f->cols / f->groups);
    else
      api_buf_printf(&b, ",\"shape\":[%zu,%u]", req->nrows, f->cols);
    if (outs[o].binary) {
      any_binary = 1;
      api_buf_printf(&b, ",\"parameters\":{\"binary_data_size\":%zu}}", binary_size(a, f, count));
      continue;
    }
    api_buf_puts(&b, ",\"data\":[");
    for (size_t e = 0; e < count && !b.failed; e++) {
      if (e) api_buf_put(&b, ",", 1);
      put_json_element(&b, a, f, e);
    }
    api_buf_puts(&b, "]}");
  }
  api_buf_puts(&b, "]}");
  const size_t header = b.len;
  for (uint32_t o = 0; o < nouts && any_binary; o++)
    for (size_t e = 0; outs[o].binary && e < req->nrows * forms[o].cols && !b.failed; e++)
      put_binary_element(&b, a, &forms[o], e);
  if (api_buf_finish(&b, any_binary ? CONTENT_TYPE_BINARY : CONTENT_TYPE_JSON, body) != 0)
    return -1;
  body->inference_header_len = any_binary ? header : 0;
  return 0;
}
