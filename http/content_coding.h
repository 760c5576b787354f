/*
 * Internal to http/: request bodies sent with Content-Encoding (tritonclient's
 * request_compression_algorithm, curl --compressed-body, proxies): which codings are read,
 * and inflating one into at most the body limit, so that a small compressed body never
 * costs more memory than an uncompressed one may.
 */
#ifndef GROVE_HTTP_CONTENT_CODING_H
#define GROVE_HTTP_CONTENT_CODING_H

#include <stddef.h>

typedef enum {
  CONTENT_IDENTITY = 0, /* no Content-Encoding, or "identity" */
  CONTENT_COMPRESSED,   /* "gzip", "x-gzip" or "deflate" (zlib, or raw deflate as some send) */
  CONTENT_UNSUPPORTED,  /* anything else (br, zstd, a list of codings) */
} content_coding_t;

/* The coding a Content-Encoding value (LEN bytes; NULL: no header) names. */
content_coding_t content_coding_of(const char *value, size_t len);

/*
 * Inflates IN (LEN bytes, gzip or zlib or raw deflate) into *OUT (malloc'd, *OUT_LEN bytes).
 * Returns 0; 413 when the inflated body would pass MAX_OUT bytes; 400 when it is not a
 * whole compressed stream; 500 when out of memory. MSG says why (NUL-terminated).
 */
int content_coding_inflate(const char *in, size_t len, size_t max_out, char **out, size_t *out_len,
                           char *msg, size_t msg_size);

#endif /* GROVE_HTTP_CONTENT_CODING_H */
