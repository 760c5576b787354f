/* A model directory: model.json plus an optional schema.json that must agree with it. */
#include <stdio.h>
#include <unistd.h>

#include "error.h"
#include "file.h"

grove_err_t grove_model_load(const char *path, grove_forest_t **forest, grove_schema_t **schema,
                             grove_error_t *err) {
  *forest = NULL;
  *schema = NULL;
  grove_err_t rc = grove_forest_load_file(path, forest, err);
  if (rc != GROVE_OK || !grove_file_is_dir(path)) return rc;
  char schema_path[4096];
  if ((size_t)snprintf(schema_path, sizeof schema_path, "%s/schema.json", path) >= sizeof schema_path ||
      access(schema_path, F_OK) != 0)
    return GROVE_OK;
  rc = grove_schema_load_file(schema_path, schema, err);
  if (rc == GROVE_OK && (rc = grove_schema_check(*schema, *forest, err)) != GROVE_OK)
    grove_error_prefix(err, schema_path);
  if (rc != GROVE_OK) {
    grove_forest_unref(*forest);
    grove_schema_free(*schema);
    *forest = NULL;
    *schema = NULL;
  }
  return rc;
}
