/* `grove info MODEL`: the model's summary, from the same code as GET /v1/models/{name}. */
#include "api.h"
#include "cli.h"

static const char info_usage[] =
    "usage: grove info MODEL\n"
    "\n"
    "Prints MODEL's summary as one JSON object: format, objective, features (names, types),\n"
    "classes, trees, depth, nodes, memory, and the ISA and kernel that score it; the same\n"
    "document as GET /v1/models/NAME.\n"
    "\n" CLI_MODEL_HELP;

int cli_info(int argc, char **argv) {
  return cli_print_model("info", info_usage, argc, argv, api_encode_model_info);
}
