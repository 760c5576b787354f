/*
 * Internal to api/: the checks and conversions every decoder shares (so JSON, msgpack and
 * OIP requests are refused with the same messages) and the label rules every encoder
 * shares. Below every codec; includes nothing of them.
 */
#ifndef GROVE_API_COMMON_H
#define GROVE_API_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"

/* ------------------------------------------------------------------------- */
/* Errors                                                                     */

/* Fills ERR (the message is cut to fit) and returns -1. */
int api__fail(api_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------------------- */
/* Decoding helpers                                                          */

/* Bytes of a user-supplied string quoted in a message, at most. */
#define API_QUOTE_MAX 48

/* Where a value sits, for messages: "row 3, feature 'age'" / "record 0, feature 'f2'". */
typedef struct {
  const char *what; /* "row", "record"; NULL: the request's one record (a form) */
  size_t index;     /* 0-based */
  uint32_t feature;
  api_request_t *req; /* the request the value goes to: its doubles and inexact rows, for a
                         model that takes doubles (NULL: the float alone) */
} api_loc_t;

/* The features' names, as many as fit in BUF (then "..."), for "unknown feature" messages. */
const char *api__feature_list(const grove_forest_t *forest, const grove_schema_t *schema, char *buf,
                              size_t size);

/* Feature J's name for a message: api__feature_name() cut to API_QUOTE_MAX bytes, in BUF. */
const char *api__feature_label(const grove_forest_t *forest, const grove_schema_t *schema,
                               uint32_t j, char *buf, size_t size);

/* Feature J's whole name as answers list it: the model's, else the schema's, else
 * "f<J>" written to BUF. */
const char *api__feature_name(const grove_forest_t *forest, const grove_schema_t *schema,
                              uint32_t j, char buf[static 16]);

/* Index of the feature called NAME (LEN bytes): the model's names, else the schema's, else
 * "f0".."f<n-1>". -1 when unknown. */
int32_t api__feature_lookup(const grove_forest_t *forest, const grove_schema_t *schema,
                            const char *name, size_t len);

/* 1 when feature J takes category codes (the schema's type when there is a schema). */
int api__feature_is_categorical(const grove_forest_t *forest, const grove_schema_t *schema,
                                uint32_t j);

/* Checks the row count against LIMITS (0 rows: 400, too many: 413), then allocates
 * req->rows (NROWS x num_features, all NaN) and sets nrows / num_features; for a model that
 * takes doubles also req->rows64 (all NaN) and req->inexact (all 0). */
int api__alloc_rows(size_t nrows, const grove_forest_t *forest, const api_limits_t *limits,
                    api_request_t *req, api_error_t *err);

/* Stores number D at *DST as the model takes it: (float)D, the one rounding numpy does, or
 * for LightGBM the float its splits decide as LightGBM decides D (grove_forest_input_value;
 * D itself is kept in loc->req->rows64, and a row no float decides is marked inexact). NaN
 * and values beyond float32's range are refused with a message naming LOC. */
int api__put_number(double d, const grove_forest_t *forest, const grove_schema_t *schema,
                    const api_loc_t *loc, float *dst, api_error_t *err);

/* Stores category code CODE of the categorical feature at LOC as the training libraries
 * take a number there: any finite value, codes past the known categories included (the
 * trees send those to the side of "not in the set"; LightGBM truncates toward 0 first). */
int api__put_category_code(double code, const grove_forest_t *forest, const grove_schema_t *schema,
                           const api_loc_t *loc, float *dst, api_error_t *err);

/* Stores number D for the feature at LOC: a category code for a categorical feature
 * (api__put_category_code), else a value (api__put_number). */
int api__put_feature_number(double d, const grove_forest_t *forest, const grove_schema_t *schema,
                            const api_loc_t *loc, float *dst, api_error_t *err);

/* Stores the code of category string S (LEN bytes) of the feature at LOC: the feature must
 * be categorical with schema categories; unknown strings are refused, naming a few valid
 * ones, or with UNKNOWN_MISSING left missing. One of the schema's missing-value tokens
 * ("missing") is missing, for any feature. */
int api__put_category_string(const char *s, size_t len, const grove_forest_t *forest,
                             const grove_schema_t *schema, int unknown_missing,
                             const api_loc_t *loc, float *dst, api_error_t *err);

/* The v1 options whose value is one of two words: "errors" ("request" | "per_row") and
 * "unknown_categories" ("refuse" | "missing"); the second word sets the int at OFFSET in
 * api_request_t. */
typedef struct {
  const char *key;
  size_t key_len;
  const char *words[2];
  size_t offset;
} api_v1_choice_t;
extern const api_v1_choice_t api__v1_choices[2];
#define API_V1_CHOICES 2

/* Sets REQ's option C from WORD (NULL: the value was not a string), or fails naming both. */
int api__v1_choice(const api_v1_choice_t *c, const char *word, api_request_t *req,
                   api_error_t *err);

/* The int of REQ that v1 boolean option KEY (KLEN bytes) sets: "margin", "labels",
 * "explain" or "leaves"; NULL for any other key. */
int *api__v1_flag(api_request_t *req, const char *key, size_t klen);

/* The v1 body's keys, for "unknown key" messages. */
#define API_V1_KEYS_HELP                                                                   \
  "expected \"rows\" or \"records\", and optionally \"margin\", \"labels\", \"explain\", " \
  "\"leaves\", \"errors\" and \"unknown_categories\""

/* Text S (LEN bytes) for the feature at LOC: a category string for a categorical feature,
 * else a number's text (as strtod reads it, whole; "nan" is missing). */
int api__put_text(const char *s, size_t len, const grove_forest_t *forest,
                  const grove_schema_t *schema, int unknown_missing, const api_loc_t *loc,
                  float *dst, api_error_t *err);

/* Row R of REQ failed with ERR: with per-row errors (and a 400) the message is kept, the row
 * made all missing, and 0 returned (decoding goes on); else -1 (the request fails). */
int api__row_failed(api_request_t *req, size_t r, const api_error_t *err);

/* ------------------------------------------------------------------------- */
/* Labels                                                                    */

/* Class index of output column COL of a row (binary models) or of the whole row OUT (WIDTH
 * floats; multi-class models): -1 when the model is not a classifier or the row is NaN.
 * Binary: p > 0.5 (margins, and binary:logitraw scores: m > 0); softprob and multi-class
 * margins: argmax; softmax: the class index itself. */
int32_t api__class_index(const grove_forest_t *forest, const api_request_t *req, const float *out,
                         uint32_t width, uint32_t col);

/* 1 when the response carries labels: a classifier and req->labels. */
int api__wants_labels(const grove_forest_t *forest, const api_request_t *req);

/* What an encoder answers: a decoded request, the outputs the engine gave it, and what the
 * encoders need to know of the model, looked up once (api__answer_init). */
typedef struct {
  const char *model_name; /* "" when none */
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  const api_request_t *req;
  const float *out; /* req->nrows x width */
  uint32_t width;   /* output columns per row (grove_forest_output_width) */
  int labels;       /* the answer carries labels (api__wants_labels) */
  uint32_t
      label_columns; /* labels per row: one per target for multi-target binary models, else 1 */
  /* The model's shape, for explanations: a row's contributions are num_groups x
   * (num_features + 1) doubles (req->contribs), its leaves num_trees (req->leaf_ids). */
  uint32_t num_groups, num_features, num_trees;
} api_answer_t;

void api__answer_init(api_answer_t *a, const char *model_name, const grove_forest_t *forest,
                      const grove_schema_t *schema, const api_request_t *req, const float *out);

/* The class index behind label COL of row R (see api__class_index); -1 for a bad row. */
int32_t api__answer_label(const api_answer_t *a, size_t r, uint32_t col);

/* What is wrong with row R of the answer's request, or NULL when it was scored. */
const char *api__answer_row_error(const api_answer_t *a, size_t r);

#endif /* GROVE_API_COMMON_H */
