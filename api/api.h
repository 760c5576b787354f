/*
 * The HTTP API's bodies: request decoders (v1 JSON and msgpack, Open Inference Protocol v2
 * with Triton's binary tensor extension) and response encoders, one codec file each, and
 * the model metadata. Pure functions of bytes, the model and its schema: no sockets, no
 * threads, so they are unit-tested and fuzzed alone. Every wire format lives here; the
 * server and the batcher only see api_request_t (float rows) and float outputs.
 */
#ifndef GROVE_API_H
#define GROVE_API_H

#include <stddef.h>
#include <stdint.h>

#include "grove_engine.h"

typedef enum {
  API_JSON = 0,
  API_MSGPACK,
  API_FORM,      /* application/x-www-form-urlencoded (requests only) */
  API_MULTIPART, /* multipart/form-data (requests only) */
  API_HTML,      /* a page for a browser that posted a form (answers only) */
} api_format_t;

/* The outputs an OIP v2 client can ask for by name (what other servers call them). */
typedef enum {
  API_OUT_PREDICT = 0, /* "predict": class labels (MLServer's predict; regression: the values) */
  API_OUT_PROBA,       /* "predict_proba": probabilities, or values (MLServer's predict_proba) */
  API_OUT_OUTPUT0,     /* "output__0": the same as predict_proba (Triton's FIL backend) */
  API_OUT_CONTRIBS,    /* "contributions": FP32 TreeSHAP values (req->explain) */
  API_OUT_LEAVES,      /* "leaves": INT32 leaf indexes (req->leaves) */
  API_OUT_KINDS
} api_output_kind_t;

/* One requested OIP output, in the order asked. */
typedef struct {
  uint8_t kind;   /* api_output_kind_t */
  uint8_t binary; /* Triton: as binary data after the JSON header */
} api_output_t;

/* A decoded prediction request. */
typedef struct {
  float *rows; /* nrows x num_features, row-major, NaN = missing (malloc'd) */
  size_t nrows;
  uint32_t num_features;
  int margin;        /* "margin": true -> raw scores */
  int labels;        /* "labels": false -> no labels (default 1) */
  int binary_output; /* v1 msgpack: answer as a float32 bin; OIP: binary_data_output */
  /* v1: "errors": "per_row" scores the good rows and answers null and a message for each
   * bad one; "unknown_categories": "missing" reads an unknown category string as missing */
  int per_row_errors;
  int unknown_missing;
  char **row_errors; /* nrows messages, NULL for good rows; NULL when no row failed */
  size_t nbad;       /* rows that failed */
  /* A model that takes doubles (grove_forest_takes_doubles: LightGBM): every value as it
   * came (NaN = missing), and the rows no float row decides as the library does, to be
   * scored with grove_forest_predict_f64(). NULL for other models. */
  double *rows64;
  uint8_t *inexact; /* nrows flags */
  size_t ninexact;
  /*
   * Explanations: "explain": true (OIP: the "contributions" output) asks for each row's
   * TreeSHAP contributions, "leaves": true (OIP: "leaves") for the leaf each row reaches in
   * each tree. Once a request asking for either is decoded, api.c checks that the model can
   * answer (422 otherwise) and that the outputs fit the limits (413), and allocates them:
   * CONTRIBS, nrows x grove_forest_contribs_width() doubles, and LEAF_IDS, nrows x
   * num_trees; the server's engine call fills them and the encoders read them.
   */
  int explain;
  int leaves;
  double *contribs;
  uint32_t *leaf_ids;
  /* OIP v2 only */
  char *id; /* the request's "id", echoed in the response (malloc'd or NULL) */
  api_output_t outputs[API_OUT_KINDS]; /* noutputs of them; none asked: predict and predict_proba */
  uint32_t noutputs;
} api_request_t;

/* A 4xx (or 5xx) answer: status and a message saying what is wrong. */
typedef struct {
  int status;
  char message[256];
} api_error_t;

/* A response body (malloc'd data) and the headers that go with it. */
typedef struct {
  char *data;
  size_t len;
  const char *content_type;    /* static string */
  size_t inference_header_len; /* >0: send Inference-Header-Content-Length (OIP binary) */
} api_body_t;

/* Limits a request must respect (from the server's configuration). */
typedef struct {
  size_t max_rows; /* rows in one request */
  /* Contributions plus leaf indexes one request may ask for (0: no limit): they cost
   * nrows x num_groups x (num_features + 1) doubles, more than the rows themselves. */
  size_t max_explain_values;
} api_limits_t;

/* Frees what a decoder put in REQ (safe on a zeroed or half-filled request). */
void api_request_free(api_request_t *req);

/* Frees BODY's data. */
void api_body_free(api_body_t *body);

/* Picks the format from a Content-Type / Accept header value (NULL or unknown: JSON). An
 * Accept list's first JSON, msgpack or text/html entry wins. */
api_format_t api_format_from_header(const char *value, size_t len);

/*
 * POST /v1/models/{name}/predict and POST /predict. The body is one of:
 *   {"rows": [[number|null, ...], ...]}            in the model's feature order
 *   {"records": [{"feature": value, ...}, ...]}   by name; absent or null = missing;
 *                                                 categorical values as strings (schema)
 *                                                 or integer codes
 *   msgpack only: {"shape": [n, f], "data": <bin of n*f little-endian float32>}
 * plus options "margin" (bool), "labels" (bool), "errors" ("request", the default: one bad
 * row refuses the request; "per_row": each bad row gets its message in req->row_errors and
 * the others are scored) and "unknown_categories" ("refuse", the default, or "missing";
 * the schema's "unknown_categories" sets the model's default), "explain" and "leaves" (bool:
 * see api_request_t; a form's "explain" field, "1", "true" or "on", too). A string the schema
 * lists as a missing-value token ("missing") is missing. JSON's NaN/Infinity are refused.
 * Returns 0, or -1 with ERR filled (status 400 or 413/422 as fits).
 */
int api_decode_v1(const char *body, size_t len, api_format_t fmt, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                  api_error_t *err);

/*
 * A form posted to /predict or /v1/models/{name}/predict (application/x-www-form-urlencoded,
 * or multipart/form-data: CONTENT_TYPE is the header's value, for its boundary): one record,
 * fields named after the features (category strings, numbers as text, empty = missing).
 */
int api_decode_form(const char *body, size_t len, const char *content_type, size_t content_type_len,
                    const grove_forest_t *forest, const grove_schema_t *schema,
                    const api_limits_t *limits, api_request_t *req, api_error_t *err);

/* The Inference-Header-Content-Length of a request that has none: all of it is JSON. */
#define API_OIP_NO_HEADER     SIZE_MAX
/* The one version every served model has, as OIP's metadata and answers give it. */
#define API_OIP_MODEL_VERSION "1"

/*
 * POST /v2/models/{name}/infer (OIP v2 REST): {"id", "inputs", "outputs", "parameters"}.
 * Inputs: one tensor [rows, F] (or [F]), or one tensor per feature named after it, of shape
 * [rows] or [rows, 1] (MLServer's pandas codec); datatypes FP16, BF16, FP32, FP64, INT8..64,
 * UINT8..64, BOOL (true/false or 0/1) and BYTES (category strings, or numbers' text); JSON
 * "data" flat or nested. Outputs asked for by name (api_output_kind_t) with Triton's
 * per-output "parameters": {"binary_data": bool} over the request's "binary_data_output";
 * "parameters": {"margin": true} asks for raw scores. JSON_LEN is the
 * Inference-Header-Content-Length header: the JSON is body[0..JSON_LEN) and the tensors
 * named with "parameters": {"binary_data_size": N} follow in order; API_OIP_NO_HEADER: all
 * JSON; 0: no JSON, the body is one FP32 tensor [rows, F] (Triton's raw binary request).
 */
int api_decode_v2_infer(const char *body, size_t len, size_t json_len, const grove_forest_t *forest,
                        const grove_schema_t *schema, const api_limits_t *limits,
                        api_request_t *req, api_error_t *err);

/*
 * The v1 response: {"model": NAME, "predictions": [...], "labels": [...]}; predictions are
 * one number per row (binary: positive-class probability; regression: value; softmax:
 * class index) or K numbers per row (softprob, or margins of a multi-class model).
 * Labels (classifiers, unless req->labels is 0): the schema's label strings, else class
 * indices. With per-row errors, a bad row's prediction and label are null and "errors" holds
 * one entry per row: null, or what is wrong with it. msgpack: the same map; with many rows
 * predictions may be a float32 bin with "shape" (NaN for a bad row). With req->contribs:
 * "contributions", per row num_features + 1 numbers (the last the bias), or one such array
 * per group for multi-group models, and "feature_names"; with req->leaf_ids: "leaves", per
 * row num_trees integers; a bad row's null (msgpack: tensors {"shape": [n, (groups,) F + 1],
 * "data": float32 bin} and {"shape": [n, trees], "data": int32 bin}, NaN / -1 for a bad row).
 * API_HTML: a small page with the prediction (and a table of contributions), for a browser
 * that posted a form. OUT holds nrows x grove_forest_output_width(forest, req->margin) floats.
 */
int api_encode_v1(const char *model_name, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_request_t *req, const float *out,
                  api_format_t fmt, api_body_t *body);

/*
 * The OIP v2 infer response: {"model_name", "model_version", "id"?, "outputs": [...]}, the
 * outputs asked for (none: "predict" and, for classifiers, "predict_proba"): "predict" holds
 * class labels (BYTES, the schema's label strings; else INT64 class indices) for
 * classifiers and the values for other models; "predict_proba" and "output__0" the
 * probabilities or values (FP32, [n] or [n, K]; a binary classifier's as [n, 2], [P(0),
 * P(1)] like scikit-learn's predict_proba; margins when asked, as they are); "contributions"
 * (FP32 [n, F + 1], [n, groups, F + 1] for multi-group models) and "leaves" (INT32 [n, trees])
 * from req->contribs / req->leaf_ids, only when asked for. Outputs asked for as
 * binary follow the JSON header as Triton's binary data, body->inference_header_len set.
 */
int api_encode_v2_infer(const char *model_name, const grove_forest_t *forest,
                        const grove_schema_t *schema, const api_request_t *req, const float *out,
                        api_body_t *body);

/* {"error": MESSAGE} as JSON (or msgpack map; API_HTML: a page saying it). */
int api_encode_error(const char *message, api_format_t fmt, api_body_t *body);

/* Facts about a served model beyond the forest: for the metadata endpoints. */
typedef struct {
  const char *name;
  const char *path; /* where it was loaded from */
  double loaded_at; /* unix time */
  double load_seconds;
  uint64_t reloads;
} api_model_meta_t;

/*
 * GET /v1/models/{name}: {"name", "format", "objective", "task", "num_features", "trees",
 * "max_depth", "leaves", "num_outputs", "classes", "memory_bytes", "explain_memory_bytes",
 * "kernel_memory_bytes", "explainable", "explain_error" (only when explainable is false: why, in the engine's
 * words), "isa", "kernel", "loaded_at", "schema": {...}} where schema is the model's
 * schema.json, or one generated from the feature names and types ({"features": [{"name":
 * "f0", "type": "numeric"}...]}).
 */
int api_encode_model_v1(const api_model_meta_t *meta, const grove_forest_t *forest,
                        const grove_schema_t *schema, api_body_t *body);

/* The same schema as a schema.json to keep beside the model (indented; no "classes"; a
 * categorical feature without strings named by its codes): what `grove schema` prints. */
int api_encode_schema_file(const grove_forest_t *forest, const grove_schema_t *schema,
                           api_body_t *body);

/* `grove info`: the same object as GET /v1/models/{name} without what only a served model
 * has (name, path, load time, reloads) and with the model's details: "features" [{name,
 * type (as the model types it), categories (count, from the schema)}], "num_class",
 * "num_parallel_tree", "nodes", "categorical_splits", "base_margin", and "schema": whether
 * there is one. */
int api_encode_model_info(const grove_forest_t *forest, const grove_schema_t *schema,
                          api_body_t *body);

/* GET /v1/models: {"models": [<the same object without "schema">, ...]}. */
int api_encode_models_v1(const api_model_meta_t *metas, const grove_forest_t *const *forests,
                         size_t n, api_body_t *body);

/* GET /v2/models/{name}: {"name", "versions": ["1"], "platform": "grove_<format>" (xgboost,
 * lightgbm, sklearn), "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, F]}],
 * "outputs": [predict, predict_proba, output__0 as api_encode_v2_infer answers them, shape
 * [-1] or [-1, K]; contributions (models that can be explained) and leaves], "parameters":
 * {"inputs", "outputs"}: what they mean, in words, and "explain_error" when contributions
 * are not listed: why}. */
int api_encode_model_v2(const api_model_meta_t *meta, const grove_forest_t *forest,
                        const grove_schema_t *schema, api_body_t *body);

#endif /* GROVE_API_H */
