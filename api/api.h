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
} api_format_t;

/* A decoded prediction request. */
typedef struct {
  float *rows; /* nrows x num_features, row-major, NaN = missing (malloc'd) */
  size_t nrows;
  uint32_t num_features;
  int margin; /* "margin": true -> raw scores */
  int labels; /* "labels": false -> no labels (default 1) */
  /* OIP v2 only */
  char *id;          /* the request's "id", echoed in the response (malloc'd or NULL) */
  char *output_name; /* name of the requested output (default "predict"; malloc'd or NULL) */
  int binary_output; /* Triton: outputs[].parameters.binary_data_output */
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
} api_limits_t;

/* Frees what a decoder put in REQ (safe on a zeroed or half-filled request). */
void api_request_free(api_request_t *req);

/* Frees BODY's data. */
void api_body_free(api_body_t *body);

/* Picks the format from a Content-Type / Accept header value (NULL or unknown: JSON). */
api_format_t api_format_from_header(const char *value, size_t len);

/*
 * POST /v1/models/{name}/predict and POST /predict. The body is one of:
 *   {"rows": [[number|null, ...], ...]}            in the model's feature order
 *   {"records": [{"feature": value, ...}, ...]}   by name; absent or null = missing;
 *                                                 categorical values as strings (schema)
 *                                                 or integer codes
 *   msgpack only: {"shape": [n, f], "data": <bin of n*f little-endian float32>}
 * plus options "margin" (bool) and "labels" (bool). JSON's NaN/Infinity are refused.
 * Returns 0, or -1 with ERR filled (status 400 or 413/422 as fits).
 */
int api_decode_v1(const char *body, size_t len, api_format_t fmt, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                  api_error_t *err);

/*
 * POST /v2/models/{name}/infer (OIP v2 REST): {"id": ..., "inputs": [{"name", "shape":
 * [n, f], "datatype": "FP32"|"FP64"|"INT8".."INT64"|"UINT8".."UINT64", "data": [...]
 * (flat or nested)}], "outputs": [{"name", "parameters": {"binary_data_output": bool}}],
 * "parameters": {...}}. With Triton's binary extension JSON_LEN is the value of the
 * Inference-Header-Content-Length header: the JSON is body[0..JSON_LEN) and the tensors
 * named with "parameters": {"binary_data_size": N} follow in order. JSON_LEN 0: all JSON.
 */
int api_decode_v2_infer(const char *body, size_t len, size_t json_len, const grove_forest_t *forest,
                        const api_limits_t *limits, api_request_t *req, api_error_t *err);

/*
 * The v1 response: {"model": NAME, "predictions": [...], "labels": [...]}; predictions are
 * one number per row (binary: positive-class probability; regression: value; softmax:
 * class index) or K numbers per row (softprob, or margins of a multi-class model).
 * Labels (classifiers, unless req->labels is 0): the schema's label strings, else class
 * indices. msgpack: the same map; with many rows predictions may be a float32 bin with
 * "shape". OUT holds nrows x grove_forest_output_width(forest, req->margin) floats.
 */
int api_encode_v1(const char *model_name, const grove_forest_t *forest,
                  const grove_schema_t *schema, const api_request_t *req, const float *out,
                  api_format_t fmt, api_body_t *body);

/*
 * The OIP v2 infer response: {"model_name", "id"?, "outputs": [{"name", "datatype": "FP32",
 * "shape": [n] or [n, K], "data": [...]}]}, or with req->binary_output the JSON header
 * ("parameters": {"binary_data_size": n*K*4}) followed by little-endian float32 data and
 * body->inference_header_len set.
 */
int api_encode_v2_infer(const char *model_name, const grove_forest_t *forest,
                        const api_request_t *req, const float *out, api_body_t *body);

/* {"error": MESSAGE} as JSON (or msgpack map). */
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
 * "max_depth", "leaves", "num_outputs", "classes", "memory_bytes", "isa", "kernel",
 * "loaded_at", "schema": {...}} where schema is the model's schema.json, or one generated
 * from the feature names and types ({"features": [{"name": "f0", "type": "numeric"}...]}).
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

/* GET /v2/models/{name}: {"name", "versions": ["1"], "platform": "grove", "inputs": [{"name":
 * "input", "datatype": "FP32", "shape": [-1, F]}], "outputs": [{"name": "predict",
 * "datatype": "FP32", "shape": [-1] or [-1, K]}]}. */
int api_encode_model_v2(const api_model_meta_t *meta, const grove_forest_t *forest,
                        api_body_t *body);

#endif /* GROVE_API_H */
