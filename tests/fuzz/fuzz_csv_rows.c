/*
 * libFuzzer target: any bytes -> csv_rows_read() (cli/csv_rows.c, on libcsv) against a
 * tiny embedded model. The first byte picks the set-up, the rest is the CSV:
 *   bit 0: ignore_extra;  bits 1-2: 0 = named features + schema (categories by name),
 *   1 = named features without a schema, 2 or 3 = unnamed features (columns by position);
 *   bits 3-4: --categories (auto, labels, codes); bit 5: unknown labels are missing;
 *   bit 6: per-row errors.
 * Rows that parse are predicted, so every float the reader produces reaches a kernel.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_rows.h"
#include "grove_engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_common.h"
#include "tiny_model.h"
static grove_forest_t *named_forest, *unnamed_forest;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* Loaded once and kept: the fuzzer's leak check ignores what is still reachable. */
  if (named_forest == NULL) {
    named_forest = fuzz_load_or_die(named_model);
    unnamed_forest = fuzz_load_or_die(unnamed_model);
  }
  if (size < 1) return 0;
  unsigned mode = (data[0] >> 1) & 3;
  csv_rows_opts_t opts = {
      .forest = mode >= 2 ? unnamed_forest : named_forest,
      .schema = mode == 0 ? &tiny_schema : NULL,
      .ignore_extra = data[0] & 1,
      .categories = (grove_categories_t)((data[0] >> 3) % 3),
      .unknown_missing = (data[0] >> 5) & 1,
      .per_row_errors = (data[0] >> 6) & 1,
  };
  /* fmemopen refuses a zero-size buffer on some libcs: an empty CSV reads /dev/null. */
  FILE *fp = size > 1 ? fmemopen((void *)(data + 1), size - 1, "r") : fopen("/dev/null", "r");
  if (fp == NULL) abort();
  csv_rows_t rows;
  grove_error_t err;
  memset(&err, 0, sizeof err);
  grove_err_t rc = csv_rows_read(fp, &opts, &rows, &err);
  fclose(fp);
  if (rc != GROVE_OK) {
    if (rows.values != NULL || rows.nrows != 0 || err.msg[0] == '\0') {
      fprintf(stderr, "csv_rows_read failed without a message or kept rows: \"%s\"\n", err.msg);
      abort();
    }
    return 0;
  }
  /* Per-row mode: exactly the rows with a message are counted as bad. */
  size_t with_message = 0;
  for (size_t r = 0; rows.errors != NULL && r < rows.nrows; r++) with_message += rows.errors[r] != NULL;
  if (with_message != rows.num_errors) abort();
  if (rows.nrows > 0) {
    float *out = malloc(rows.nrows * sizeof *out);
    if (out == NULL ||
        grove_forest_predict_f64(opts.forest, rows.values, rows.nrows, out, NULL, &err) != GROVE_OK)
      abort();
    free(out);
  }
  csv_rows_free(&rows);
  return 0;
}
