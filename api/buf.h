/*
 * A growable output buffer with JSON writers: what every encoder (and the daemon's
 * /metrics) writes into. A failed allocation sticks in FAILED and later writes do
 * nothing, so a writer checks once at the end (api_buf_finish).
 */
#ifndef GROVE_API_BUF_H
#define GROVE_API_BUF_H

#include <stddef.h>

#include "api.h"

typedef struct {
  char *data;
  size_t len, cap;
  int failed;
} api_buf_t;

int api_buf_reserve(api_buf_t *b, size_t more);
void api_buf_put(api_buf_t *b, const void *p, size_t n);
void api_buf_puts(api_buf_t *b, const char *s);
void api_buf_printf(api_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Length of the valid UTF-8 sequence at S (N > 0 bytes left), or 0 when it is not one
 * (overlong, a surrogate, past U+10FFFF, cut short). One check for every writer that
 * replaces bad bytes: JSON strings here, form fields, /metrics label values. */
size_t api_utf8_len(const unsigned char *s, size_t n);
/* A JSON string literal: quotes, escapes, and U+FFFD for bytes that are not UTF-8. */
void api_buf_json_string(api_buf_t *b, const char *s, size_t len);
/* A float32 as a JSON number with 9 significant digits (round-trips); NaN is null and
 * infinities are written as 1e999 / -1e999, which JSON parsers read back as infinities. */
void api_buf_json_float(api_buf_t *b, float v);
/* A double as a JSON number that reads back as the same double; not finite: null. */
void api_buf_json_double(api_buf_t *b, double v);
/* Moves the buffer into BODY (NUL-terminated, not counted in len); frees it on failure. */
int api_buf_finish(api_buf_t *b, const char *content_type, api_body_t *body);

#endif /* GROVE_API_BUF_H */
