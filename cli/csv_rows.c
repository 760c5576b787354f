/* CSV parsing is libcsv's; this file maps columns to features and fields to floats. */
#include "csv_rows.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const csv_rows_opts_t *opts;
  uint32_t num_features;
  size_t record; /* 0 is the header */
  uint32_t col;  /* column within the current record */
  char **header; /* header names, ncols of them */
  uint32_t ncols, cap_cols;
  int32_t *col_feature; /* feature of each column, or -1 when ignored */
  float *rows;
  size_t nrows, cap_rows;
  grove_err_t rc;
  grove_error_t *err;
} reader_t;

static void reader_fail(reader_t *r, grove_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void reader_fail(reader_t *r, grove_err_t code, const char *fmt, ...) {
  if (r->rc != GROVE_OK) return; /* keep the first error */
  r->rc = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
  va_end(ap);
}

static int is_missing(const char *s, size_t len) {
  return len == 0 || (len == 3 && (memcmp(s, "nan", 3) == 0 || memcmp(s, "NaN", 3) == 0)) ||
         (len == 2 && memcmp(s, "NA", 2) == 0);
}

/* Parses a numeric field the way numpy does (strtod, then rounded once to float32). */
static int parse_number(const char *s, float *out) {
  char *end;
  *out = (float)strtod(s, &end); /* the caller drops *OUT when this fails */
  return end == s || *end != '\0' ? -1 : 0;
}

static const char *column_name(const reader_t *r, uint32_t col) {
  return col < r->ncols ? r->header[col] : "?";
}

static void on_header_field(reader_t *r, const char *s) {
  if (r->ncols == r->cap_cols) {
    uint32_t cap = r->cap_cols ? r->cap_cols * 2 : 32;
    char **h = realloc(r->header, cap * sizeof *h);
    if (h == NULL) return reader_fail(r, GROVE_ENOMEM, "out of memory");
    r->header = h;
    r->cap_cols = cap;
  }
  if ((r->header[r->ncols] = strdup(s)) == NULL)
    return reader_fail(r, GROVE_ENOMEM, "out of memory");
  r->ncols++;
}

/* Maps header columns to features once the header row is complete. */
static void on_header_end(reader_t *r) {
  const grove_forest_t *f = r->opts->forest;
  r->col_feature = malloc((r->ncols ? r->ncols : 1) * sizeof *r->col_feature);
  uint8_t *seen = calloc(r->num_features, 1);
  if (r->col_feature == NULL || seen == NULL) {
    free(seen);
    return reader_fail(r, GROVE_ENOMEM, "out of memory");
  }
  int by_name = grove_forest_feature_name(f, 0) != NULL;
  for (uint32_t c = 0; c < r->ncols; c++) {
    int32_t j = by_name ? grove_forest_feature_index(f, r->header[c])
                        : (c < r->num_features ? (int32_t)c : -1);
    if (j >= 0 && seen[j]) {
      reader_fail(r, GROVE_EINPUT, "line 1, column %u: \"%s\" appears twice in the header", c + 1,
                  r->header[c]);
      break;
    }
    if (j < 0 && !r->opts->ignore_extra) {
      if (by_name)
        reader_fail(r, GROVE_EINPUT,
                    "line 1, column %u: unknown column \"%s\" (not a feature of the model; "
                    "--ignore-extra skips such columns)",
                    c + 1, r->header[c]);
      else
        reader_fail(r, GROVE_EINPUT,
                    "line 1, column %u: the model has only %u features (--ignore-extra "
                    "skips extra columns)",
                    c + 1, r->num_features);
      break;
    }
    if (j >= 0) seen[j] = 1;
    r->col_feature[c] = j;
  }
  for (uint32_t j = 0; j < r->num_features && r->rc == GROVE_OK; j++) {
    if (seen[j]) continue;
    const char *name = grove_forest_feature_name(f, j);
    if (name != NULL)
      reader_fail(r, GROVE_EINPUT, "line 1: no column for feature \"%s\"", name);
    else
      reader_fail(r, GROVE_EINPUT, "line 1: %u columns, the model has %u features", r->ncols,
                  r->num_features);
  }
  free(seen);
}

/* The row being filled: the slot after the last complete one. */
static float *current_row(reader_t *r) {
  if (r->col == 0) {
    if (r->nrows == r->cap_rows) {
      size_t cap = r->cap_rows ? r->cap_rows * 2 : 1024;
      float *p = realloc(r->rows, cap * r->num_features * sizeof *p);
      if (p == NULL) return NULL;
      r->rows = p;
      r->cap_rows = cap;
    }
    float *row = r->rows + r->nrows * r->num_features;
    for (uint32_t j = 0; j < r->num_features; j++) row[j] = NAN;
  }
  return r->rows + r->nrows * r->num_features;
}

static void on_data_field(reader_t *r, const char *s, size_t len) {
  float *row = current_row(r);
  if (row == NULL) return reader_fail(r, GROVE_ENOMEM, "out of memory");
  uint32_t c = r->col;
  if (c >= r->ncols) return; /* counted and reported at the end of the record */
  int32_t j = r->col_feature[c];
  if (j < 0 || is_missing(s, len)) return;
  const grove_schema_t *schema = r->opts->schema;
  if (schema != NULL && schema->features[j].type == GROVE_FEATURE_CATEGORICAL) {
    int32_t code = grove_schema_category_code(schema, (uint32_t)j, s, len);
    float v;
    /* Not one of the strings: an integer code in range is accepted, as in the HTTP API. */
    if (code < 0 && parse_number(s, &v) == 0 && v >= 0.0f &&
        v < (float)schema->features[j].num_categories && v == floorf(v))
      code = (int32_t)v;
    if (code < 0)
      return reader_fail(
          r, GROVE_EINPUT,
          "line %zu, column %u (\"%s\"): unknown category \"%.*s\" (neither one of the schema's %u "
          "categories nor a code below that)",
          r->record + 1, c + 1, column_name(r, c), (int)(len > 64 ? 64 : len), s,
          schema->features[j].num_categories);
    row[j] = (float)code;
    return;
  }
  if (parse_number(s, &row[j]) != 0)
    reader_fail(r, GROVE_EINPUT, "line %zu, column %u (\"%s\"): not a number: \"%.*s\"",
                r->record + 1, c + 1, column_name(r, c), (int)(len > 64 ? 64 : len), s);
}

static void on_field(void *s, size_t len, void *data) {
  reader_t *r = data;
  if (r->rc != GROVE_OK) return;
  const char *text = s ? s : "";
  if (s == NULL) len = 0;
  if (strlen(text) != len) { /* an embedded NUL byte */
    reader_fail(r, GROVE_EINPUT, "line %zu, column %u: NUL byte in field", r->record + 1,
                r->col + 1);
    return;
  }
  if (r->record == 0)
    on_header_field(r, text);
  else
    on_data_field(r, text, len);
  r->col++;
}

static void on_record(int term, void *data) {
  (void)term;
  reader_t *r = data;
  if (r->rc == GROVE_OK) {
    if (r->record == 0) {
      on_header_end(r);
    } else if (r->col != r->ncols) {
      reader_fail(r, GROVE_EINPUT, "line %zu: %u fields, the header has %u", r->record + 1, r->col,
                  r->ncols);
    } else {
      r->nrows++;
    }
  }
  r->record++;
  r->col = 0;
}

grove_err_t csv_rows_read(FILE *fp, const csv_rows_opts_t *opts, float **rows, size_t *nrows,
                          grove_error_t *err) {
  *rows = NULL;
  *nrows = 0;
  grove_forest_info_t info;
  grove_forest_get_info(opts->forest, &info);
  reader_t r = {.opts = opts, .num_features = info.num_features, .err = err};
  struct csv_parser p;
  if (csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI) != 0) {
    snprintf(err->msg, sizeof err->msg, "out of memory");
    return GROVE_ENOMEM;
  }
  char buf[1 << 16];
  size_t got;
  while (r.rc == GROVE_OK && (got = fread(buf, 1, sizeof buf, fp)) > 0) {
    if (csv_parse(&p, buf, got, on_field, on_record, &r) != got)
      reader_fail(&r, GROVE_EINPUT, "line %zu: malformed CSV (%s)", r.record + 1,
                  csv_strerror(csv_error(&p)));
  }
  if (r.rc == GROVE_OK && ferror(fp)) reader_fail(&r, GROVE_EIO, "read error: %s", strerror(errno));
  if (r.rc == GROVE_OK && csv_fini(&p, on_field, on_record, &r) != 0)
    reader_fail(&r, GROVE_EINPUT, "line %zu: malformed CSV (%s)", r.record + 1,
                csv_strerror(csv_error(&p)));
  csv_free(&p);
  if (r.rc == GROVE_OK && r.record == 0) reader_fail(&r, GROVE_EINPUT, "line 1: no header row");
  for (uint32_t c = 0; c < r.ncols; c++) free(r.header[c]);
  free(r.header);
  free(r.col_feature);
  if (r.rc != GROVE_OK) {
    free(r.rows);
    return r.rc;
  }
  *rows = r.rows;
  *nrows = r.nrows;
  return GROVE_OK;
}
