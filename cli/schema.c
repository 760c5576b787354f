/*
 * `grove schema MODEL`: the schema grove uses for MODEL as a schema.json, a start for one
 * to edit: say a LightGBM model's trailer gave its category strings, the file keeps them
 * beside it.
 */
#include "api.h"
#include "cli.h"

int cli_schema(int argc, char **argv) {
  return cli_print_model("schema", argc, argv, api_encode_schema_file);
}
