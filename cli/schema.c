/*
 * `grove schema MODEL`: the schema grove uses for MODEL as a schema.json, a start for one
 * to edit: say a LightGBM model's trailer gave its category strings, the file keeps them
 * beside it.
 */
#include "api.h"
#include "cli.h"

int cli_schema(int argc, char **argv) {
  return cli_print_model(
      "schema",
      "Prints the schema grove uses for MODEL as a schema.json to keep beside it: the\n"
      "directory's own, else one from a LightGBM model's pandas_categorical trailer, else\n"
      "one from the model's feature names and types.\n",
      argc, argv, api_encode_schema_file);
}
