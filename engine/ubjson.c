/*
 * UBJSON (Universal Binary JSON, the format of XGBoost's .ubj models) -> a json-c tree,
 * so that one loader serves both encodings. Every length and count is checked against
 * the bytes that remain before anything is allocated: the input may be hostile.
 */
#include "ubjson.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* XGBoost models nest about six levels deep. */
#define UBJSON_MAX_DEPTH 64

typedef struct {
  const unsigned char *p, *end, *start;
  char *msg;
  size_t msglen;
} reader_t;

static json_object *fail(reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_object *fail(reader_t *r, const char *fmt, ...) {
  if (r->msg[0] == '\0') {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(r->msg, r->msglen, "UBJSON at byte %zu: %s", (size_t)(r->p - r->start), tmp);
  }
  return NULL;
}

static size_t remaining(const reader_t *r) { return (size_t)(r->end - r->p); }

/* Reads N big-endian bytes as an unsigned integer. */
static uint64_t read_be(reader_t *r, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) v = v << 8 | r->p[i];
  r->p += n;
  return v;
}

/* Size in bytes of a fixed-size value of TYPE, 0 for variable-size types, -1 if unknown. */
static int fixed_size(unsigned char type) {
  switch (type) {
    case 'Z':
    case 'N':
    case 'T':
    case 'F':
      return 0;
    case 'i':
    case 'U':
    case 'C':
      return 1;
    case 'I':
      return 2;
    case 'l':
    case 'd':
      return 4;
    case 'L':
    case 'D':
      return 8;
    case 'S':
    case 'H':
    case '[':
    case '{':
      return 0;
    default:
      return -1;
  }
}

/* Reads an integer of marker TYPE into *out; returns -1 on a non-integer type or EOF. */
static int read_int(reader_t *r, unsigned char type, int64_t *out) {
  int size = fixed_size(type);
  if (size <= 0 || type == 'd' || type == 'D' || type == 'C') return -1;
  if (remaining(r) < (size_t)size) return -1;
  uint64_t u = read_be(r, (size_t)size);
  switch (type) {
    case 'i':
      *out = (int8_t)u;
      break;
    case 'U':
      *out = (uint8_t)u;
      break;
    case 'I':
      *out = (int16_t)u;
      break;
    case 'l':
      *out = (int32_t)u;
      break;
    default:
      *out = (int64_t)u;
      break;
  }
  return 0;
}

/*
 * A length or count: a typed integer, >= 0, and small enough that that many elements of
 * ELEM_SIZE bytes fit in what is left after the length itself.
 */
static int read_length(reader_t *r, size_t elem_size, size_t *out) {
  if (remaining(r) < 1) return -1;
  unsigned char t = *r->p++;
  int64_t v;
  if (read_int(r, t, &v) != 0 || v < 0) return -1;
  if ((uint64_t)v > remaining(r) / elem_size) return -1;
  *out = (size_t)v;
  return 0;
}

static int read_value(reader_t *r, unsigned char type, int depth, json_object **out);

static json_object *read_string(reader_t *r) {
  size_t n;
  if (read_length(r, 1, &n) != 0) return fail(r, "bad string length");
  json_object *s = json_object_new_string_len((const char *)r->p, (int)n);
  r->p += n;
  return s ? s : fail(r, "out of memory");
}

/*
 * Container header: optional '$' TYPE, then optional '#' COUNT. A typed container must
 * have a count. The count is bounded by the bytes left.
 */
static int read_container_header(reader_t *r, unsigned char *type, int64_t *count) {
  *type = 0;
  *count = -1;
  if (remaining(r) >= 2 && r->p[0] == '$') {
    *type = r->p[1];
    /* Typed containers of null/true/false/no-op take no bytes per element: a tiny input
     * could ask for millions of objects. XGBoost never writes them. */
    if (fixed_size(*type) <= 0 && strchr("SH[{", *type) == NULL) return -1;
    r->p += 2;
    if (remaining(r) < 1 || r->p[0] != '#') return -1;
  }
  if (remaining(r) >= 1 && r->p[0] == '#') {
    r->p++;
    size_t n;
    /* Untyped elements take at least one byte: their marker. */
    int size = *type ? fixed_size(*type) : 1;
    if (size == 0) size = 1; /* strings and containers: at least a length byte each */
    if (read_length(r, (size_t)size, &n) != 0) return -1;
    *count = (int64_t)n;
  }
  return 0;
}

/* Whether member I of a container of COUNT members (-1: unknown, ended by CLOSE, which is
 * consumed) follows: 1, 0 at the container's end, -1 when the input ends first. 'N' no-ops
 * between members are skipped. */
static int next_member(reader_t *r, int64_t count, int64_t i, unsigned char close) {
  if (count >= 0) return i < count;
  while (remaining(r) >= 1 && *r->p == 'N') r->p++;
  if (remaining(r) < 1) return -1;
  if (*r->p != close) return 1;
  r->p++;
  return 0;
}

/* A member's value: of the container's TYPE, or with its own marker ('N' no-ops before it
 * are skipped). */
static int read_member(reader_t *r, unsigned char type, int depth, json_object **v) {
  unsigned char t = type;
  while (!t) {
    if (remaining(r) < 1) return -1;
    t = *r->p++;
    if (t == 'N') t = 0;
  }
  return read_value(r, t, depth + 1, v);
}

/* An array ('[', OBJECT 0) or an object ('{', OBJECT 1) whose header comes next. */
static json_object *read_container(reader_t *r, int depth, int object) {
  const char *what = object ? "object" : "array";
  unsigned char type;
  int64_t count;
  if (read_container_header(r, &type, &count) != 0) return fail(r, "bad %s header or count", what);
  json_object *c = object
                       ? json_object_new_object()
                       : json_object_new_array_ext(count > 0 && count < (1 << 24) ? (int)count : 0);
  if (c == NULL) return fail(r, "out of memory");
  char key[256];
  int more;
  for (int64_t i = 0; (more = next_member(r, count, i, object ? '}' : ']')) > 0; i++) {
    size_t n;
    json_object *v = NULL;
    if (object) {
      if (read_length(r, 1, &n) != 0 || n >= sizeof key) break;
      memcpy(key, r->p, n);
      key[n] = '\0';
      r->p += n;
    }
    if (read_member(r, type, depth, &v) != 0 ||
        (object ? json_object_object_add(c, key, v) : json_object_array_add(c, v)) != 0) {
      json_object_put(v);
      break;
    }
  }
  if (more == 0) return c;
  json_object_put(c);
  return fail(r, "truncated or malformed %s", what);
}

/* Reads one value of marker TYPE into *out (NULL is json-c's null); -1 on error. */
static int read_value(reader_t *r, unsigned char type, int depth, json_object **out) {
  *out = NULL;
  if (depth > UBJSON_MAX_DEPTH) {
    fail(r, "nested deeper than %d", UBJSON_MAX_DEPTH);
    return -1;
  }
  int64_t iv;
  switch (type) {
    case 'Z':
      return 0;
    case 'T':
    case 'F':
      *out = json_object_new_boolean(type == 'T');
      break;
    case 'i':
    case 'U':
    case 'I':
    case 'l':
    case 'L':
      if (read_int(r, type, &iv) != 0) {
        fail(r, "truncated integer");
        return -1;
      }
      *out = json_object_new_int64(iv);
      break;
    case 'd': {
      if (remaining(r) < 4) {
        fail(r, "truncated float32");
        return -1;
      }
      uint32_t u = (uint32_t)read_be(r, 4);
      float f;
      memcpy(&f, &u, sizeof f);
      *out = json_object_new_double(f);
      break;
    }
    case 'D': {
      if (remaining(r) < 8) {
        fail(r, "truncated float64");
        return -1;
      }
      uint64_t u = read_be(r, 8);
      double d;
      memcpy(&d, &u, sizeof d);
      *out = json_object_new_double(d);
      break;
    }
    case 'C':
      if (remaining(r) < 1) {
        fail(r, "truncated char");
        return -1;
      }
      *out = json_object_new_string_len((const char *)r->p++, 1);
      break;
    case 'S':
    case 'H':
      *out = read_string(r);
      return *out ? 0 : -1;
    case '[':
      *out = read_container(r, depth, 0);
      return *out ? 0 : -1;
    case '{':
      *out = read_container(r, depth, 1);
      return *out ? 0 : -1;
    default:
      fail(r, "unknown type marker 0x%02x", type);
      return -1;
  }
  if (*out == NULL) {
    fail(r, "out of memory");
    return -1;
  }
  return 0;
}

json_object *grove__ubjson_parse(const char *data, size_t len, char *msg, size_t msglen) {
  reader_t r = {.p = (const unsigned char *)data,
                .end = (const unsigned char *)data + len,
                .start = (const unsigned char *)data,
                .msg = msg,
                .msglen = msglen};
  msg[0] = '\0';
  if (len < 1 || data[0] != '{') return fail(&r, "expected an object");
  r.p++;
  json_object *root = read_container(&r, 0, 1);
  if (root != NULL && r.p != r.end) {
    json_object_put(root);
    return fail(&r, "unexpected data after the document");
  }
  return root;
}
