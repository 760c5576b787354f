/* `grove info MODEL`: the model's summary, from the same code as GET /v1/models/{name}. */
#include "api.h"
#include "cli.h"

int cli_info(int argc, char **argv) {
  return cli_print_model("info", argc, argv, api_encode_model_info);
}
