/*
 * libFuzzer target: "tree\n" + any bytes -> the LightGBM text loader (through
 * grove_forest_load_buffer(), which sniffs that first line), with fuzz_load_model.h's
 * contract; a model that loads also has its pandas_categorical trailer read as a schema.
 */
#include "fuzz_load_model.h"
#include "load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char head[] = "tree\n";
  char *text = malloc(sizeof head - 1 + size + 1);
  if (text == NULL) abort();
  memcpy(text, head, sizeof head - 1);
  if (size) memcpy(text + sizeof head - 1, data, size);
  const size_t len = sizeof head - 1 + size;
  grove_forest_t *forest = fuzz_load_model(text, len);
  if (forest != NULL) {
    grove_schema_t *schema = NULL;
    grove_error_t err;
    if (grove__lightgbm_schema(text, len, forest, &schema, &err) == GROVE_OK && schema != NULL &&
        grove_schema_check(schema, forest, &err) != GROVE_OK)
      fuzz_contract_violated("lightgbm", "the trailer's schema disagrees with its own model",
                             err.msg);
    grove_schema_free(schema);
    grove_forest_free(forest);
  }
  free(text);
  return 0;
}
