/*
 * libFuzzer target: any bytes -> grove_forest_load_buffer() (JSON or UBJSON; LightGBM
 * text has its own target, which starts every input with the line it is sniffed by).
 * The contract is fuzz_load_model.h's.
 */
#include "fuzz_load_model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  grove_forest_free(fuzz_load_model((const char *)data, size));
  return 0;
}
