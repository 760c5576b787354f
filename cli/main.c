/* The `grove` command: dispatch to a subcommand (one file each in cli/), --help, --version. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h" /* generated: GROVE_VERSION */

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
} commands[] = {
    {"predict", cli_predict}, {"info", cli_info},   {"schema", cli_schema},
    {"bench", cli_bench},     {"serve", cli_serve}, {"health", cli_health},
};

int main(int argc, char **argv) {
  /* A GROVE_ISA the engine could not honour is worth a line on stderr for the CLI too. */
  if (argc >= 2 && strcmp(argv[1], "serve") != 0 && strcmp(argv[1], "health") != 0 &&
      grove_engine_isa_note() != NULL)
    fprintf(stderr, "grove: %s\n", grove_engine_isa_note());
  if (argc < 2) {
    fputs(cli_usage, stderr);
    return CLI_EXIT_INPUT;
  }
  const char *cmd = argv[1];
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(cmd, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("grove %s (%s)\n", GROVE_VERSION, grove_engine_isa());
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    fputs(cli_usage, stdout);
    return 0;
  }
  fprintf(stderr, "grove: unknown command \"%s\"\n\n%s", cmd, cli_usage);
  return CLI_EXIT_INPUT;
}
