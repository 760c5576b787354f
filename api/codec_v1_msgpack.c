/*
 * v1 msgpack: a bounded pull reader for request bodies, msgpack-c's
 * packer for responses.
 *
 * Request bodies never go through msgpack_unpack: msgpack-c allocates count x 24 bytes for
 * an array or map header before it looks at the input, so five bytes can ask for 6.4 GB.
 * The reader below parses only the shapes the API accepts, checks every count and length
 * against the bytes left before using it, and nests at most three levels (the top map, an
 * array of rows or records, one row or record), so no count from the body reaches malloc
 * unchecked: rows are allocated only once the body is known to be large enough to hold
 * them (at most 4 bytes per body byte), records grow as they arrive, a tensor's size must
 * equal its bin's.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "codecs.h"

#define MSGPACK_CONTENT_TYPE "application/msgpack"

/* Predictions of at least this many floats go out as a float32 bin with "shape". */
#define BIN_OUTPUT_MIN_FLOATS 64

/* ------------------------------------------------------------------------- */
/* The pull reader                                                            */

typedef struct {
  const uint8_t *start, *p, *end;
} mp_reader_t;

/* What the next value is, as far as the API cares. */
typedef enum {
  MP_END = 0, /* no bytes left */
  MP_NIL,
  MP_BOOL,
  MP_UINT,
  MP_INT,
  MP_FLOAT,
  MP_STR,
  MP_BIN,
  MP_ARRAY,
  MP_MAP,
  MP_EXT,
  MP_INVALID, /* 0xc1, never used by msgpack */
} mp_kind_t;

/* Results of the read functions: the value was read, it has another type (nothing was
 * consumed), or it runs past the end of the body. */
enum { MP_OK = 0, MP_WRONG_TYPE = -1, MP_TRUNCATED = -2 };

static size_t mp_left(const mp_reader_t *r) { return (size_t)(r->end - r->p); }

static size_t mp_offset(const mp_reader_t *r) { return (size_t)(r->p - r->start); }

static mp_kind_t mp_peek(const mp_reader_t *r) {
  if (r->p >= r->end) return MP_END;
  uint8_t b = *r->p;
  if (b <= 0x7f) return MP_UINT;
  if (b <= 0x8f) return MP_MAP;
  if (b <= 0x9f) return MP_ARRAY;
  if (b <= 0xbf) return MP_STR;
  if (b >= 0xe0) return MP_INT;
  if (b == 0xc0) return MP_NIL;
  if (b == 0xc1) return MP_INVALID;
  if (b <= 0xc3) return MP_BOOL;
  if (b <= 0xc6) return MP_BIN;
  if (b <= 0xc9) return MP_EXT;
  if (b <= 0xcb) return MP_FLOAT;
  if (b <= 0xcf) return MP_UINT;
  if (b <= 0xd3) return MP_INT;
  if (b <= 0xd8) return MP_EXT;
  if (b <= 0xdb) return MP_STR;
  if (b <= 0xdd) return MP_ARRAY;
  return MP_MAP;
}

/* "found %s" in error messages. */
static const char *mp_kind_name(mp_kind_t kind) {
  switch (kind) {
    case MP_END:
      return "the end of the body";
    case MP_NIL:
      return "nil";
    case MP_BOOL:
      return "a boolean";
    case MP_UINT:
    case MP_INT:
      return "an integer";
    case MP_FLOAT:
      return "a float";
    case MP_STR:
      return "a string";
    case MP_BIN:
      return "a bin";
    case MP_ARRAY:
      return "an array";
    case MP_MAP:
      return "a map";
    case MP_EXT:
      return "an extension";
    case MP_INVALID:
      return "the invalid byte 0xc1";
  }
  return "?";
}

/* A big-endian unsigned integer of N (1, 2, 4 or 8) bytes; the caller checked the length. */
static uint64_t mp_be(const uint8_t *p, unsigned n) {
  uint64_t v = 0;
  for (unsigned i = 0; i < n; i++) v = v << 8 | p[i];
  return v;
}

/* Reads the N-byte length that follows a one-byte marker: the marker stays unconsumed on
 * failure, so a truncated header never moves the reader. */
static int mp_marker_len(mp_reader_t *r, unsigned n, uint64_t *len) {
  if (mp_left(r) < 1 + (size_t)n) return MP_TRUNCATED;
  *len = mp_be(r->p + 1, n);
  r->p += 1 + n;
  return MP_OK;
}

/*
 * Reads an array (WANT_MAP 0) or map header. The count is checked against the bytes left:
 * every element takes at least one byte (a map entry two), so a count the body cannot
 * hold is refused here, before anyone sizes anything by it.
 */
static int mp_read_container(mp_reader_t *r, int want_map, uint32_t *count) {
  mp_kind_t kind = mp_peek(r);
  if (kind != (want_map ? MP_MAP : MP_ARRAY)) return kind == MP_END ? MP_TRUNCATED : MP_WRONG_TYPE;
  const uint8_t *save = r->p;
  uint8_t b = *r->p;
  uint64_t n;
  if (b <= 0x9f) { /* fixmap 0x80-0x8f, fixarray 0x90-0x9f */
    n = b & 0x0f;
    r->p++;
  } else if (mp_marker_len(r, (b == 0xdc || b == 0xde) ? 2 : 4, &n) != MP_OK) {
    return MP_TRUNCATED;
  }
  if (n > mp_left(r) / (want_map ? 2 : 1)) {
    r->p = save;
    return MP_TRUNCATED;
  }
  *count = (uint32_t)n;
  return MP_OK;
}

/* Reads a str (WANT_BIN 0) or bin: *data points into the body (unaligned, not terminated). */
static int mp_read_bytes(mp_reader_t *r, int want_bin, const uint8_t **data, size_t *len) {
  mp_kind_t kind = mp_peek(r);
  if (kind != (want_bin ? MP_BIN : MP_STR)) return kind == MP_END ? MP_TRUNCATED : MP_WRONG_TYPE;
  const uint8_t *save = r->p;
  uint8_t b = *r->p;
  uint64_t n;
  if (b >= 0xa0 && b <= 0xbf) {
    n = b & 0x1f;
    r->p++;
  } else {
    unsigned width = (b == 0xc4 || b == 0xd9) ? 1 : (b == 0xc5 || b == 0xda) ? 2 : 4;
    if (mp_marker_len(r, width, &n) != MP_OK) return MP_TRUNCATED;
  }
  if (n > mp_left(r)) {
    r->p = save;
    return MP_TRUNCATED;
  }
  *data = r->p;
  *len = (size_t)n;
  r->p += n;
  return MP_OK;
}

static int mp_read_bool(mp_reader_t *r, int *value) {
  mp_kind_t kind = mp_peek(r);
  if (kind != MP_BOOL) return kind == MP_END ? MP_TRUNCATED : MP_WRONG_TYPE;
  *value = *r->p == 0xc3;
  r->p++;
  return MP_OK;
}

/* Reads a non-negative integer (for "shape"). */
static int mp_read_count(mp_reader_t *r, uint64_t *value) {
  mp_kind_t kind = mp_peek(r);
  if (kind == MP_END) return MP_TRUNCATED;
  uint8_t b = *r->p;
  if (b <= 0x7f) {
    *value = b;
    r->p++;
    return MP_OK;
  }
  if (b >= 0xcc && b <= 0xcf) return mp_marker_len(r, 1u << (b - 0xcc), value);
  if (b >= 0xd0 && b <= 0xd3) { /* a signed integer that happens to be >= 0 */
    unsigned n = 1u << (b - 0xd0);
    if (mp_left(r) < 1 + (size_t)n) return MP_TRUNCATED;
    uint64_t raw = mp_be(r->p + 1, n);
    if (raw >> (8 * n - 1)) return MP_WRONG_TYPE; /* negative */
    *value = raw;
    r->p += 1 + n;
    return MP_OK;
  }
  return MP_WRONG_TYPE;
}

/*
 * Reads a number or nil: *is_nil for nil, else *value as a double. Integers are rounded
 * once, straight to float32, as the JSON half does; float32 and float64 are kept as they
 * are and rounded (float64) by the shared checks.
 */
static int mp_read_number(mp_reader_t *r, double *value, int *is_nil) {
  mp_kind_t kind = mp_peek(r);
  if (kind == MP_END) return MP_TRUNCATED;
  uint8_t b = *r->p;
  *is_nil = 0;
  if (b <= 0x7f || b >= 0xe0) { /* positive and negative fixint */
    *value = b <= 0x7f ? (double)b : (double)((int)b - 256);
    r->p++;
    return MP_OK;
  }
  if (b == 0xc0) {
    *is_nil = 1;
    r->p++;
    return MP_OK;
  }
  unsigned n;
  if (b == 0xca)
    n = 4;
  else if (b == 0xcb)
    n = 8;
  else if (b >= 0xcc && b <= 0xcf)
    n = 1u << (b - 0xcc);
  else if (b >= 0xd0 && b <= 0xd3)
    n = 1u << (b - 0xd0);
  else
    return MP_WRONG_TYPE;
  if (mp_left(r) < 1 + (size_t)n) return MP_TRUNCATED;
  uint64_t raw = mp_be(r->p + 1, n);
  r->p += 1 + n;
  if (b == 0xca) {
    uint32_t bits = (uint32_t)raw;
    float f;
    memcpy(&f, &bits, sizeof f);
    *value = f;
  } else if (b == 0xcb) {
    memcpy(value, &raw, sizeof *value);
  } else if (b <= 0xcf) {
    *value = (double)(float)raw;
  } else { /* sign-extend an N-byte two's complement integer */
    unsigned shift = 64 - 8 * n;
    int64_t v = shift ? (int64_t)(raw << shift) >> shift : (int64_t)raw;
    *value = (double)(float)v;
  }
  return MP_OK;
}

/* The bytes an extension at R takes (marker, length, type and data), or 0 when its header
 * runs past the end. */
static size_t mp_ext_size(const mp_reader_t *r) {
  uint8_t b = *r->p;
  if (b >= 0xd4 && b <= 0xd8) return 2 + ((size_t)1 << (b - 0xd4)); /* fixext 1..16 */
  unsigned width = b == 0xc7 ? 1 : b == 0xc8 ? 2 : 4;               /* ext 8/16/32 */
  if (mp_left(r) < 1 + (size_t)width) return 0;
  return 2 + width + (size_t)mp_be(r->p + 1, width);
}

/* Moves past one whole value, containers with all they hold (iteratively: depth costs no
 * stack). MP_TRUNCATED when it runs past the end, MP_WRONG_TYPE on the invalid byte. */
static int mp_skip(mp_reader_t *r) {
  for (uint64_t pending = 1; pending > 0; pending--) {
    mp_kind_t kind = mp_peek(r);
    int rc = MP_OK, flag;
    uint32_t count;
    const uint8_t *data;
    size_t len;
    double v;
    switch (kind) {
      case MP_END:
        return MP_TRUNCATED;
      case MP_INVALID:
        return MP_WRONG_TYPE;
      case MP_ARRAY:
      case MP_MAP:
        if ((rc = mp_read_container(r, kind == MP_MAP, &count)) == MP_OK)
          pending += kind == MP_MAP ? 2 * (uint64_t)count : count;
        break;
      case MP_STR:
      case MP_BIN:
        rc = mp_read_bytes(r, kind == MP_BIN, &data, &len);
        break;
      case MP_BOOL:
        rc = mp_read_bool(r, &flag);
        break;
      case MP_EXT:
        len = mp_ext_size(r);
        if (len == 0 || len > mp_left(r)) return MP_TRUNCATED;
        r->p += len;
        break;
      default: /* nil and numbers */
        rc = mp_read_number(r, &v, &flag);
        break;
    }
    if (rc != MP_OK) return rc;
  }
  return MP_OK;
}

/* ------------------------------------------------------------------------- */
/* The v1 request                                                             */

typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  const api_limits_t *limits;
  uint32_t nf; /* num_features */
  api_request_t *req;
  api_error_t *err;
  uint32_t next_hint; /* records usually list features in the model's order: tried first */
  uint32_t *seen;     /* per feature: 1 + the record that last set it (duplicate keys) */
} decoder_t;

/* Reports a read that ran past the end of the body. */
static int fail_truncated(decoder_t *d, const mp_reader_t *r, const char *where) {
  return api__fail(d->err, 400,
                   "%s: truncated msgpack (a header or value at byte %zu runs past the end of the "
                   "%zu-byte body)",
                   where, mp_offset(r), (size_t)(r->end - r->start));
}

/* Reports a value of the wrong type, or a truncation, for RC from a read function. */
static int fail_read(decoder_t *d, const mp_reader_t *r, int rc, const char *where,
                     const char *expected) {
  if (rc == MP_TRUNCATED) return fail_truncated(d, r, where);
  return api__fail(d->err, 400, "%s: expected %s, got %s", where, expected,
                   mp_kind_name(mp_peek(r)));
}

/* Copies at most API_QUOTE_MAX bytes of untrusted S into DST for a message: anything but
 * printable ASCII (and the quote and backslash) becomes '?', so messages stay plain text. */
static const char *clip(char *dst, size_t cap, const uint8_t *s, size_t len) {
  size_t n = len > API_QUOTE_MAX ? API_QUOTE_MAX : len, o = 0;
  for (size_t i = 0; i < n && o + 1 < cap; i++) {
    uint8_t c = s[i];
    dst[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (n < len && o + 4 < cap) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  dst[o] = '\0';
  return dst;
}

static int name_equals(const char *name, const uint8_t *key, size_t len) {
  return name != NULL && strlen(name) == len && memcmp(name, key, len) == 0;
}

/* Feature index of record key KEY, or -1. The feature after the previous key is tried
 * first (an O(1) hit for records in model order), then the shared lookup, which matches
 * the model's names, else the schema's, else "f<index>". */
static int32_t lookup_feature(decoder_t *d, const uint8_t *key, size_t len) {
  if (d->next_hint < d->nf &&
      name_equals(grove_forest_feature_name(d->forest, d->next_hint), key, len))
    return (int32_t)d->next_hint;
  return api__feature_lookup(d->forest, d->schema, (const char *)key, len);
}

/* Stores one value (number, nil, or category string or code) for feature J of row or
 * record I, through the checks the JSON half uses. */
static int decode_value(decoder_t *d, mp_reader_t *r, const char *what, size_t i, uint32_t j,
                        float *dst) {
  api_loc_t loc = {.what = what, .index = i, .feature = j, .req = d->req};
  int categorical = api__feature_is_categorical(d->forest, d->schema, j);
  char where[API_QUOTE_MAX + 64], name[API_QUOTE_MAX + 16];
  mp_kind_t kind = mp_peek(r);
  int rc;
  if (kind == MP_STR) {
    const uint8_t *s;
    size_t len;
    if ((rc = mp_read_bytes(r, 0, &s, &len)) == MP_OK)
      return api__put_category_string((const char *)s, len, d->forest, d->schema,
                                      d->req->unknown_missing, &loc, dst, d->err);
  } else {
    double v;
    int is_nil;
    if ((rc = mp_read_number(r, &v, &is_nil)) == MP_OK) {
      if (is_nil) {
        *dst = NAN;
        return 0;
      }
      return api__put_feature_number(v, d->forest, d->schema, &loc, dst, d->err);
    }
  }
  snprintf(where, sizeof where, "%s %zu, feature '%s'", what, i,
           api__feature_label(d->forest, d->schema, j, name, sizeof name));
  return fail_read(d, r, rc, where,
                   categorical ? "a category string or code, or nil" : "a number or nil");
}

/* Refuses 0 rows and rows over the limit with the shared messages (api__alloc_rows fails
 * on those before it allocates anything). */
static int check_row_count(decoder_t *d, size_t n, api_request_t *req) {
  if (n == 0 || (d->limits != NULL && d->limits->max_rows > 0 && n > d->limits->max_rows))
    return api__alloc_rows(n, d->forest, d->limits, req, d->err);
  return 0;
}

/* Row or record I failed (its message in d->err): with per-row errors the reader moves
 * from AT past the SKIP values left of it and decoding goes on (0); else -1. */
static int row_failed(decoder_t *d, mp_reader_t *r, size_t i, const uint8_t *at, uint64_t skip) {
  api_error_t e = *d->err;
  if (d->req->rows == NULL || api__row_failed(d->req, i, &e) != 0) return -1;
  r->p = at;
  for (uint64_t k = 0; k < skip; k++) {
    int rc = mp_skip(r);
    if (rc != MP_OK) return fail_read(d, r, rc, "body", "a msgpack value");
  }
  return 0;
}

/* The array header of "rows" or "records" (WHAT), EXPECTED as the message says, its count
 * checked against the request's limits before anything is allocated for it. */
static int read_row_count(decoder_t *d, mp_reader_t *r, api_request_t *req, const char *what,
                          const char *expected, uint32_t *n) {
  int rc = mp_read_container(r, 0, n);
  if (rc != MP_OK) return fail_read(d, r, rc, what, expected);
  return check_row_count(d, *n, req);
}

/*
 * "rows": [[value x num_features], ...] in the model's feature order. A valid row takes at
 * least 1 + num_features bytes, so the rows are allocated (4 bytes per value: at most 4x
 * the body) only when the body can hold them; otherwise they are read into one scratch row
 * until the broken one is found and named.
 */
static int decode_rows(decoder_t *d, mp_reader_t *r, api_request_t *req) {
  uint32_t n = 0;
  int rc;
  if (read_row_count(d, r, req, "\"rows\"", "an array of arrays", &n) != 0) return -1;
  const int fits = n <= mp_left(r) / ((size_t)d->nf + 1);
  float *scratch = NULL;
  if (fits) {
    if (api__alloc_rows(n, d->forest, d->limits, req, d->err) != 0) return -1;
  } else if ((scratch = malloc(d->nf * sizeof *scratch)) == NULL) {
    return api__fail(d->err, 500, "out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    const uint8_t *row_at = r->p;
    uint32_t count;
    if ((rc = mp_read_container(r, 0, &count)) != MP_OK) {
      char where[64], expected[48]; /* formatted only for the error: printf costs every row */
      snprintf(where, sizeof where, "row %zu", i);
      snprintf(expected, sizeof expected, "an array of %u values", d->nf);
      fail_read(d, r, rc, where, expected);
      if (rc == MP_WRONG_TYPE && row_failed(d, r, i, row_at, 1) == 0) continue;
      goto fail;
    }
    if (count != d->nf) {
      api__fail(d->err, 400, "row %zu: %u values, the model has %u features", i, count, d->nf);
      if (row_failed(d, r, i, row_at, 1) == 0) continue;
      goto fail;
    }
    float *row = fits ? req->rows + i * d->nf : scratch;
    for (uint32_t j = 0; j < d->nf; j++) {
      const uint8_t *value_at = r->p;
      if (decode_value(d, r, "row", i, j, &row[j]) == 0) continue;
      if (row_failed(d, r, i, value_at, d->nf - j) != 0) goto fail;
      break;
    }
  }
  if (!fits) { /* cannot happen: those rows would have run past the end */
    fail_truncated(d, r, "\"rows\"");
    goto fail;
  }
  return 0;
fail:
  free(scratch);
  return -1;
}

/* Grows req->rows (and for a model that takes doubles rows64 and inexact) to hold at least
 * NEED rows, doubling, never past LIMIT rows. */
static int grow_rows(decoder_t *d, size_t *cap, size_t need, size_t limit) {
  if (need <= *cap) return 0;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  if (n > limit) n = limit;
  api_request_t *req = d->req;
  if (n > SIZE_MAX / sizeof(double) / d->nf) return api__fail(d->err, 500, "out of memory");
  float *p = realloc(req->rows, n * d->nf * sizeof *p);
  if (p != NULL) req->rows = p;
  if (p != NULL && grove_forest_takes_doubles(d->forest)) {
    double *p64 = realloc(req->rows64, n * d->nf * sizeof *p64);
    if (p64 != NULL) req->rows64 = p64;
    uint8_t *flags = p64 != NULL ? realloc(req->inexact, n) : NULL;
    if (flags != NULL) req->inexact = flags;
    p = flags != NULL ? p : NULL;
  }
  if (p == NULL) return api__fail(d->err, 500, "out of memory for %zu rows", n);
  *cap = n;
  return 0;
}

/* "record I", for error messages only (formatting it for every record cost printf calls). */
static const char *record_where(char *buf, size_t size, size_t i) {
  snprintf(buf, size, "record %zu", i);
  return buf;
}

/* Record I's COUNT pairs into ROW; -1 with d->err naming the first bad one, the reader
 * then at *PAIR_AT, the start of the pair it is in. */
static int decode_record(decoder_t *d, mp_reader_t *r, size_t i, uint32_t count, float *row,
                         uint32_t *k, const uint8_t **pair_at) {
  char where[64], text[API_QUOTE_MAX + 8], some[120];
  d->next_hint = 0;
  for (*k = 0; *k < count; (*k)++) {
    *pair_at = r->p;
    const uint8_t *key;
    size_t len;
    int rc = mp_read_bytes(r, 0, &key, &len);
    if (rc != MP_OK)
      return fail_read(d, r, rc, record_where(where, sizeof where, i),
                       "a feature name (string key)");
    int32_t j = lookup_feature(d, key, len);
    if (j < 0)
      return api__fail(d->err, 400, "%s: unknown feature \"%s\" (features: %s)",
                       record_where(where, sizeof where, i), clip(text, sizeof text, key, len),
                       api__feature_list(d->forest, d->schema, some, sizeof some));
    if (d->seen[j] == i + 1)
      return api__fail(d->err, 400, "%s: feature \"%s\" appears twice",
                       record_where(where, sizeof where, i), clip(text, sizeof text, key, len));
    d->seen[j] = (uint32_t)(i + 1);
    d->next_hint = (uint32_t)j + 1;
    if (decode_value(d, r, "record", i, (uint32_t)j, &row[j]) != 0) return -1;
  }
  return 0;
}

/*
 * "records": [{"feature": value, ...}, ...]; absent or nil = missing. An empty record is
 * one byte, so the rows grow as records arrive rather than being sized by the claimed count.
 */
static int decode_records(decoder_t *d, mp_reader_t *r, api_request_t *req) {
  uint32_t n = 0;
  int rc;
  if (read_row_count(d, r, req, "\"records\"", "an array of maps", &n) != 0) return -1;
  d->seen = calloc(d->nf, sizeof *d->seen);
  if (d->seen == NULL) return api__fail(d->err, 500, "out of memory");
  size_t cap = 0;
  req->nrows = n; /* rows 0..i exist while record i is read */
  char where[64];
  for (size_t i = 0; i < n; i++) {
    const uint8_t *record_at = r->p, *pair_at;
    uint32_t count, k;
    if (grow_rows(d, &cap, i + 1, n) != 0) return -1;
    float *row = req->rows + i * d->nf;
    for (uint32_t j = 0; j < d->nf; j++) row[j] = NAN;
    for (uint32_t j = 0; req->rows64 != NULL && j < d->nf; j++) req->rows64[i * d->nf + j] = NAN;
    if (req->inexact != NULL) req->inexact[i] = 0;
    if ((rc = mp_read_container(r, 1, &count)) != MP_OK) {
      fail_read(d, r, rc, record_where(where, sizeof where, i), "a map of feature: value");
      if (rc == MP_WRONG_TYPE && row_failed(d, r, i, record_at, 1) == 0) continue;
      return -1;
    }
    if (decode_record(d, r, i, count, row, &k, &pair_at) != 0 &&
        row_failed(d, r, i, pair_at, 2 * (uint64_t)(count - k)) != 0)
      return -1;
  }
  return 0;
}

/* "shape": [n, f] */
static int decode_shape(decoder_t *d, mp_reader_t *r, uint64_t shape[2]) {
  uint32_t count;
  int rc = mp_read_container(r, 0, &count);
  if (rc != MP_OK) return fail_read(d, r, rc, "\"shape\"", "an array [rows, features]");
  if (count != 2)
    return api__fail(d->err, 400, "\"shape\": expected [rows, features], got %u numbers", count);
  for (int k = 0; k < 2; k++)
    if ((rc = mp_read_count(r, &shape[k])) != MP_OK)
      return fail_read(d, r, rc, "\"shape\"", "a non-negative integer");
  return 0;
}

/* "shape" + "data": n*f little-endian float32 (NaN = missing) in a bin, copied because a
 * pointer into the body is unaligned. */
static int decode_tensor(decoder_t *d, const uint64_t shape[2], const uint8_t *data, size_t len,
                         api_request_t *req) {
  const uint64_t n = shape[0], f = shape[1];
  if (f != d->nf)
    return api__fail(d->err, 400, "\"shape\" is [%llu, %llu], the model has %u features",
                     (unsigned long long)n, (unsigned long long)f, d->nf);
  if (check_row_count(d, n > SIZE_MAX ? SIZE_MAX : (size_t)n, req) != 0) return -1;
  if (n > len / 4 / f || n * f * 4 != len)
    return api__fail(d->err, 400,
                     "\"data\" has %zu bytes, \"shape\" [%llu, %llu] needs %llu x %llu x 4 "
                     "(little-endian float32)",
                     len, (unsigned long long)n, (unsigned long long)f, (unsigned long long)n,
                     (unsigned long long)f);
  float *rows = malloc(len);
  if (rows == NULL)
    return api__fail(d->err, 500, "out of memory for %llu rows", (unsigned long long)n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(rows, data, len);
#else
  for (size_t i = 0; i < len / 4; i++) {
    const uint8_t *b = data + 4 * i;
    uint32_t bits =
        (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    memcpy(&rows[i], &bits, 4);
  }
#endif
  req->rows = rows;
  req->nrows = (size_t)n;
  req->binary_output = 1; /* answer in kind: predictions as a float32 bin */
  /* One rule for every decoder: NaN is missing, an infinity is refused. */
  for (size_t i = 0; i < len / 4; i++) {
    if (!isinf(rows[i])) continue;
    char name[API_QUOTE_MAX + 16];
    api__fail(d->err, 400, "row %zu, feature '%s': value out of float32 range (an infinity)", i / f,
              api__feature_label(d->forest, d->schema, (uint32_t)(i % f), name, sizeof name));
    if (api__row_failed(req, i / f, d->err) != 0) return -1;
  }
  return 0;
}

enum {
  KEY_ROWS = 1,
  KEY_RECORDS = 2,
  KEY_SHAPE = 4,
  KEY_DATA = 8,
  KEY_MARGIN = 16,
  KEY_LABELS = 32,
  KEY_EXPLAIN = 64,
  KEY_LEAVES = 128,
  KEY_CHOICE = 256 /* and up: api__v1_choices[bit / KEY_CHOICE - 1] */
};
#define KEYS_ROWS   (KEY_ROWS | KEY_RECORDS)
#define KEYS_TENSOR (KEY_SHAPE | KEY_DATA)

static int top_key(const uint8_t *s, size_t len) {
  static const struct {
    const char *name;
    int bit;
  } keys[] = {{"rows", KEY_ROWS},       {"records", KEY_RECORDS}, {"shape", KEY_SHAPE},
              {"data", KEY_DATA},       {"margin", KEY_MARGIN},   {"labels", KEY_LABELS},
              {"explain", KEY_EXPLAIN}, {"leaves", KEY_LEAVES}};
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
    if (name_equals(keys[k].name, s, len)) return keys[k].bit;
  for (int c = 0; c < API_V1_CHOICES; c++)
    if (name_equals(api__v1_choices[c].key, s, len)) return KEY_CHOICE << c;
  return 0;
}

/* The option a choice key holds (a string naming one of its two words) into REQ. */
static int decode_choice(decoder_t *d, mp_reader_t *r, int bit, api_request_t *req) {
  const api_v1_choice_t *c = &api__v1_choices[bit == KEY_CHOICE ? 0 : 1];
  const uint8_t *s;
  size_t len;
  char word[16];
  int rc = mp_read_bytes(r, 0, &s, &len);
  if (rc == MP_TRUNCATED) return fail_truncated(d, r, c->key);
  if (rc == MP_OK && len < sizeof word) {
    memcpy(word, s, len);
    word[len] = '\0';
  } else if (rc == MP_OK) {
    word[0] = '\0';
  }
  return api__v1_choice(c, rc == MP_OK ? word : NULL, req, d->err);
}

/* The options (choice keys) of the top-level map, read before anything else: they decide
 * how the rows are read, whatever the order of the keys. Errors are left for the full
 * read to report where they stand. */
static void prescan_choices(decoder_t *d, mp_reader_t r, api_request_t *req) {
  uint32_t nkeys;
  if (mp_read_container(&r, 1, &nkeys) != MP_OK) return;
  for (uint32_t k = 0; k < nkeys; k++) {
    const uint8_t *key;
    size_t len;
    if (mp_read_bytes(&r, 0, &key, &len) != MP_OK) return;
    int bit = top_key(key, len);
    api_error_t ignored;
    api_error_t *err = d->err;
    d->err = &ignored;
    int rc = bit >= KEY_CHOICE ? decode_choice(d, &r, bit, req) : mp_skip(&r);
    d->err = err;
    if (rc != 0) return;
  }
}

#define FORMS_HELP                                                                             \
  "expected {\"rows\": [[number|nil, ...], ...]} in the model's feature order, {\"records\": " \
  "[{\"feature\": value, ...}, ...]}, or {\"shape\": [n, f], \"data\": <bin of float32>}"

/* The top-level map. Keys come in any order; rows are decoded where they stand, the tensor
 * once both "shape" and "data" are known. */
/* The value of top-level key BIT (seen for the first time) into REQ, SHAPE or DATA. */
static int decode_top_value(decoder_t *d, mp_reader_t *r, int bit, api_request_t *req,
                            uint64_t shape[2], const uint8_t **data, size_t *data_len) {
  int rc, value;
  switch (bit) {
    case KEY_ROWS:
      return decode_rows(d, r, req);
    case KEY_RECORDS:
      return decode_records(d, r, req);
    case KEY_SHAPE:
      return decode_shape(d, r, shape);
    case KEY_DATA:
      if ((rc = mp_read_bytes(r, 1, data, data_len)) != MP_OK)
        return fail_read(d, r, rc, "\"data\"", "a bin of little-endian float32");
      return 0;
    case KEY_MARGIN:
    case KEY_LABELS:
    case KEY_EXPLAIN:
    case KEY_LEAVES: {
      const char *key = bit == KEY_MARGIN    ? "margin"
                        : bit == KEY_LABELS  ? "labels"
                        : bit == KEY_EXPLAIN ? "explain"
                                             : "leaves";
      char quoted[16];
      snprintf(quoted, sizeof quoted, "\"%s\"", key);
      if ((rc = mp_read_bool(r, &value)) != MP_OK)
        return fail_read(d, r, rc, quoted, "true or false");
      *api__v1_flag(req, key, strlen(key)) = value;
      return 0;
    }
    default:
      return decode_choice(d, r, bit, req);
  }
}

static int decode_body(decoder_t *d, mp_reader_t *r, api_request_t *req) {
  if (r->p == r->end) return api__fail(d->err, 400, "empty body: expected a msgpack map");
  prescan_choices(d, *r, req);
  uint32_t nkeys;
  int rc = mp_read_container(r, 1, &nkeys);
  if (rc != MP_OK) return fail_read(d, r, rc, "body", "a msgpack map");
  int seen = 0;
  uint64_t shape[2] = {0, 0};
  const uint8_t *data = NULL;
  size_t data_len = 0;
  char text[API_QUOTE_MAX + 8];
  for (uint32_t k = 0; k < nkeys; k++) {
    const uint8_t *key;
    size_t len;
    if ((rc = mp_read_bytes(r, 0, &key, &len)) != MP_OK)
      return fail_read(d, r, rc, "body", "a string key");
    const int bit = top_key(key, len);
    if (bit == 0)
      return api__fail(
          d->err, 400,
          "unknown key \"%s\": expected \"rows\", \"records\" or \"shape\" and \"data\", "
          "and optionally \"margin\", \"labels\", \"explain\", \"leaves\", \"errors\" and "
          "\"unknown_categories\"",
          clip(text, sizeof text, key, len));
    if (seen & bit)
      return api__fail(d->err, 400, "\"%s\" appears twice", clip(text, sizeof text, key, len));
    if (((bit & KEYS_ROWS) && (seen & (KEYS_ROWS | KEYS_TENSOR))) ||
        ((bit & KEYS_TENSOR) && (seen & KEYS_ROWS)))
      return api__fail(d->err, 400,
                       "give one of \"rows\", \"records\", or \"shape\" with \"data\"");
    seen |= bit;
    if (decode_top_value(d, r, bit, req, shape, &data, &data_len) != 0) return -1;
  }
  if (r->p != r->end)
    return api__fail(d->err, 400, "%zu bytes after the msgpack map: the body must be one object",
                     mp_left(r));
  if ((seen & KEYS_TENSOR) == KEY_SHAPE)
    return api__fail(d->err, 400, "\"shape\" without \"data\"");
  if ((seen & KEYS_TENSOR) == KEY_DATA) return api__fail(d->err, 400, "\"data\" without \"shape\"");
  if (seen & KEY_SHAPE) return decode_tensor(d, shape, data, data_len, req);
  if (!(seen & KEYS_ROWS)) return api__fail(d->err, 400, FORMS_HELP);
  return 0;
}

int api__msgpack_decode_v1(const char *body, size_t len, const grove_forest_t *forest,
                           const grove_schema_t *schema, const api_limits_t *limits,
                           api_request_t *req, api_error_t *err) {
  err->status = 0;
  err->message[0] = '\0';
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  decoder_t d = {.forest = forest,
                 .schema = schema,
                 .limits = limits,
                 .nf = info.num_features,
                 .req = req,
                 .err = err};
  req->num_features = info.num_features;
  static const uint8_t empty[1];
  const uint8_t *start = body != NULL ? (const uint8_t *)body : empty;
  mp_reader_t r = {.start = start, .p = start, .end = start + (body != NULL ? len : 0)};
  int rc = d.nf == 0 ? api__fail(err, 500, "the model has no features") : decode_body(&d, &r, req);
  free(d.seen);
  if (rc != 0) return -1;
  req->num_features = info.num_features;
  return 0;
}

/* ------------------------------------------------------------------------- */
/* Responses                                                                  */

/* Packs a C string. */
static int pack_cstr(msgpack_packer *pk, const char *s) {
  return msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Packs class K as the schema's label, else as the index; nil when there is no class (a
 * NaN row, or a softmax output that is not a class index). As the JSON half does. */
static int pack_label(msgpack_packer *pk, const grove_schema_t *schema, int32_t k) {
  if (k < 0) return msgpack_pack_nil(pk);
  if (schema != NULL && (uint32_t)k < schema->num_labels) return pack_cstr(pk, schema->labels[k]);
  return msgpack_pack_int32(pk, k);
}

/* Moves the packed buffer into BODY, or frees it after a failed write. */
static int finish_body(msgpack_sbuffer *sb, int rc, api_body_t *body) {
  if (rc != 0) {
    msgpack_sbuffer_destroy(sb);
    return -1;
  }
  body->len = sb->size;
  body->data = msgpack_sbuffer_release(sb);
  body->content_type = MSGPACK_CONTENT_TYPE;
  body->inference_header_len = 0;
  return 0;
}

/* {"shape": [n] or [n, width], "data": <bin of n*width little-endian float32>} */
static int pack_tensor(msgpack_packer *pk, const api_answer_t *a) {
  const size_t n = a->req->nrows, floats = n * a->width;
  const uint32_t width = a->width;
  int rc = msgpack_pack_map(pk, 2);
  rc |= pack_cstr(pk, "shape");
  rc |= msgpack_pack_array(pk, width == 1 ? 1 : 2);
  rc |= msgpack_pack_uint64(pk, n);
  if (width != 1) rc |= msgpack_pack_uint32(pk, width);
  rc |= pack_cstr(pk, "data");
  rc |= msgpack_pack_bin(pk, floats * 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (floats > 0 && a->req->nbad == 0) return rc | msgpack_pack_bin_body(pk, a->out, floats * 4);
#endif
  for (size_t i = 0; i < floats && rc == 0; i++) {
    float v = api__answer_row_error(a, i / width) != NULL ? NAN : a->out[i];
    uint32_t bits;
    memcpy(&bits, &v, 4);
    uint8_t le[4] = {(uint8_t)bits, (uint8_t)(bits >> 8), (uint8_t)(bits >> 16),
                     (uint8_t)(bits >> 24)};
    rc |= msgpack_pack_bin_body(pk, le, 4);
  }
  return rc;
}

/* Explanations as tensors: {"shape": [n, ...], "data": <bin of little-endian 4-byte
 * elements>}, like predictions' float32 tensor. Contributions are float32 [n, F + 1], or
 * [n, groups, F + 1] for multi-class models (a failed row: NaN); leaves int32 [n, trees]
 * (a failed row: -1). Elements are packed a block at a time. */
static int pack_explained(msgpack_packer *pk, const api_answer_t *a, int contribs) {
  const size_t n = a->req->nrows;
  const uint32_t per = contribs ? a->num_groups * (a->num_features + 1) : a->num_trees;
  int rc = msgpack_pack_map(pk, 2);
  rc |= pack_cstr(pk, "shape");
  const int grouped = contribs && a->num_groups > 1;
  rc |= msgpack_pack_array(pk, grouped ? 3 : 2);
  rc |= msgpack_pack_uint64(pk, n);
  if (grouped) rc |= msgpack_pack_uint32(pk, a->num_groups);
  rc |= msgpack_pack_uint32(pk, grouped ? a->num_features + 1 : per);
  rc |= pack_cstr(pk, "data");
  rc |= msgpack_pack_bin(pk, n * per * 4);
  uint8_t block[4 * 256];
  size_t used = 0;
  for (size_t r = 0; r < n && rc == 0; r++) {
    const int bad = api__answer_row_error(a, r) != NULL;
    for (uint32_t k = 0; k < per; k++) {
      uint32_t bits;
      if (contribs) {
        float v = bad ? NAN : (float)a->req->contribs[r * per + k];
        memcpy(&bits, &v, 4);
      } else {
        bits = bad ? UINT32_MAX : a->req->leaf_ids[r * per + k]; /* -1 as int32 */
      }
      for (int i = 0; i < 4; i++) block[used++] = (uint8_t)(bits >> (8 * i));
      if (used == sizeof block) {
        rc |= msgpack_pack_bin_body(pk, block, used);
        used = 0;
      }
    }
  }
  if (used > 0) rc |= msgpack_pack_bin_body(pk, block, used);
  return rc;
}

/* "contributions" with "feature_names", and "leaves", as the request asked for them. */
static int pack_explanations(msgpack_packer *pk, const api_answer_t *a) {
  int rc = 0;
  if (a->req->contribs != NULL) {
    rc |= pack_cstr(pk, "contributions");
    rc |= pack_explained(pk, a, 1);
    rc |= pack_cstr(pk, "feature_names");
    rc |= msgpack_pack_array(pk, a->num_features);
    for (uint32_t j = 0; j < a->num_features && rc == 0; j++) {
      char buf[16];
      rc |= pack_cstr(pk, api__feature_name(a->forest, a->schema, j, buf));
    }
  }
  if (a->req->leaf_ids != NULL) {
    rc |= pack_cstr(pk, "leaves");
    rc |= pack_explained(pk, a, 0);
  }
  return rc;
}

int api__msgpack_encode_v1(const api_answer_t *a, api_body_t *body) {
  const size_t n = a->req->nrows;
  const uint32_t width = a->width;
  if (width == 0 || n > UINT32_MAX / 4 / width)
    return -1; /* beyond msgpack's 32-bit bin and array sizes */
  const size_t contribs = a->req->contribs ? (size_t)a->num_groups * (a->num_features + 1) : 0,
               leaves = a->req->leaf_ids ? a->num_trees : 0;
  if ((contribs > 0 && n > UINT32_MAX / 4 / contribs) ||
      (leaves > 0 && n > UINT32_MAX / 4 / leaves))
    return -1;
  const size_t floats = n * width;
  const int as_bin = a->req->binary_output || floats >= BIN_OUTPUT_MIN_FLOATS;

  /* Reserve about what the body takes (5 bytes a float, labels of up to 16 bytes). */
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  const size_t reserve = 64 + strlen(a->model_name) + floats * 5 + (a->labels ? floats * 16 : 0) +
                         n * (contribs + leaves) * 4 + (contribs ? a->num_features * 24 : 0);
  if ((sb.data = malloc(reserve)) != NULL) sb.alloc = reserve;
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

  int rc =
      msgpack_pack_map(&pk, 2 + (a->labels != 0) + (a->req->per_row_errors != 0) +
                                (a->req->contribs != NULL ? 2 : 0) + (a->req->leaf_ids != NULL));
  rc |= pack_cstr(&pk, "model");
  rc |= pack_cstr(&pk, a->model_name);
  rc |= pack_cstr(&pk, "predictions");
  if (as_bin) {
    rc |= pack_tensor(&pk, a);
  } else {
    rc |= msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
      if (api__answer_row_error(a, i) != NULL) {
        rc |= msgpack_pack_nil(&pk);
        continue;
      }
      if (width > 1) rc |= msgpack_pack_array(&pk, width);
      for (uint32_t k = 0; k < width; k++) rc |= msgpack_pack_float(&pk, a->out[i * width + k]);
    }
  }
  if (a->labels) {
    rc |= pack_cstr(&pk, "labels");
    rc |= msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
      if (a->label_columns > 1) rc |= msgpack_pack_array(&pk, a->label_columns);
      for (uint32_t k = 0; k < a->label_columns; k++)
        rc |= pack_label(&pk, a->schema, api__answer_label(a, i, k));
    }
  }
  if (a->req->per_row_errors) {
    rc |= pack_cstr(&pk, "errors");
    rc |= msgpack_pack_array(&pk, n);
    for (size_t i = 0; i < n && rc == 0; i++) {
      const char *e = api__answer_row_error(a, i);
      rc |= e != NULL ? pack_cstr(&pk, e) : msgpack_pack_nil(&pk);
    }
  }
  rc |= pack_explanations(&pk, a);
  return finish_body(&sb, rc, body);
}

int api__msgpack_encode_error(const char *message, api_body_t *body) {
  msgpack_sbuffer sb;
  msgpack_sbuffer_init(&sb);
  msgpack_packer pk;
  msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
  int rc = msgpack_pack_map(&pk, 1);
  rc |= pack_cstr(&pk, "error");
  rc |= pack_cstr(&pk, message != NULL ? message : "error");
  return finish_body(&sb, rc, body);
}
