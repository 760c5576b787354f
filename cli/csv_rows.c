/* CSV parsing is libcsv's; this file maps columns to features and fields to values. */
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
  csv_rows_t *out;
  size_t cap_rows;
  int row_bad;       /* the current record has an error (per-row mode: ROW_MSG) */
  char row_msg[256];
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

/* A bad data row: the whole read fails, or in per-row mode only this row does. The
 * message starts with the line number either way. */
static void row_fail(reader_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void row_fail(reader_t *r, const char *fmt, ...) {
  if (r->row_bad) return; /* keep the row's first error */
  r->row_bad = 1;
  char *msg = r->opts->per_row_errors ? r->row_msg : r->err->msg;
  size_t size = r->opts->per_row_errors ? sizeof r->row_msg : sizeof r->err->msg;
  if (!r->opts->per_row_errors) {
    if (r->rc != GROVE_OK) return;
    r->rc = GROVE_EINPUT;
  }
  int n = snprintf(msg, size, "line %zu", r->record + 1);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < size) vsnprintf(msg + n, size - (size_t)n, fmt, ap);
  va_end(ap);
}

static int is_missing(const reader_t *r, uint32_t feature, const char *s, size_t len) {
  return len == 0 || (len == 3 && (memcmp(s, "nan", 3) == 0 || memcmp(s, "NaN", 3) == 0)) ||
         (len == 2 && memcmp(s, "NA", 2) == 0) ||
         grove_schema_is_missing(r->opts->schema, feature, s, len);
}

/* Parses a numeric field as numpy and LightGBM do: strtod, the double kept as it is. */
static int parse_number(const char *s, double *out) {
  char *end;
  *out = strtod(s, &end); /* the caller drops *OUT when this fails */
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

/* The row being filled: the slot after the last complete one (all missing at its start). */
static double *current_row(reader_t *r) {
  csv_rows_t *o = r->out;
  const size_t nf = r->num_features ? r->num_features : 1;
  if (r->col == 0) {
    if (o->nrows == r->cap_rows) {
      size_t cap = r->cap_rows ? r->cap_rows * 2 : 1024;
      if (cap > SIZE_MAX / sizeof(double) / nf) return NULL;
      double *p = realloc(o->values, cap * nf * sizeof *p);
      if (p == NULL) return NULL;
      o->values = p;
      if (r->opts->per_row_errors) {
        char **e = realloc(o->errors, cap * sizeof *e);
        if (e == NULL) return NULL;
        o->errors = e;
      }
      r->cap_rows = cap;
    }
    double *row = o->values + o->nrows * nf;
    for (uint32_t j = 0; j < r->num_features; j++) row[j] = NAN;
  }
  return o->values + o->nrows * nf;
}

/* Category text for categorical feature J (the schema has its labels). */
static void read_category(reader_t *r, uint32_t c, uint32_t j, const char *s, size_t len,
                          double *dst) {
  const grove_schema_t *schema = r->opts->schema;
  const int shown = (int)(len > 64 ? 64 : len);
  double code;
  switch (grove_schema_category_read(schema, j, s, len, r->opts->categories, &code)) {
    case GROVE_CATEGORY_LABEL:
    case GROVE_CATEGORY_CODE:
      *dst = code; /* codes outside the labels reach the model, as in LightGBM and XGBoost */
      return;
    case GROVE_CATEGORY_AMBIGUOUS:
      return row_fail(r,
                      ", column %u (\"%s\"): \"%.*s\" is both a label (code %.0f) and the code "
                      "of another label; say which with --categories labels or --categories codes",
                      c + 1, column_name(r, c), shown, s, code);
    case GROVE_CATEGORY_UNKNOWN:
      break;
  }
  if (r->opts->categories == GROVE_CATEGORIES_CODES)
    return row_fail(r, ", column %u (\"%s\"): not a category code: \"%.*s\" (--categories codes)",
                    c + 1, column_name(r, c), shown, s);
  if (r->opts->unknown_missing) return; /* stays missing */
  row_fail(r,
           ", column %u (\"%s\"): unknown category \"%.*s\" (not one of the schema's %u labels%s)",
           c + 1, column_name(r, c), shown, s, schema->features[j].num_categories,
           r->opts->categories == GROVE_CATEGORIES_LABELS ? "" : ", nor a number");
}

static void on_data_field(reader_t *r, const char *s, size_t len) {
  double *row = current_row(r);
  if (row == NULL) return reader_fail(r, GROVE_ENOMEM, "out of memory");
  uint32_t c = r->col;
  if (c >= r->ncols) return; /* counted and reported at the end of the record */
  int32_t j = r->col_feature[c];
  if (j < 0 || is_missing(r, (uint32_t)j, s, len)) return;
  const grove_schema_t *schema = r->opts->schema;
  if (schema != NULL && schema->features[j].type == GROVE_FEATURE_CATEGORICAL)
    return read_category(r, c, (uint32_t)j, s, len, &row[j]);
  if (parse_number(s, &row[j]) != 0) {
    row[j] = NAN;
    row_fail(r, ", column %u (\"%s\"): not a number: \"%.*s\"", c + 1, column_name(r, c),
             (int)(len > 64 ? 64 : len), s);
  }
}

static void on_field(void *s, size_t len, void *data) {
  reader_t *r = data;
  if (r->rc != GROVE_OK) return;
  const char *text = s ? s : "";
  if (s == NULL) len = 0;
  if (r->record == 0) {
    if (strlen(text) != len)
      reader_fail(r, GROVE_EINPUT, "line 1, column %u: NUL byte in field", r->col + 1);
    else
      on_header_field(r, text);
  } else if (strlen(text) != len) { /* an embedded NUL byte */
    if (current_row(r) == NULL) return reader_fail(r, GROVE_ENOMEM, "out of memory");
    row_fail(r, ", column %u: NUL byte in field", r->col + 1);
  } else {
    on_data_field(r, text, len);
  }
  r->col++;
}

/* Ends a data record: a complete row, or in per-row mode a bad one kept with its message. */
static void end_data_record(reader_t *r) {
  if (r->col == 0 && current_row(r) == NULL) return reader_fail(r, GROVE_ENOMEM, "out of memory");
  if (r->col != r->ncols)
    row_fail(r, ": %u fields, the header has %u", r->col, r->ncols);
  if (r->rc != GROVE_OK) return;
  csv_rows_t *o = r->out;
  if (r->opts->per_row_errors) {
    o->errors[o->nrows] = NULL;
    if (r->row_bad) {
      double *row = o->values + o->nrows * (r->num_features ? r->num_features : 1);
      for (uint32_t j = 0; j < r->num_features; j++) row[j] = NAN; /* nothing half-read */
      if ((o->errors[o->nrows] = strdup(r->row_msg)) == NULL)
        return reader_fail(r, GROVE_ENOMEM, "out of memory");
      o->num_errors++;
    }
  }
  o->nrows++;
}

static void on_record(int term, void *data) {
  (void)term;
  reader_t *r = data;
  if (r->rc == GROVE_OK) {
    if (r->record == 0)
      on_header_end(r);
    else
      end_data_record(r);
  }
  r->record++;
  r->col = 0;
  r->row_bad = 0;
}

void csv_rows_free(csv_rows_t *rows) {
  if (rows == NULL) return;
  for (size_t i = 0; rows->errors != NULL && i < rows->nrows; i++) free(rows->errors[i]);
  free(rows->errors);
  free(rows->values);
  *rows = (csv_rows_t){0};
}

grove_err_t csv_rows_read(FILE *fp, const csv_rows_opts_t *opts, csv_rows_t *out,
                          grove_error_t *err) {
  *out = (csv_rows_t){0};
  grove_forest_info_t info;
  grove_forest_get_info(opts->forest, &info);
  reader_t r = {.opts = opts, .num_features = info.num_features, .out = out, .err = err};
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
  if (r.rc != GROVE_OK) csv_rows_free(out);
  return r.rc;
}
