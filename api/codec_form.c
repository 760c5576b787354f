/*
 * The browser's own protocol: an HTML form posted as application/x-www-form-urlencoded or
 * multipart/form-data, read as one record by feature name, and the small HTML page a
 * browser that posted without JavaScript gets back (the answer or the refusal).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "codecs.h"

#define CONTENT_TYPE_HTML "text/html; charset=utf-8"

/* ------------------------------------------------------------------------- */
/* Fields                                                                     */

typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema;
  api_request_t *req;
  uint8_t *given; /* per feature: already set */
  api_error_t *err;
} form_t;

/* The "explain" field (a checkbox: "on" when ticked; "1" or "true" from a script) asks for
 * contributions, as "explain": true does in JSON. A feature of that name wins over it. */
static int put_explain(form_t *f, const char *value, size_t vlen) {
  static const char *const yes[] = {"1", "true", "on"}, *const no[] = {"", "0", "false", "off"};
  for (size_t i = 0; i < 4; i++) {
    if (i < 3 && strlen(yes[i]) == vlen && strncasecmp(yes[i], value, vlen) == 0)
      return f->req->explain = 1, 0;
    if (strlen(no[i]) == vlen && strncasecmp(no[i], value, vlen) == 0)
      return f->req->explain = 0, 0;
  }
  return api__fail(f->err, 400, "form field \"explain\" must be 1, true or on (or 0, false, off)");
}

/* Field NAME = VALUE (decoded bytes) into the record: an empty value is missing. */
static int put_field(form_t *f, const char *name, size_t nlen, const char *value, size_t vlen) {
  char some[120];
  int q = (int)(nlen > API_QUOTE_MAX ? API_QUOTE_MAX : nlen);
  for (size_t i = 0; i < nlen + vlen; i++) {
    const char *p = i < nlen ? name + i : value + i - nlen;
    size_t left = i < nlen ? nlen - i : vlen - (i - nlen);
    size_t l = api_utf8_len((const unsigned char *)p, left);
    if (l == 0 || (unsigned char)*p < 0x20)
      return api__fail(f->err, 400, "form field %s is not UTF-8 text", i < nlen ? "name" : "value");
    i += l - 1;
  }
  int32_t j = api__feature_lookup(f->forest, f->schema, name, nlen);
  if (j < 0 && nlen == 7 && memcmp(name, "explain", 7) == 0) return put_explain(f, value, vlen);
  if (j < 0)
    return api__fail(f->err, 400, "unknown form field \"%.*s\" (features: %s)", q, name,
                     api__feature_list(f->forest, f->schema, some, sizeof some));
  if (f->given[j]++) return api__fail(f->err, 400, "form field \"%.*s\" is given twice", q, name);
  if (vlen == 0) return 0; /* missing */
  api_loc_t loc = {NULL, 0, (uint32_t)j, f->req};
  return api__put_text(value, vlen, f->forest, f->schema, f->req->unknown_missing, &loc,
                       &f->req->rows[j], f->err);
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Percent-decodes S (LEN bytes; '+' is a space) into OUT (at least LEN bytes); the decoded
 * length, or SIZE_MAX on a broken escape. */
static size_t url_decode(const char *s, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '+') {
      out[o++] = ' ';
    } else if (s[i] != '%') {
      out[o++] = s[i];
    } else {
      int hi = i + 2 < len ? hex_value(s[i + 1]) : -1, lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
      if (lo < 0) return SIZE_MAX;
      out[o++] = (char)(hi << 4 | lo);
      i += 2;
    }
  }
  return o;
}

/* name=value&name=value... (WHATWG's application/x-www-form-urlencoded). */
static int decode_urlencoded(form_t *f, const char *body, size_t len, char *scratch) {
  for (size_t i = 0; i < len;) {
    size_t end = i;
    while (end < len && body[end] != '&') end++;
    size_t eq = i;
    while (eq < end && body[eq] != '=') eq++;
    if (end > i) { /* "&&" is an empty pair: skipped, as browsers do */
      char *name = scratch, *value;
      size_t nlen = url_decode(body + i, eq - i, name), vlen = 0;
      value = name + (nlen == SIZE_MAX ? 0 : nlen);
      if (nlen != SIZE_MAX && eq < end) vlen = url_decode(body + eq + 1, end - eq - 1, value);
      if (nlen == SIZE_MAX || vlen == SIZE_MAX)
        return api__fail(f->err, 400, "form field at byte %zu: a %% escape must be %%XX (hex)", i);
      if (put_field(f, name, nlen, value, vlen) != 0) return -1;
    }
    i = end + 1;
  }
  return 0;
}

/* The value of parameter KEY (e.g. boundary, name) in header text S..END: quoted or not;
 * NULL when absent. */
static const char *header_param(const char *s, const char *end, const char *key, size_t *len) {
  size_t klen = strlen(key);
  for (const char *p = s; p < end; p++) {
    if (*p != ';') continue;
    const char *k = p + 1;
    while (k < end && (*k == ' ' || *k == '\t')) k++;
    if ((size_t)(end - k) <= klen || strncasecmp(k, key, klen) != 0 || k[klen] != '=') continue;
    const char *v = k + klen + 1, *e = v;
    if (v < end && *v == '"') {
      e = ++v;
      while (e < end && *e != '"') e++;
    } else {
      while (e < end && *e != ';' && *e != ' ' && *e != '\t') e++;
    }
    *len = (size_t)(e - v);
    return v;
  }
  return NULL;
}

static const char *find(const char *s, const char *end, const char *what, size_t n) {
  for (const char *p = s; p + n <= end; p++) {
    p = memchr(p, what[0], (size_t)(end - p));
    if (p == NULL || p + n > end) return NULL;
    if (memcmp(p, what, n) == 0) return p;
  }
  return NULL;
}

/* One part's headers H..HEND: its field name (Content-Disposition: form-data; name=...). */
static int part_name(form_t *f, const char *h, const char *hend, const char **name, size_t *nlen) {
  *name = NULL;
  for (const char *line = h; line < hend;) {
    const char *eol = find(line, hend, "\r\n", 2);
    if (eol == NULL) eol = hend;
    static const char cd[] = "content-disposition:";
    if ((size_t)(eol - line) > sizeof cd - 1 && strncasecmp(line, cd, sizeof cd - 1) == 0) {
      size_t flen;
      if (header_param(line, eol, "filename", &flen) != NULL)
        return api__fail(f->err, 400,
                         "a file in a form post is not read: send the record's fields, or rows "
                         "as JSON");
      *name = header_param(line, eol, "name", nlen);
    }
    line = eol + 2;
  }
  if (*name == NULL)
    return api__fail(f->err, 400, "a form part without Content-Disposition: form-data; name=...");
  return 0;
}

/* multipart/form-data (RFC 7578): parts between "--BOUNDARY" lines, each with its headers,
 * a blank line and its value. */
static int decode_multipart(form_t *f, const char *body, size_t len, const char *ctype,
                            size_t ctlen) {
  size_t blen;
  const char *b = header_param(ctype, ctype + ctlen, "boundary", &blen);
  if (b == NULL || blen == 0 || blen > 70)
    return api__fail(f->err, 400, "multipart/form-data without a boundary parameter");
  char delim[80];
  int dlen = snprintf(delim, sizeof delim, "\r\n--%.*s", (int)blen, b);
  const char *end = body + len, *p;
  if (len >= (size_t)dlen - 2 && memcmp(body, delim + 2, (size_t)dlen - 2) == 0)
    p = body + dlen - 2; /* the first delimiter opens the body, without the CRLF before it */
  else if ((p = find(body, end, delim, (size_t)dlen)) != NULL)
    p += dlen; /* after a preamble */
  else
    return api__fail(f->err, 400, "multipart/form-data: the boundary never appears");
  for (;;) {
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') return 0; /* the closing delimiter */
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') break;
    const char *h = p + 2, *hend = find(h, end, "\r\n\r\n", 4);
    if (hend == NULL) break;
    const char *value = hend + 4, *next = find(value, end, delim, (size_t)dlen);
    if (next == NULL) break;
    const char *name;
    size_t nlen;
    if (part_name(f, h, hend + 2, &name, &nlen) != 0 ||
        put_field(f, name, nlen, value, (size_t)(next - value)) != 0)
      return -1;
    p = next + dlen;
  }
  return api__fail(f->err, 400, "multipart/form-data: a part or the closing boundary is cut short");
}

int api__form_decode(const char *body, size_t len, const char *ctype, size_t ctlen, int multipart,
                     const grove_forest_t *forest, const grove_schema_t *schema,
                     const api_limits_t *limits, api_request_t *req, api_error_t *err) {
  if (len == 0) return api__fail(err, 400, "empty form: post the features as fields");
  if (api__alloc_rows(1, forest, limits, req, err) != 0) return -1;
  form_t f = {forest, schema, req, calloc(req->num_features + 1, 1), err};
  char *scratch = multipart ? NULL : malloc(len);
  int rc = f.given == NULL || (!multipart && scratch == NULL) ? api__fail(err, 500, "out of memory")
           : multipart ? decode_multipart(&f, body, len, ctype, ctlen)
                       : decode_urlencoded(&f, body, len, scratch);
  free(scratch);
  free(f.given);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* The page                                                                   */

/* S as HTML text. */
static void put_html(api_buf_t *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const char *e = s[i] == '<'    ? "&lt;"
                    : s[i] == '>'  ? "&gt;"
                    : s[i] == '&'  ? "&amp;"
                    : s[i] == '"'  ? "&quot;"
                    : s[i] == '\'' ? "&#39;"
                                   : NULL;
    if (e != NULL)
      api_buf_puts(b, e);
    else
      api_buf_put(b, &s[i], 1);
  }
}

static void page_start(api_buf_t *b, const char *title) {
  api_buf_puts(b,
               "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width\"><title>");
  put_html(b, title, strlen(title));
  api_buf_puts(b,
               "</title></head>\n<body style=\"font-family: sans-serif; max-width: 40em; "
               "margin: 2em auto\">\n<h1>");
  put_html(b, title, strlen(title));
  api_buf_puts(b, "</h1>\n");
}

static int page_finish(api_buf_t *b, api_body_t *body) {
  api_buf_puts(b, "<p><a href=\"/\">Back to the form</a></p>\n</body></html>\n");
  return api_buf_finish(b, CONTENT_TYPE_HTML, body);
}

/* Row R's contributions as a table: a row per feature and the bias, a column per group. */
static void put_contribs_table(api_buf_t *b, const api_answer_t *a, size_t r) {
  const uint32_t per = a->num_features + 1;
  const double *c = a->req->contribs + r * a->num_groups * per;
  api_buf_puts(b, "<table id=\"contributions\"><caption>Contributions to the margin</caption>\n");
  for (uint32_t j = 0; j < per; j++) {
    char buf[16];
    const char *name =
        j < a->num_features ? api__feature_name(a->forest, a->schema, j, buf) : "bias";
    api_buf_puts(b, "<tr><th>");
    put_html(b, name, strlen(name));
    api_buf_puts(b, "</th>");
    for (uint32_t g = 0; g < a->num_groups; g++) api_buf_printf(b, "<td>%.6g</td>", c[g * per + j]);
    api_buf_puts(b, "</tr>\n");
  }
  api_buf_puts(b, "</table>\n");
}

int api__html_encode_v1(const api_answer_t *a, api_body_t *body) {
  api_buf_t b = {0};
  page_start(&b, a->model_name[0] ? a->model_name : "prediction");
  for (size_t r = 0; r < a->req->nrows; r++) {
    api_buf_puts(&b, "<p>");
    if (a->labels) {
      int32_t k = api__answer_label(a, r, 0);
      api_buf_puts(&b, "Predicted class: <strong id=\"label\">");
      if (a->schema != NULL && k >= 0 && (uint32_t)k < a->schema->num_labels)
        put_html(&b, a->schema->labels[k], strlen(a->schema->labels[k]));
      else
        api_buf_printf(&b, "%d", k);
      api_buf_puts(&b, "</strong><br>\n");
    }
    api_buf_puts(&b, a->labels ? "Probability" : "Prediction");
    api_buf_puts(&b, ": <span id=\"prediction\">");
    for (uint32_t k = 0; k < a->width; k++)
      api_buf_printf(&b, "%s%.6g", k ? ", " : "", (double)a->out[r * a->width + k]);
    api_buf_puts(&b, "</span></p>\n");
    if (a->req->contribs != NULL) put_contribs_table(&b, a, r);
  }
  return page_finish(&b, body);
}

int api__html_encode_error(const char *message, api_body_t *body) {
  api_buf_t b = {0};
  page_start(&b, "Not scored");
  api_buf_puts(&b, "<p id=\"error\">");
  put_html(&b, message, strlen(message));
  api_buf_puts(&b, "</p>\n");
  return page_finish(&b, body);
}
