/* The growable output buffer and the JSON writers every encoder (and /metrics) uses. */
#include "buf.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

size_t api_utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len) return 0;
  unsigned cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

int api_buf_reserve(api_buf_t *b, size_t more) {
  if (b->failed) return -1;
  if (more <= b->cap - b->len) return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap - b->len < more) {
    if (cap > SIZE_MAX / 2) {
      b->failed = 1;
      return -1;
    }
    cap *= 2;
  }
  char *p = realloc(b->data, cap);
  if (p == NULL) {
    b->failed = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void api_buf_put(api_buf_t *b, const void *p, size_t n) {
  if (n == 0 || api_buf_reserve(b, n) != 0) return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void api_buf_puts(api_buf_t *b, const char *s) { api_buf_put(b, s, strlen(s)); }

void api_buf_printf(api_buf_t *b, const char *fmt, ...) {
  va_list ap;
  char small[128];
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) {
    b->failed = 1;
    return;
  }
  if ((size_t)n < sizeof small) return api_buf_put(b, small, (size_t)n);
  if (api_buf_reserve(b, (size_t)n + 1) != 0) return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

void api_buf_json_string(api_buf_t *b, const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  if (api_buf_reserve(b, n + 2) != 0) return;
  api_buf_put(b, "\"", 1);
  size_t i = 0;
  while (i < n) {
    size_t run = i; /* copy plain bytes in one go */
    while (run < n && s[run] >= 0x20 && s[run] < 0x80 && s[run] != '"' && s[run] != '\\') run++;
    api_buf_put(b, s + i, run - i);
    i = run;
    if (i >= n) break;
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      api_buf_put(b, esc, 2);
      i++;
    } else if (c < 0x20) {
      char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      if (c == '\n')
        api_buf_put(b, "\\n", 2);
      else if (c == '\t')
        api_buf_put(b, "\\t", 2);
      else if (c == '\r')
        api_buf_put(b, "\\r", 2);
      else
        api_buf_put(b, esc, 6);
      i++;
    } else {
      size_t l = api_utf8_len(s + i, n - i);
      if (l == 0) {
        api_buf_put(b, "\xEF\xBF\xBD", 3); /* U+FFFD */
        i++;
      } else {
        api_buf_put(b, s + i, l);
        i += l;
      }
    }
  }
  api_buf_put(b, "\"", 1);
}

/*
 * |V| * 10^K rounded to an integer half to even, as printf rounds the exact value, for
 * V = M * 2^E (M < 2^24): M * 5^K * 2^(E+K) in 128-bit integers. Returns -1 when it does
 * not fit them (K outside 0..26, or a shift past 127 bits).
 */
static int64_t scaled_digits(uint32_t m, int e2, int k) {
  if (k < 0 || k > 26) return -1;
  unsigned __int128 x = m;
  for (int i = 0; i < k; i++) x *= 5;
  int shift = -(e2 + k);
  if (shift <= 0) return shift < -40 ? -1 : (int64_t)(x << -shift);
  if (shift > 127) return -1;
  unsigned __int128 q = x >> shift, rem = x - (q << shift),
                    half = (unsigned __int128)1 << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return (int64_t)q;
}

/*
 * Writes V (finite) to OUT as printf's "%.9g" does, without printf (an eighth of the loop
 * thread's user time in single-row answers went to it); 0 when V is out of the fast
 * range (|V| < 1e-18 or >= 1e9, where the caller uses snprintf). tests/test_api_json.c
 * compares the two on every float class.
 */
static size_t format_float9(float v, char *out) {
  char *o = out;
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  if (bits >> 31) *o++ = '-';
  const uint32_t biased = (bits >> 23) & 0xff, frac = bits & 0x7fffff;
  if (biased == 0 && frac == 0) {
    *o++ = '0';
    return (size_t)(o - out);
  }
  const uint32_t m = biased ? frac | 0x800000 : frac;
  const int e2 = biased ? (int)biased - 150 : -149;
  /* The decimal exponent of the rounded value: a guess from log10, then corrected. */
  int e10 = (int)floor(log10(fabs((double)v)));
  int64_t d = -1;
  for (int tries = 0; tries < 3; tries++) {
    d = scaled_digits(m, e2, 8 - e10);
    if (d < 0) return 0;
    if (d >= 1000000000)
      e10++;
    else if (d < 100000000)
      e10--;
    else
      break;
  }
  if (d < 100000000 || d >= 1000000000 || e10 < -18 || e10 >= 9) return 0;
  char dig[9];
  int nd = 9;
  for (int i = 8; i >= 0; i--, d /= 10) dig[i] = (char)('0' + d % 10);
  while (nd > 1 && dig[nd - 1] == '0') nd--;
  if (e10 >= -4) { /* %g's fixed form: 9 > e10 >= -4 */
    if (e10 < 0) {
      *o++ = '0';
      *o++ = '.';
      for (int i = -1; i > e10; i--) *o++ = '0';
      memcpy(o, dig, (size_t)nd);
      o += nd;
    } else {
      for (int i = 0; i <= e10; i++) *o++ = i < nd ? dig[i] : '0';
      if (nd > e10 + 1) {
        *o++ = '.';
        memcpy(o, dig + e10 + 1, (size_t)(nd - e10 - 1));
        o += nd - e10 - 1;
      }
    }
  } else { /* d.ddde-XX */
    *o++ = dig[0];
    if (nd > 1) {
      *o++ = '.';
      memcpy(o, dig + 1, (size_t)(nd - 1));
      o += nd - 1;
    }
    *o++ = 'e';
    *o++ = '-';
    *o++ = (char)('0' + -e10 / 10);
    *o++ = (char)('0' + -e10 % 10);
  }
  return (size_t)(o - out);
}

void api_buf_json_float(api_buf_t *b, float v) {
  if (isnan(v)) return api_buf_put(b, "null", 4);
  if (isinf(v)) return v > 0 ? api_buf_put(b, "1e999", 5) : api_buf_put(b, "-1e999", 6);
  if (api_buf_reserve(b, 32) != 0) return;
  size_t fast = format_float9(v, b->data + b->len);
  if (fast > 0) {
    b->len += fast;
    return;
  }
  int n = snprintf(b->data + b->len, 32, "%.9g", (double)v);
  if (n > 0 && n < 32)
    b->len += (size_t)n;
  else
    b->failed = 1;
}

void api_buf_json_double(api_buf_t *b, double v) {
  if (!isfinite(v)) return api_buf_put(b, "null", 4);
  if (api_buf_reserve(b, 32) != 0) return;
  /* 15 digits when they read back as V (most values: shorter text), else 17 (always do). */
  char *o = b->data + b->len;
  int n = snprintf(o, 32, "%.15g", v);
  if (n > 0 && n < 32 && strtod(o, NULL) != v) n = snprintf(o, 32, "%.17g", v);
  if (n > 0 && n < 32)
    b->len += (size_t)n;
  else
    b->failed = 1;
}

int api_buf_finish(api_buf_t *b, const char *content_type, api_body_t *body) {
  if (api_buf_reserve(b, 1) == 0) b->data[b->len] = '\0';
  if (b->failed) {
    free(b->data);
    memset(b, 0, sizeof *b);
    return -1;
  }
  body->data = b->data;
  body->len = b->len;
  body->content_type = content_type;
  memset(b, 0, sizeof *b);
  return 0;
}
