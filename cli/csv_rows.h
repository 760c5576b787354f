/* CSV input -> float rows in the model's feature order (for `grove predict`). */
#ifndef GROVE_CSV_ROWS_H
#define GROVE_CSV_ROWS_H

#include <stdio.h>

#include "grove_engine.h"

typedef struct {
  const grove_forest_t *forest;
  const grove_schema_t *schema; /* may be NULL: categories are then integer codes */
  int ignore_extra;             /* columns that are not features are skipped, not refused */
} csv_rows_opts_t;

/*
 * Reads all of FP (CSV with a header row) into *rows (nrows x num_features, malloc'd,
 * owned by the caller). Columns match features by name when the model has names, else
 * by position. Empty, nan, NaN and NA are missing. On bad input returns GROVE_EINPUT
 * with a message in ERR naming the line and the column, and *rows stays NULL.
 */
grove_err_t csv_rows_read(FILE *fp, const csv_rows_opts_t *opts, float **rows, size_t *nrows,
                          grove_error_t *err);

#endif /* GROVE_CSV_ROWS_H */
