/*
 * `grove compile MODEL [-o OUT]`: writes MODEL's compiled image (engine/image.c), which
 * `grove serve` and the other commands map instead of parsing and building the model when
 * it sits beside its source (model.grove beside model.json) or in --cache-dir.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int compile_option(int c, const char *arg, void *ctx) {
  if (c == 'o') *(const char **)ctx = arg;
  return 0;
}

int cli_compile(int argc, char **argv) {
  static const char usage[] =
      "usage: grove compile MODEL [-o OUT]\n"
      "\n"
      "Writes MODEL's compiled image: the loaded model's arrays as one file that loading maps\n"
      "read-only instead of parsing and building the model (pages shared by every process\n"
      "mapping it). It records the source file's size and hash, the format and layout\n"
      "versions and a checksum; an image whose source has changed, or that another grove\n"
      "build or machine cannot read, is ignored with a warning and the source loaded instead.\n"
      "\n"
      "  -o, --output OUT   the image's path (default: beside the model file, its extension\n"
      "                     replaced by .grove: DIR/model.grove for DIR/model.json)\n"
      "\n" CLI_MODEL_HELP;
  static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                          {NULL, 0, NULL, 0}};
  const char *out = NULL;
  int rc =
      cli_parse_options("compile", usage, argc, argv, options, "o:", NULL, compile_option, &out);
  if (rc != 0) return rc == 1 ? 0 : rc;
  if (optind + 1 != argc || argv[optind][0] == '-') {
    fprintf(stderr, "grove compile: expected MODEL\n");
    return CLI_EXIT_INPUT;
  }
  const grove_load_opts_t opts = {.no_images = 1};
  static grove_load_report_t report;
  grove_forest_t *forest;
  grove_schema_t *schema;
  grove_error_t err;
  if (grove_model_load_ex(argv[optind], &opts, &forest, &schema, &report, &err) != GROVE_OK) {
    fprintf(stderr, "grove: %s\n", err.msg);
    return CLI_EXIT_MODEL;
  }
  grove_schema_free(schema);
  char beside[4200];
  if (report.image[0] != '\0') {
    fprintf(stderr, "grove compile: %s is already an image\n", report.file);
    rc = CLI_EXIT_INPUT;
  } else if (out == NULL && grove_model_image_path(report.file, beside, sizeof beside) != 0) {
    fprintf(stderr, "grove compile: %s: path too long\n", report.file);
    rc = CLI_EXIT_INPUT;
  } else {
    if (out == NULL) out = beside;
    grove_forest_t *check = NULL;
    /* Read back what was written, so a failed write is not found at start-up. */
    if (grove_forest_image_write(forest, &report.source, out, &err) != GROVE_OK ||
        grove_forest_image_load(out, &report.source, &check, &err) != GROVE_OK) {
      fprintf(stderr, "grove: %s\n", err.msg);
      rc = CLI_EXIT_MODEL;
    } else {
      printf("%s: compiled from %s (%llu bytes, hash %016llx)\n", out, report.file,
             (unsigned long long)report.source.bytes, (unsigned long long)report.source.hash);
    }
    grove_forest_free(check);
  }
  grove_forest_free(forest);
  return rc;
}
