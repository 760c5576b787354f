/* CSV input -> rows of doubles in the model's feature order (for `grove predict`, `bench`). */
#ifndef GROVE_CSV_ROWS_H
#define GROVE_CSV_ROWS_H

#include <stdio.h>

#include "grove_engine.h"

typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema; /* may be NULL: categories are then numbers (codes) */
  int ignore_extra;             /* columns that are not features are skipped, not refused */
  grove_categories_t categories; /* how category text is read (--categories) */
  int unknown_missing; /* an unknown category label is a missing value, not an error */
  int per_row_errors;  /* a bad row gets a message and missing values; the rest are read */
} csv_rows_opts_t;

typedef struct csv_rows {
  double *values; /* nrows x num_features, row-major, NaN = missing; the decimal text's own
                     doubles, so a LightGBM model decides them as LightGBM does */
  size_t nrows;
  char **errors; /* per_row_errors: nrows entries, the message of each bad row or NULL */
  size_t num_errors;
} csv_rows_t;

/*
 * Reads all of FP (CSV with a header row) into *OUT, owned by the caller (csv_rows_free).
 * Columns match features by name when the model has names, else by position. Empty, nan,
 * NaN, NA and the schema's "missing" tokens are missing values; unquoted fields lose their
 * surrounding spaces (the Adult data writes " State-gov"). Category text is read by
 * grove_schema_category_read() in OPTS->categories' mode. Errors name the line and column:
 * GROVE_EINPUT with the message in ERR for a bad header or malformed CSV, and for a bad
 * row unless OPTS->per_row_errors (then that row's message is in OUT->errors); *OUT is
 * then empty.
 */
grove_err_t csv_rows_read(FILE *fp, const csv_rows_opts_t *opts, csv_rows_t *out,
                          grove_error_t *err);

void csv_rows_free(csv_rows_t *rows);

#endif /* GROVE_CSV_ROWS_H */
