/*
 * Internal to api/: each codec's entry points, which api.c dispatches to. A decoder gets
 * REQ reset by api.c (zeroed, labels = 1) and may leave it half filled on failure (api.c
 * frees it); an encoder gets BODY zeroed and the answer api__answer_init made. Arguments
 * as in api.h.
 */
#ifndef GROVE_API_CODECS_H
#define GROVE_API_CODECS_H

#include "common.h"

/* What a v1 codec provides: a decoder, an encoder and an error encoder. */
typedef int api_v1_decode_fn(const char *body, size_t len, const grove_forest_t *forest,
                             const grove_schema_t *schema, const api_limits_t *limits,
                             api_request_t *req, api_error_t *err);
typedef int api_v1_encode_fn(const api_answer_t *a, api_body_t *body);
typedef int api_error_encode_fn(const char *message, api_body_t *body);

/* codec_v1_json.c */
api_v1_decode_fn api__json_decode_v1;
api_v1_encode_fn api__json_encode_v1;
api_error_encode_fn api__json_encode_error;

/* codec_v1_msgpack.c */
api_v1_decode_fn api__msgpack_decode_v1;
api_v1_encode_fn api__msgpack_encode_v1;
api_error_encode_fn api__msgpack_encode_error;

/* codec_form.c: MULTIPART picks multipart/form-data (CTYPE, the Content-Type, gives its
 * boundary) over application/x-www-form-urlencoded. */
int api__form_decode(const char *body, size_t len, const char *ctype, size_t ctlen, int multipart,
                     const grove_forest_t *forest, const grove_schema_t *schema,
                     const api_limits_t *limits, api_request_t *req, api_error_t *err);
api_v1_encode_fn api__html_encode_v1;
api_error_encode_fn api__html_encode_error;

/* codec_oip.c */
int api__oip_decode_infer(const char *body, size_t len, size_t json_len,
                          const grove_forest_t *forest, const grove_schema_t *schema,
                          const api_limits_t *limits, api_request_t *req, api_error_t *err);
int api__oip_encode_infer(const api_answer_t *a, api_body_t *body);

/* Output KIND (api_output_kind_t) of the model as the metadata describes it. */
typedef struct {
  const char *name;
  const char *datatype;
  uint32_t columns; /* per row (per group when GROUPS > 1) */
  uint32_t groups;  /* >1: shape [-1, groups, columns] (multi-class contributions) */
} api_oip_output_meta_t;
void api__oip_output_meta(const grove_forest_t *forest, const grove_schema_t *schema, int kind,
                          api_oip_output_meta_t *out);

#endif /* GROVE_API_CODECS_H */
