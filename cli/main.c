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
    {"compile", cli_compile},
};

static int is_any(const char *s, const char *a, const char *b, const char *c) {
  return strcmp(s, a) == 0 || strcmp(s, b) == 0 || strcmp(s, c) == 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(cli_usage, stderr);
    return CLI_EXIT_INPUT;
  }
  const char *cmd = argv[1];
  if (is_any(cmd, "version", "--version", "-V")) {
    printf("grove %s (%s)\n", GROVE_VERSION, grove_engine_isa());
    return 0;
  }
  /* `grove help CMD` is `grove CMD --help`. */
  char help_flag[] = "--help";
  char *help_argv[] = {argv[0], argc >= 3 ? argv[2] : NULL, help_flag, NULL};
  if (strcmp(cmd, "help") == 0 && argc >= 3) {
    cmd = argv[2];
    argc = 3;
    argv = help_argv;
  } else if (is_any(cmd, "help", "--help", "-h")) {
    fputs(cli_usage, stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(cmd, commands[i].name) != 0) continue;
    /* A GROVE_ISA the engine could not honour is worth a line on stderr (serve logs it). */
    if (commands[i].run != cli_serve && commands[i].run != cli_health &&
        grove_engine_isa_note() != NULL)
      fprintf(stderr, "grove: %s\n", grove_engine_isa_note());
    return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "grove: unknown command \"%s\"\n\n%s", cmd, cli_usage);
  return CLI_EXIT_INPUT;
}
