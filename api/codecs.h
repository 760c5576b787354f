/*
 * Internal to api/: each codec's entry points, which api.c dispatches to. A decoder gets
 * REQ reset by api.c (zeroed, labels = 1) and may leave it half filled on failure (api.c
 * frees it); an encoder gets BODY zeroed. Arguments as in api.h.
 */
#ifndef GROVE_API_CODECS_H
#define GROVE_API_CODECS_H

#include "common.h"

/* The OIP output that holds the predictions. */
#define API_OIP_OUTPUT_NAME "predict"

/* codec_v1_json.c */
int api__json_decode_v1(const char *body, size_t len, const grove_forest_t *forest, const grove_schema_t *schema,
                        const api_limits_t *limits, api_request_t *req, api_error_t *err);
/* The fast path for {"rows": [[...]]} alone: 0 when it decoded BODY, 1 when it leaves it
 * (REQ untouched) to the json-c path. */
int api__json_decode_rows_fast(const char *body, size_t len, const grove_forest_t *forest,
                               const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                               api_error_t *err);
/* The same through json-c alone, without the fast path for plain rows (tests compare them). */
int api__json_decode_v1_generic(const char *body, size_t len, const grove_forest_t *forest,
                                const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                                api_error_t *err);
int api__json_encode_v1(const char *model_name, const grove_forest_t *forest, const grove_schema_t *schema,
                        const api_request_t *req, const float *out, api_body_t *body);
int api__json_encode_error(const char *message, api_body_t *body);

/* codec_v1_msgpack.c */
int api__msgpack_decode_v1(const char *body, size_t len, const grove_forest_t *forest,
                           const grove_schema_t *schema, const api_limits_t *limits, api_request_t *req,
                           api_error_t *err);
int api__msgpack_encode_v1(const char *model_name, const grove_forest_t *forest, const grove_schema_t *schema,
                           const api_request_t *req, const float *out, api_body_t *body);
int api__msgpack_encode_error(const char *message, api_body_t *body);

/* codec_oip.c */
int api__oip_decode_infer(const char *body, size_t len, size_t json_len, const grove_forest_t *forest,
                          const api_limits_t *limits, api_request_t *req, api_error_t *err);
int api__oip_encode_infer(const char *model_name, const grove_forest_t *forest, const api_request_t *req,
                          const float *out, api_body_t *body);

#endif /* GROVE_API_CODECS_H */
