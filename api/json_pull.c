/* The strict JSON pull reader (json_pull.h). */
#include "json_pull.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "common.h"

/* What may come next. */
enum {
  EXPECT_VALUE,              /* a document's value, a member's value, an element after ',' */
  EXPECT_VALUE_OR_ARRAY_END, /* right after '[' */
  EXPECT_KEY_OR_OBJECT_END,  /* right after '{' (a key after ',' is read with the comma) */
  EXPECT_COMMA_OR_END,       /* after a value inside a container */
  EXPECT_DOC_END,            /* after the document's value */
};

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void skip_space(jp_t *j) {
  while (j->p < j->end && is_space(*j->p)) j->p++;
}

static jp_kind_t fail(jp_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static jp_kind_t fail(jp_t *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(j->error, sizeof j->error, fmt, ap);
  va_end(ap);
  j->kind = JP_ERROR;
  return JP_ERROR;
}

static jp_kind_t truncated(jp_t *j) {
  j->truncated = 1;
  return fail(j, "the body ends in the middle of a value");
}

void jp_init_at(jp_t *j, const char *body, size_t len, size_t offset) {
  memset(j, 0, sizeof *j);
  j->start = body;
  j->p = body + offset;
  j->end = body + len;
  j->expect = EXPECT_VALUE;
  j->kind = JP_START;
}

void jp_init(jp_t *j, const char *body, size_t len) { jp_init_at(j, body, len, 0); }

/* A value may end here: at the end of the input or before whitespace, ',', ']' or '}'. */
static int at_delimiter(const jp_t *j, const char *q) {
  return q == j->end || is_space(*q) || *q == ',' || *q == ']' || *q == '}';
}

static jp_kind_t read_string(jp_t *j, jp_kind_t kind) {
  const char *q = j->p + 1; /* past the quote */
  j->escaped = 0;
  while (q < j->end) {
    unsigned char c = (unsigned char)*q;
    if (c == '"') {
      j->text = j->p + 1;
      j->len = (size_t)(q - j->p - 1);
      j->p = q + 1;
      return j->kind = kind;
    }
    if (c == '\\') {
      j->escaped = 1;
      if (++q == j->end) break;
      if (*q == 'u') {
        for (int k = 1; k <= 4; k++)
          if (q + k >= j->end || !strchr("0123456789abcdefABCDEF", q[k]) || q[k] == '\0')
            return q + k >= j->end
                       ? truncated(j)
                       : fail(j, "a bad \\u escape at byte %zu", (size_t)(q - j->start));
        q += 5;
      } else if (strchr("\"\\/bfnrt", *q) && *q != '\0') {
        q++;
      } else {
        return fail(j, "an unknown escape \\%c at byte %zu", *q, (size_t)(q - j->start));
      }
      continue;
    }
    if (c < 0x80) {
      q++;
      continue;
    }
    size_t n = api_utf8_len((const unsigned char *)q, (size_t)(j->end - q));
    if (n == 0) return fail(j, "a string that is not UTF-8 at byte %zu", (size_t)(q - j->start));
    q += n;
  }
  return truncated(j);
}

static jp_kind_t read_number(jp_t *j) {
  const char *q = j->p;
  static const char *const literals[] = {"NaN", "Infinity", "-Infinity"};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(literals[i]);
    if ((size_t)(j->end - q) >= n && memcmp(q, literals[i], n) == 0 && at_delimiter(j, q + n)) {
      j->text = q;
      j->len = n;
      j->p = q + n;
      return j->kind = JP_NUMBER;
    }
  }
  const int minus = q < j->end && *q == '-';
  q += minus;
  if (q == j->end) return truncated(j);
  if (*q == '0') {
    q++;
  } else if (is_digit(*q)) {
    while (q < j->end && is_digit(*q)) q++;
  } else {
    return fail(j, minus ? "a malformed number at byte %zu" : "an unexpected character at byte %zu",
                (size_t)(j->p - j->start));
  }
  if (q < j->end && *q == '.') { /* "1." and "1.e5" too: json-c took them, so grove always has */
    q++;
    while (q < j->end && is_digit(*q)) q++;
  }
  if (q < j->end && (*q == 'e' || *q == 'E')) {
    if (++q < j->end && (*q == '+' || *q == '-')) q++;
    if (q == j->end) return truncated(j);
    if (!is_digit(*q)) return fail(j, "a malformed number at byte %zu", (size_t)(j->p - j->start));
    while (q < j->end && is_digit(*q)) q++;
  }
  if (!at_delimiter(j, q))
    return fail(j, "a malformed number at byte %zu", (size_t)(j->p - j->start));
  j->text = j->p;
  j->len = (size_t)(q - j->p);
  j->p = q;
  return j->kind = JP_NUMBER;
}

static jp_kind_t read_literal(jp_t *j, const char *word, jp_kind_t kind) {
  size_t n = strlen(word), left = (size_t)(j->end - j->p);
  if (left < n)
    return memcmp(j->p, word, left) == 0
               ? truncated(j)
               : fail(j, "an unexpected character at byte %zu", (size_t)(j->p - j->start));
  if (memcmp(j->p, word, n) != 0 || !at_delimiter(j, j->p + n))
    return fail(j, "an unexpected character at byte %zu", (size_t)(j->p - j->start));
  j->text = j->p;
  j->len = n;
  j->p += n;
  return j->kind = kind;
}

/* After a value at the current depth: what may follow it. */
static void value_done(jp_t *j) {
  j->expect = j->depth == 0 ? EXPECT_DOC_END : EXPECT_COMMA_OR_END;
}

static jp_kind_t open_container(jp_t *j, int object) {
  if (j->depth == API_JSON_MAX_DEPTH)
    return fail(j, "nesting deeper than %d levels at byte %zu", API_JSON_MAX_DEPTH,
                (size_t)(j->p - j->start));
  j->in_object[++j->depth] = (uint8_t)object;
  j->p++;
  j->expect = object ? EXPECT_KEY_OR_OBJECT_END : EXPECT_VALUE_OR_ARRAY_END;
  return j->kind = object ? JP_OBJECT : JP_ARRAY;
}

static jp_kind_t close_container(jp_t *j) {
  j->kind = j->in_object[j->depth] ? JP_OBJECT_END : JP_ARRAY_END;
  j->depth--;
  j->p++;
  value_done(j);
  return j->kind;
}

static jp_kind_t read_value(jp_t *j) {
  jp_kind_t k;
  switch (*j->p) {
    case '{':
      return open_container(j, 1);
    case '[':
      return open_container(j, 0);
    case '"':
      k = read_string(j, JP_STRING);
      break;
    case 't':
      k = read_literal(j, "true", JP_TRUE);
      break;
    case 'f':
      k = read_literal(j, "false", JP_FALSE);
      break;
    case 'n':
      k = read_literal(j, "null", JP_NULL);
      break;
    default:
      k = read_number(j);
      break;
  }
  if (k != JP_ERROR) value_done(j);
  return k;
}

static jp_kind_t read_key(jp_t *j) {
  if (*j->p != '"')
    return fail(j, "expected a member name in quotes at byte %zu", (size_t)(j->p - j->start));
  if (read_string(j, JP_KEY) == JP_ERROR) return JP_ERROR;
  skip_space(j);
  if (j->p == j->end) return truncated(j);
  if (*j->p != ':') return fail(j, "expected ':' at byte %zu", (size_t)(j->p - j->start));
  j->p++;
  j->expect = EXPECT_VALUE;
  return JP_KEY;
}

jp_kind_t jp_next(jp_t *j) {
  if (j->kind == JP_ERROR || j->kind == JP_DONE) return j->kind;
  skip_space(j);
  j->offset = (size_t)(j->p - j->start);
  if (j->expect == EXPECT_DOC_END) {
    if (j->p == j->end) return j->kind = JP_DONE;
    return fail(j, "unexpected data at byte %zu after the document", j->offset);
  }
  if (j->p == j->end) return truncated(j);
  char c = *j->p;
  switch (j->expect) {
    case EXPECT_COMMA_OR_END:
      if (c == (j->in_object[j->depth] ? '}' : ']')) return close_container(j);
      if (c != ',')
        return fail(j, "expected ',' or '%c' at byte %zu", j->in_object[j->depth] ? '}' : ']',
                    j->offset);
      j->p++;
      skip_space(j);
      j->offset = (size_t)(j->p - j->start);
      if (j->p == j->end) return truncated(j);
      if (j->in_object[j->depth]) return read_key(j);
      if (*j->p == ']') return fail(j, "a trailing comma at byte %zu", j->offset);
      return read_value(j);
    case EXPECT_KEY_OR_OBJECT_END:
      if (c == '}') return close_container(j);
      return read_key(j);
    case EXPECT_VALUE_OR_ARRAY_END:
      if (c == ']') return close_container(j);
      return read_value(j);
    default: /* EXPECT_VALUE */
      return read_value(j);
  }
}

int jp_skip(jp_t *j, size_t *count, size_t *leaves) {
  size_t n = 0, scalars = 0;
  if (j->kind != JP_OBJECT && j->kind != JP_ARRAY) {
    if (count) *count = 1;
    if (leaves) *leaves = 1;
    return j->kind == JP_ERROR ? -1 : 0;
  }
  const int level = j->depth, object = j->kind == JP_OBJECT;
  for (;;) {
    jp_kind_t k = jp_next(j);
    if (k == JP_ERROR || k == JP_DONE) return -1;
    if ((k == JP_OBJECT_END || k == JP_ARRAY_END) && j->depth == level - 1) break;
    if (k == JP_KEY) {
      n += j->depth == level;
      continue;
    }
    int opens = k == JP_OBJECT || k == JP_ARRAY;
    if (!object && j->depth == level + opens && k != JP_OBJECT_END && k != JP_ARRAY_END) n++;
    if (!opens && k != JP_OBJECT_END && k != JP_ARRAY_END) scalars++;
  }
  if (count) *count = n;
  if (leaves) *leaves = scalars;
  return 0;
}

static size_t hex4(const char *s) {
  size_t v = 0;
  for (int i = 0; i < 4; i++) {
    char c = s[i];
    v = v * 16 + (size_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
  }
  return v;
}

/* Appends code point CP as UTF-8 to BUF at *N (SIZE bytes); 0 when it does not fit. */
static int put_utf8(char *buf, size_t size, size_t *n, size_t cp) {
  char u[4];
  size_t k;
  if (cp < 0x80)
    u[0] = (char)cp, k = 1;
  else if (cp < 0x800)
    u[0] = (char)(0xC0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3F)), k = 2;
  else if (cp < 0x10000)
    u[0] = (char)(0xE0 | cp >> 12), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
    u[2] = (char)(0x80 | (cp & 0x3F)), k = 3;
  else
    u[0] = (char)(0xF0 | cp >> 18), u[1] = (char)(0x80 | ((cp >> 12) & 0x3F)),
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), u[3] = (char)(0x80 | (cp & 0x3F)), k = 4;
  if (*n + k >= size) return 0;
  memcpy(buf + *n, u, k);
  *n += k;
  return 1;
}

size_t jp_string(const jp_t *j, char *buf, size_t size) {
  size_t n = 0;
  const char *s = j->text, *e = j->text + j->len;
  while (s < e) {
    size_t cp;
    if (*s != '\\') {
      if (n + 1 >= size) break;
      buf[n++] = *s++;
      continue;
    }
    s++;
    switch (*s) {
      case 'b':
        cp = '\b';
        break;
      case 'f':
        cp = '\f';
        break;
      case 'n':
        cp = '\n';
        break;
      case 'r':
        cp = '\r';
        break;
      case 't':
        cp = '\t';
        break;
      case 'u':
        cp = hex4(s + 1);
        s += 4;
        /* A high surrogate followed by a low one is one code point; a lone one is U+FFFD. */
        if (cp >= 0xD800 && cp < 0xDC00 && e - s >= 7 && s[1] == '\\' && s[2] == 'u') {
          size_t lo = hex4(s + 3);
          if (lo >= 0xDC00 && lo < 0xE000)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00), s += 6;
        }
        if (cp >= 0xD800 && cp < 0xE000) cp = 0xFFFD;
        break;
      default:
        cp = (unsigned char)*s;
        break; /* '"', '\\', '/' */
    }
    s++;
    if (!put_utf8(buf, size, &n, cp)) break;
  }
  if (size > 0) buf[n < size ? n : size - 1] = '\0';
  return s < e ? SIZE_MAX : n;
}

void jp_number(const jp_t *j, jp_number_t *n) {
  memset(n, 0, sizeof *n);
  const char *s = j->text, *e = j->text + j->len;
  if (j->len >= 3 && (s[0] == 'N' || s[0] == 'I' || s[1] == 'I')) { /* NaN, Infinity, -Infinity */
    n->d = s[0] == 'N' ? NAN : s[0] == '-' ? -INFINITY : INFINITY;
    return;
  }
  n->negative = *s == '-';
  const char *digits = s + n->negative, *q = digits;
  n->fits = 1;
  while (q < e && is_digit(*q)) {
    uint64_t d = (uint64_t)(*q++ - '0');
    if (n->magnitude > (UINT64_MAX - d) / 10)
      n->fits = 0;
    else
      n->magnitude = n->magnitude * 10 + d;
  }
  n->integral = q == e;
  if (n->integral && n->fits) {
    /* One rounding, straight to float32, as numpy and json-c's int path do ("-0" is the
     * integer 0, as json-c reads it). */
    float f = (float)n->magnitude;
    n->d = n->negative && n->magnitude ? -(double)f : (double)f;
    return;
  }
  char small[64], *text = j->len < sizeof small ? small : malloc(j->len + 1);
  if (text == NULL) {
    n->d = NAN;
    return;
  }
  memcpy(text, s, j->len);
  text[j->len] = '\0';
  n->d = strtod(text, NULL);
  if (text != small) free(text);
}

const char *jp_kind_name(jp_kind_t k) {
  static const char *const names[] = {
      [JP_OBJECT] = "an object", [JP_ARRAY] = "an array", [JP_STRING] = "a string",
      [JP_NUMBER] = "a number",  [JP_TRUE] = "a boolean", [JP_FALSE] = "a boolean",
      [JP_NULL] = "null",
  };
  const char *name = (unsigned)k < sizeof names / sizeof names[0] ? names[k] : NULL;
  return name != NULL ? name : "nothing";
}

/* ---- what the decoders share ---- */

int api__json_syntax_error(const jp_t *j, api_error_t *err) {
  if (j->truncated)
    return api__fail(err, 400, "not valid JSON: the body ends in the middle of a value");
  return api__fail(err, 400, "not valid JSON: %s", j->error);
}

int api__json_body_start(jp_t *j, const char *body, size_t len, api_error_t *err) {
  size_t i = 0;
  while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) i++;
  if (i == len) return api__fail(err, 400, "empty body: expected a JSON object");
  jp_init(j, body, len);
  jp_kind_t k = jp_next(j);
  if (k == JP_ERROR) return api__json_syntax_error(j, err);
  if (k == JP_OBJECT) return 0;
  /* Not an object: a syntax error later in the body still takes precedence. */
  if (jp_skip(j, NULL, NULL) != 0 || jp_next(j) != JP_DONE) return api__json_syntax_error(j, err);
  return api__fail(err, 400, "expected a JSON object, got %s", jp_kind_name(k));
}

/* The current string token of J as a NUL-terminated string: in SMALL (SIZE bytes) when it
 * fits, else malloc'd into *HEAP (the caller frees it); NULL when out of memory. */
const char *api__json_text(const jp_t *j, char *small, size_t size, char **heap, size_t *len) {
  *heap = NULL;
  if (!j->escaped && j->len < size) {
    memcpy(small, j->text, j->len);
    small[j->len] = '\0';
    *len = j->len;
    return small;
  }
  if (j->len < size) {
    *len = jp_string(j, small, size);
    return small;
  }
  if ((*heap = malloc(j->len + 1)) == NULL) return NULL;
  *len = jp_string(j, *heap, j->len + 1);
  return *heap;
}
