/* `grove info MODEL`: the model's summary, from the same code as GET /v1/models/{name}. */
#include "api.h"
#include "cli.h"

int cli_info(int argc, char **argv) {
  static const char about[] =
      "Prints MODEL's summary as one JSON object, the document GET /v1/models/NAME answers:\n"
      "format, objective, features and their types, classes, trees, depth, nodes, memory,\n"
      "and the ISA and kernel that score it.\n";
  return cli_print_model("info", about, argc, argv, api_encode_model_info);
}
