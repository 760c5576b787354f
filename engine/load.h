/*
 * Internal: the format loaders that load.c (the one loading entry) hands a model's bytes
 * to once it has sniffed their format. Each turns one format into builder calls and
 * nothing else; each prefixes its error messages with NAME.
 */
#ifndef GROVE_LOAD_H
#define GROVE_LOAD_H

#include <stddef.h>

#include "grove_engine.h"

/* The format names grove_forest_info_t.format reports. */
#define GROVE_FORMAT_XGBOOST_JSON  "xgboost-json" /* JSON and UBJSON alike */
#define GROVE_FORMAT_LIGHTGBM_TEXT "lightgbm-text"
#define GROVE_FORMAT_SCIKIT_LEARN  "scikit-learn" /* converted to XGBoost JSON */

/* XGBoost JSON (Booster.save_model("model.json"), or a converter's JSON): load_xgboost.c. */
grove_err_t grove__xgboost_load_json(const char *data, size_t len, const char *name,
                                     grove_forest_t **out, grove_error_t *err);

/* XGBoost UBJSON (Booster.save_model("model.ubj")): the same model, binary-encoded. */
grove_err_t grove__xgboost_load_ubjson(const char *data, size_t len, const char *name,
                                       grove_forest_t **out, grove_error_t *err);

/* A LightGBM text model, whose first line is "tree": load_lightgbm.c. */
grove_err_t grove__lightgbm_load(const char *data, size_t len, const char *name,
                                 grove_forest_t **out, grove_error_t *err);

/*
 * Builds a schema for FOREST from a LightGBM model's pandas_categorical trailer (DATA is the
 * model text): feature names and kinds, with each categorical feature's category strings in
 * code order. *out is NULL when the model has no usable trailer (none, "null", or lists that
 * do not match its categorical features one for one).
 */
grove_err_t grove__lightgbm_schema(const char *data, size_t len, const grove_forest_t *forest,
                                   grove_schema_t **out, grove_error_t *err);

#endif /* GROVE_LOAD_H */
