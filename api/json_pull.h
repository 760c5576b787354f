/*
 * Internal to api/: a strict JSON pull reader over a body held in memory, for the v1 JSON and
 * OIP decoders. It builds nothing: the caller walks the tokens and keeps what it needs, so
 * what a request costs in memory is the rows it decodes, whatever the body's shape (json-c
 * made a tree of ~100-byte objects per value: 1M empty records became ~600 MB).
 *
 * Strict RFC 8259: one document, no comments, no trailing commas, no single quotes, no
 * leading zeros, valid UTF-8, nesting of at most API_JSON_MAX_DEPTH. Beyond RFC 8259, as json-c
 * (grove's reader before this one) did: the literals NaN, Infinity and -Infinity are numbers (so
 * that the decoders can refuse them with a message about the value), a fraction without digits
 * ("1.", "1.e5") is a number, and raw control characters may stand in strings.
 */
#ifndef GROVE_API_JSON_PULL_H
#define GROVE_API_JSON_PULL_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

#define API_JSON_MAX_DEPTH 16

typedef enum {
  JP_ERROR = -1, /* see jp_t.error; no token follows */
  JP_DONE = 0,   /* the document ended (only whitespace after it) */
  JP_START,      /* nothing read yet */
  JP_OBJECT,     /* '{' */
  JP_OBJECT_END, /* '}' */
  JP_ARRAY,      /* '[' */
  JP_ARRAY_END,  /* ']' */
  JP_KEY,        /* a member's name (text as for JP_STRING) */
  JP_STRING,
  JP_NUMBER, /* text is the literal */
  JP_TRUE,
  JP_FALSE,
  JP_NULL,
} jp_kind_t;

typedef struct {
  const char *start, *p, *end;
  int depth;
  uint8_t in_object[API_JSON_MAX_DEPTH + 1]; /* per level: object (1) or array (0) */
  int expect;                                /* internal: what may come next */
  /* The current token. */
  jp_kind_t kind;
  const char
      *text; /* a string's bytes between its quotes (escapes as written), a number's literal */
  size_t len;
  int escaped;   /* the string holds backslash escapes: read it with jp_string() */
  size_t offset; /* where the token starts in the body */
  /* After JP_ERROR. */
  int truncated; /* the body ends in the middle of a value */
  char error[96];
} jp_t;

/* Starts reading BODY (LEN bytes, need not be NUL-terminated) at its first value. */
void jp_init(jp_t *j, const char *body, size_t len);

/* Starts reading the value at OFFSET of BODY (the offset of a token an earlier jp_t gave),
 * as if it were a whole document up to its end. */
void jp_init_at(jp_t *j, const char *body, size_t len, size_t offset);

/* Reads the next token. After JP_ERROR or JP_DONE it returns the same again. */
jp_kind_t jp_next(jp_t *j);

/*
 * After jp_next() returned the first token of a value: moves past the whole value. *COUNT
 * (may be NULL) gets the number of its direct elements (arrays) or members (objects), or 1
 * for a scalar; *LEAVES (may be NULL) the scalars anywhere inside it. Returns 0, or -1 with
 * the error in J.
 */
int jp_skip(jp_t *j, size_t *count, size_t *leaves);

/* The current string or key, unescaped, into BUF (SIZE bytes); returns its length, or
 * SIZE_MAX when it does not fit (BUF then holds a cut prefix, NUL-terminated). */
size_t jp_string(const jp_t *j, char *buf, size_t size);

/* A JP_NUMBER's value. */
typedef struct {
  double d;           /* as strtod reads the literal (NaN, +-inf for those literals) */
  int integral;       /* no fraction, no exponent, not a NaN/Infinity literal */
  int negative;       /* integral: the sign */
  uint64_t magnitude; /* integral and FITS: the exact absolute value */
  int fits;           /* integral: the absolute value fits 64 bits */
} jp_number_t;

/* The current JP_NUMBER's value. */
void jp_number(const jp_t *j, jp_number_t *n);

/* Name of token kind K for messages: "an object", "a string", ... */
const char *jp_kind_name(jp_kind_t k);

/* ---- what the JSON decoders share ---- */

/* Refuses the body J stopped in: 400 "not valid JSON: ...". Returns -1. */
int api__json_syntax_error(const jp_t *j, api_error_t *err);

/* Starts J on BODY, which must be a JSON object (read whole when it is not, so that a
 * syntax error anywhere is what gets reported); J then stands on the '{'. 0, or -1 with ERR. */
int api__json_body_start(jp_t *j, const char *body, size_t len, api_error_t *err);

/* The current string token of J, unescaped and NUL-terminated, with its length in *LEN: in
 * SMALL (SIZE bytes) when it fits, else malloc'd into *HEAP (the caller frees it); NULL
 * when out of memory. */
const char *api__json_text(const jp_t *j, char *small, size_t size, char **heap, size_t *len);

#endif /* GROVE_API_JSON_PULL_H */
