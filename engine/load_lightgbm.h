/* Internal: LightGBM text models (load_lightgbm.c). */
#ifndef GROVE_LOAD_LIGHTGBM_H
#define GROVE_LOAD_LIGHTGBM_H

#include <stddef.h>

#include "grove_engine.h"

/* Whether DATA looks like a LightGBM text model (its first line is "tree"). */
int grove_lightgbm_sniff(const char *data, size_t len);

/* Loads a LightGBM text model from DATA; NAME only appears in error messages. */
grove_err_t grove_lightgbm_load(const char *data, size_t len, const char *name, grove_forest_t **out,
                                grove_error_t *err);

/*
 * Builds a schema for FOREST from the model's pandas_categorical trailer: feature names and
 * kinds, with each categorical feature's category strings in code order. *out is NULL when
 * the model has no usable trailer (none, "null", or lists that do not match its
 * categorical features one for one).
 */
grove_err_t grove_lightgbm_schema(const char *data, size_t len, const grove_forest_t *forest,
                                  grove_schema_t **out, grove_error_t *err);

#endif /* GROVE_LOAD_LIGHTGBM_H */
