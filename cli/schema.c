/*
 * `grove schema MODEL`: the schema grove uses for MODEL as a schema.json, a start for one
 * to edit: say a LightGBM model's trailer gave its category strings, the file keeps them
 * beside it.
 */
#include "api.h"
#include "cli.h"

static const char schema_usage[] =
    "usage: grove schema MODEL\n"
    "\n"
    "Prints the schema grove uses for MODEL as a schema.json: the directory's own, else one\n"
    "from a LightGBM model's pandas_categorical trailer, else one from the model's feature\n"
    "names and types. A start for a schema.json to edit and keep beside the model.\n"
    "\n" CLI_MODEL_HELP;

int cli_schema(int argc, char **argv) {
  return cli_print_model("schema", schema_usage, argc, argv, api_encode_schema_file);
}
