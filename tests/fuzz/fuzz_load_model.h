/*
 * The model loaders' fuzz contract, shared by fuzz_load_xgboost.c and fuzz_load_lightgbm.c:
 * a failure must come with a message that names the input, and a success must leave a
 * forest whose summary is consistent and that every kernel can walk on synthesized and
 * extreme rows (a model the validator let through but the kernels cannot walk crashes here).
 */
#ifndef GROVE_FUZZ_LOAD_MODEL_H
#define GROVE_FUZZ_LOAD_MODEL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "grove_engine.h"

#define INPUT_NAME "fuzz-input"

/* Rows are allocated per call: bound them so that a model declaring millions of features
 * (legal, but not worth walking here) does not turn into a malloc-limit report. */
#define MAX_WALKED_FEATURES (1u << 16)
#define MAX_WALKED_GROUPS   (1u << 12)

static void walk(const grove_forest_t *forest) {
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  if (info.num_features == 0 || info.num_groups == 0 || info.num_outputs == 0 ||
      info.num_outputs > info.num_groups)
    fuzz_contract_violated("loader", "inconsistent summary of a loaded forest", "");
  if (info.num_features > MAX_WALKED_FEATURES || info.num_groups > MAX_WALKED_GROUPS) return;

  enum { SYNTH_ROWS = 8, EXTREME_ROWS = 7, NROWS = SYNTH_ROWS + EXTREME_ROWS };
  const size_t nf = info.num_features;
  float *rows = malloc(NROWS * nf * sizeof *rows);
  float *out = malloc(NROWS * (size_t)info.num_groups * sizeof *out);
  if (rows == NULL || out == NULL) abort();
  grove_forest_synthesize_rows(forest, SYNTH_ROWS, 1234, rows);
  /* Values that reach every odd corner of a split: missing, infinities, signed zero,
   * past the category range, negative categories, a huge finite value. */
  const float extremes[EXTREME_ROWS] = {NAN,         INFINITY, -INFINITY, -0.0f,
                                        16777216.0f, -1.0f,    3.0e38f};
  for (size_t r = 0; r < EXTREME_ROWS; r++)
    for (size_t j = 0; j < nf; j++) rows[(SYNTH_ROWS + r) * nf + j] = extremes[r];

  grove_error_t err;
  for (int margin = 0; margin <= 1; margin++) {
    grove_predict_opts_t opts = {.margin = margin, .threads = 1};
    if (grove_forest_predict(forest, rows, NROWS, out, &opts, &err) != GROVE_OK)
      fuzz_contract_violated("loader", "predict failed on a loaded forest", err.msg);
  }
  for (uint32_t i = 0; i < info.num_features; i++) {
    const char *name = grove_forest_feature_name(forest, i);
    if ((name != NULL) != (info.has_feature_names != 0))
      fuzz_contract_violated("loader", "feature names half present", "");
    if ((unsigned)grove_forest_feature_type(forest, i) > GROVE_FEATURE_CATEGORICAL)
      fuzz_contract_violated("loader", "unknown feature type", "");
  }
  free(rows);
  free(out);
}

/* Loads DATA and checks the contract; returns the forest (caller unrefs) or NULL. */
static grove_forest_t *fuzz_load_model(const char *data, size_t size) {
  grove_forest_t *forest = NULL;
  grove_error_t err;
  memset(&err, 0, sizeof err);
  grove_err_t rc = grove_forest_load_buffer(data, size, INPUT_NAME, &forest, &err);
  if (rc == GROVE_OK) {
    if (forest == NULL) fuzz_contract_violated("loader", "GROVE_OK without a forest", "");
    walk(forest);
    return forest;
  }
  if (forest != NULL) fuzz_contract_violated("loader", "a forest returned with an error", err.msg);
  if (rc != GROVE_EPARSE && rc != GROVE_EUNSUPPORTED)
    fuzz_contract_violated("loader", "unexpected error code", err.msg);
  if (strncmp(err.msg, INPUT_NAME ": ", strlen(INPUT_NAME ": ")) != 0 ||
      err.msg[strlen(INPUT_NAME ": ")] == '\0')
    fuzz_contract_violated("loader", "message does not name the input and the problem", err.msg);
  return NULL;
}

#endif /* GROVE_FUZZ_LOAD_MODEL_H */
