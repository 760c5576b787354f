/*
 * A model directory: a model file plus an optional schema.json that must agree with it.
 * Without schema.json, a LightGBM model's pandas_categorical trailer supplies one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "file.h"
#include "load_lightgbm.h"

/* The schema a LightGBM model file carries in its trailer, or none (*schema NULL). */
static grove_err_t trailer_schema(const char *path, const grove_forest_t *forest, grove_schema_t **schema,
                                  grove_error_t *err) {
  char buf[4096];
  const char *file;
  char *data;
  size_t len;
  grove_err_t rc = grove_model_file_path(path, buf, sizeof buf, &file, err);
  if (rc == GROVE_OK) rc = grove_file_read(file, &data, &len, err);
  if (rc != GROVE_OK) return rc;
  rc = grove_lightgbm_schema(data, len, forest, schema, err);
  free(data);
  return rc;
}

grove_err_t grove_model_load(const char *path, grove_forest_t **forest, grove_schema_t **schema,
                             grove_error_t *err) {
  *forest = NULL;
  *schema = NULL;
  grove_err_t rc = grove_forest_load_file(path, forest, err);
  if (rc != GROVE_OK) return rc;
  grove_forest_info_t info;
  grove_forest_get_info(*forest, &info);
  char schema_path[4096];
  int has_schema_json = grove_file_is_dir(path) &&
                        (size_t)snprintf(schema_path, sizeof schema_path, "%s/schema.json", path) < sizeof schema_path &&
                        access(schema_path, F_OK) == 0;
  if (has_schema_json) {
    rc = grove_schema_load_file(schema_path, schema, err);
    if (rc == GROVE_OK && (rc = grove_schema_check(*schema, *forest, err)) != GROVE_OK)
      grove_error_prefix(err, schema_path);
  } else if (strcmp(info.format, "lightgbm-text") == 0) {
    rc = trailer_schema(path, *forest, schema, err);
  }
  if (rc != GROVE_OK) {
    grove_forest_unref(*forest);
    grove_schema_free(*schema);
    *forest = NULL;
    *schema = NULL;
  }
  return rc;
}
