/* The `grove` command line: predict, info, bench (serve comes with the daemon). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "version.h" /* generated: GROVE_VERSION */
#include "csv_rows.h"
#include "grove_engine.h"
#include "log.h"
#include "metrics.h"
#include "registry.h"
#include "server.h"

/* Exit codes: 0 ok, 1 model or system failure, 2 bad usage or bad input. */
enum { EXIT_MODEL = 1, EXIT_INPUT = 2 };

static const char usage_text[] =
    "usage: grove <command> [options]\n"
    "\n"
    "commands:\n"
    "  predict MODEL --input FILE|- [--output FILE|-] [--margin] [--threads N]\n"
    "                [--ignore-extra] [--stats]\n"
    "      Score CSV rows (header row; columns by feature name, or by position when the\n"
    "      model has no names). Empty, nan, NaN, NA = missing. One output line per row.\n"
    "  info MODEL\n"
    "      Print the model's summary as one JSON object.\n"
    "  schema MODEL\n"
    "      Print a schema.json for MODEL: its own schema.json, else one from a LightGBM\n"
    "      model's pandas_categorical trailer, else from its feature names and types.\n"
    "  bench MODEL [--rows N] [--batch B[,B...]] [--threads T] [--seed S] [--input CSV]\n"
    "      Engine-only throughput on synthetic rows (or CSV's rows, cycled to --rows\n"
    "      when given), one JSON line per batch size.\n"
    "  serve [MODEL ...] [--models DIR] [--port N] [options]\n"
    "      Serve models over HTTP (JSON, msgpack, Open Inference Protocol v2, /metrics);\n"
    "      `grove serve --help` lists every option and its environment variable.\n"
    "  version\n"
    "\n"
    "MODEL is a model file (XGBoost JSON or UBJSON, a LightGBM model.txt, or a scikit-learn\n"
    "model converted by models/convert_sklearn.py), or a directory holding model.json,\n"
    "model.ubj or model.txt and an optional schema.json (category strings, labels).\n";

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (uint32_t)n : 1;
}

/* Parses a positive integer option value or exits with a usage error. */
static unsigned long parse_count(const char *opt, const char *s, unsigned long max) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0 || v == 0 || v > max || *s == '-') {
    fprintf(stderr, "grove: %s expects a whole number from 1 to %lu, got \"%s\"\n", opt, max, s);
    exit(EXIT_INPUT);
  }
  return v;
}

static int load_or_report(const char *path, grove_forest_t **forest, grove_schema_t **schema) {
  grove_error_t err;
  if (grove_model_load(path, forest, schema, &err) != GROVE_OK) {
    fprintf(stderr, "grove: %s\n", err.msg);
    return -1;
  }
  return 0;
}

/* For the commands that take MODEL alone (info, schema): 0 with it loaded, else the exit code. */
static int load_sole_model(const char *cmd, int argc, char **argv, grove_forest_t **forest,
                           grove_schema_t **schema) {
  if (argc != 2 || argv[1][0] == '-') {
    fprintf(stderr, "grove %s: expected MODEL\n", cmd);
    return EXIT_INPUT;
  }
  return load_or_report(argv[1], forest, schema) != 0 ? EXIT_MODEL : 0;
}

/* ---- predict ---- */

/* Formats all predictions into one buffer so that nothing is written on failure. */
static char *format_predictions(const float *out, size_t nrows, uint32_t width, size_t *len) {
  size_t cap = nrows * width * 18 + 1, used = 0;
  char *buf = malloc(cap);
  if (buf == NULL) return NULL;
  for (size_t r = 0; r < nrows; r++) {
    for (uint32_t k = 0; k < width; k++) {
      int n = snprintf(buf + used, cap - used, "%s%.9g", k ? "," : "", (double)out[r * width + k]);
      used += (size_t)n;
    }
    buf[used++] = '\n';
  }
  *len = used;
  return buf;
}

static int cmd_predict(int argc, char **argv) {
  static const struct option longopts[] = {
      {"input", required_argument, NULL, 'i'},  {"output", required_argument, NULL, 'o'},
      {"margin", no_argument, NULL, 'm'},       {"threads", required_argument, NULL, 't'},
      {"stats", no_argument, NULL, 's'},        {"ignore-extra", no_argument, NULL, 'x'},
      {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
  const char *input = NULL, *output = "-";
  int margin = 0, stats = 0, ignore_extra = 0, c;
  uint32_t threads = default_threads();
  while ((c = getopt_long(argc, argv, "i:o:t:", longopts, NULL)) != -1) {
    switch (c) {
      case 'i': input = optarg; break;
      case 'o': output = optarg; break;
      case 'm': margin = 1; break;
      case 't': threads = (uint32_t)parse_count("--threads", optarg, 256); break;
      case 's': stats = 1; break;
      case 'x': ignore_extra = 1; break;
      case 'h': fputs(usage_text, stdout); return 0;
      default: fputs(usage_text, stderr); return EXIT_INPUT;
    }
  }
  if (optind + 1 != argc || input == NULL) {
    fprintf(stderr, "grove predict: expected MODEL and --input FILE|-\n");
    return EXIT_INPUT;
  }
  grove_forest_t *forest;
  grove_schema_t *schema;
  if (load_or_report(argv[optind], &forest, &schema) != 0) return EXIT_MODEL;

  int rc = EXIT_INPUT;
  float *rows = NULL, *out = NULL;
  char *text = NULL;
  double t0 = now_seconds();
  FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
  if (in == NULL) {
    fprintf(stderr, "grove predict: %s: %s\n", input, strerror(errno));
    goto done;
  }
  grove_error_t err;
  size_t nrows;
  csv_rows_opts_t opts = {.forest = forest, .schema = schema, .ignore_extra = ignore_extra};
  grove_err_t ec = csv_rows_read(in, &opts, &rows, &nrows, &err);
  if (in != stdin) fclose(in);
  if (ec != GROVE_OK) {
    fprintf(stderr, "grove predict: %s: %s\n", strcmp(input, "-") == 0 ? "<stdin>" : input, err.msg);
    rc = ec == GROVE_EINPUT ? EXIT_INPUT : EXIT_MODEL;
    goto done;
  }
  double t1 = now_seconds();
  uint32_t width = grove_forest_output_width(forest, margin);
  out = malloc((nrows ? nrows : 1) * width * sizeof *out);
  if (out == NULL) {
    fprintf(stderr, "grove predict: out of memory for %zu rows\n", nrows);
    rc = EXIT_MODEL;
    goto done;
  }
  grove_predict_opts_t popts = {.margin = margin, .threads = threads};
  if (grove_forest_predict(forest, rows, nrows, out, &popts, &err) != GROVE_OK) {
    fprintf(stderr, "grove predict: %s\n", err.msg);
    rc = EXIT_MODEL;
    goto done;
  }
  double t2 = now_seconds();
  size_t len;
  text = format_predictions(out, nrows, width, &len);
  if (text == NULL) {
    fprintf(stderr, "grove predict: out of memory\n");
    rc = EXIT_MODEL;
    goto done;
  }
  FILE *fo = strcmp(output, "-") == 0 ? stdout : fopen(output, "wb");
  if (fo == NULL) {
    fprintf(stderr, "grove predict: %s: %s\n", output, strerror(errno));
    rc = EXIT_MODEL;
    goto done;
  }
  int write_failed = fwrite(text, 1, len, fo) != len;
  write_failed |= fo == stdout ? fflush(fo) != 0 : fclose(fo) != 0;
  if (write_failed) {
    fprintf(stderr, "grove predict: writing %s failed: %s\n", output, strerror(errno));
    rc = EXIT_MODEL;
    goto done;
  }
  if (stats) {
    grove_forest_info_t info;
    grove_forest_get_info(forest, &info);
    fprintf(stderr,
            "{\"rows\":%zu,\"features\":%u,\"trees\":%u,\"isa\":\"%s\",\"kernel\":\"%s\",\"threads\":%u,"
            "\"parse_s\":%.6f,\"predict_s\":%.6f}\n",
            nrows, info.num_features, info.num_trees, grove_engine_isa(), grove_engine_kernel(), threads,
            t1 - t0, t2 - t1);
  }
  rc = 0;
done:
  free(text);
  free(out);
  free(rows);
  grove_schema_free(schema);
  grove_forest_unref(forest);
  return rc;
}

/* ---- info ---- */

static const char *feature_type_name(grove_feature_type_t t) {
  switch (t) {
    case GROVE_FEATURE_INTEGER: return "integer";
    case GROVE_FEATURE_INDICATOR: return "indicator";
    case GROVE_FEATURE_CATEGORICAL: return "categorical";
    case GROVE_FEATURE_NUMERIC: break;
  }
  return "numeric";
}

static const char *task_name(grove_task_t t) {
  switch (t) {
    case GROVE_TASK_BINARY: return "binary";
    case GROVE_TASK_MULTICLASS: return "multiclass";
    case GROVE_TASK_RANKING: return "ranking";
    case GROVE_TASK_REGRESSION: break;
  }
  return "regression";
}

/*
 * Prints the schema grove uses for MODEL as a schema.json, a start for one to edit: say
 * a LightGBM model's trailer gave its category strings, the file keeps them beside it.
 */
static int cmd_schema(int argc, char **argv) {
  grove_forest_t *forest;
  grove_schema_t *schema;
  int rc0 = load_sole_model("schema", argc, argv, &forest, &schema);
  if (rc0 != 0) return rc0;
  api_body_t body;
  int rc = api_encode_schema_file(forest, schema, &body);
  if (rc == 0) {
    fwrite(body.data, 1, body.len, stdout);
    putchar('\n');
    api_body_free(&body);
  } else {
    fprintf(stderr, "grove schema: out of memory\n");
  }
  grove_schema_free(schema);
  grove_forest_unref(forest);
  return rc == 0 ? 0 : EXIT_MODEL;
}

static int cmd_info(int argc, char **argv) {
  grove_forest_t *forest;
  grove_schema_t *schema;
  int rc0 = load_sole_model("info", argc, argv, &forest, &schema);
  if (rc0 != 0) return rc0;
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);

  json_object *o = json_object_new_object();
  json_object_object_add(o, "format", json_object_new_string(info.format));
  if (info.source_model[0] != '\0')
    json_object_object_add(o, "source_model", json_object_new_string(info.source_model));
  json_object_object_add(o, "objective", json_object_new_string(info.objective));
  json_object_object_add(o, "booster", json_object_new_string(info.booster));
  json_object_object_add(o, "task", json_object_new_string(task_name(info.task)));
  json_object_object_add(o, "num_feature", json_object_new_int64(info.num_features));
  json_object *features = json_object_new_array();
  for (uint32_t i = 0; i < info.num_features; i++) {
    json_object *f = json_object_new_object();
    const char *name = grove_forest_feature_name(forest, i);
    char fallback[32];
    snprintf(fallback, sizeof fallback, "f%u", i);
    json_object_object_add(f, "name", json_object_new_string(name ? name : fallback));
    json_object_object_add(f, "type", json_object_new_string(feature_type_name(grove_forest_feature_type(forest, i))));
    if (schema && schema->features[i].type == GROVE_FEATURE_CATEGORICAL)
      json_object_object_add(f, "categories", json_object_new_int64(schema->features[i].num_categories));
    json_object_array_add(features, f);
  }
  json_object_object_add(o, "features", features);
  json_object_object_add(o, "num_class", json_object_new_int64(info.task == GROVE_TASK_MULTICLASS ? info.num_groups : info.task == GROVE_TASK_BINARY ? 2 : 0));
  json_object_object_add(o, "num_outputs", json_object_new_int64(info.num_outputs));
  if (schema && schema->num_labels) {
    json_object *labels = json_object_new_array();
    for (uint32_t i = 0; i < schema->num_labels; i++) json_object_array_add(labels, json_object_new_string(schema->labels[i]));
    json_object_object_add(o, "classes", labels);
  }
  json_object_object_add(o, "trees", json_object_new_int64(info.num_trees));
  json_object_object_add(o, "num_parallel_tree", json_object_new_int64(info.num_parallel_tree));
  json_object_object_add(o, "max_depth", json_object_new_int64(info.max_depth));
  json_object_object_add(o, "nodes", json_object_new_int64((int64_t)info.num_nodes));
  json_object_object_add(o, "leaves", json_object_new_int64((int64_t)info.num_leaves));
  json_object_object_add(o, "categorical_splits", json_object_new_int64((int64_t)info.num_categorical_splits));
  json_object_object_add(o, "base_margin", json_object_new_double(info.base_margin));
  json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)info.memory_bytes));
  json_object_object_add(o, "kernel", json_object_new_string(grove_engine_kernel()));
  json_object_object_add(o, "isa", json_object_new_string(grove_engine_isa()));
  json_object_object_add(o, "schema", json_object_new_boolean(schema != NULL));
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(o);
  grove_schema_free(schema);
  grove_forest_unref(forest);
  return 0;
}

/* ---- bench ---- */

static int cmd_bench(int argc, char **argv) {
  static const struct option longopts[] = {
      {"rows", required_argument, NULL, 'r'}, {"batch", required_argument, NULL, 'b'},
      {"threads", required_argument, NULL, 't'}, {"seed", required_argument, NULL, 's'},
      {"min-time", required_argument, NULL, 'T'}, {"input", required_argument, NULL, 'i'},
      {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
  size_t nrows = 65536;
  int rows_given = 0;
  const char *input = NULL; /* CSV whose rows replace the synthesized ones */
  const char *batches = "1,16,256,4096,65536";
  uint32_t threads = 1;
  uint64_t seed = 42;
  double min_time = 0.5;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (c) {
      case 'r': nrows = parse_count("--rows", optarg, 1ul << 26); rows_given = 1; break;
      case 'i': input = optarg; break;
      case 'b': batches = optarg; break;
      case 't': threads = (uint32_t)parse_count("--threads", optarg, 256); break;
      case 's': seed = parse_count("--seed", optarg, ~0ul); break;
      case 'T': min_time = (double)parse_count("--min-time (ms)", optarg, 600000) / 1000.0; break;
      case 'h': fputs(usage_text, stdout); return 0;
      default: fputs(usage_text, stderr); return EXIT_INPUT;
    }
  }
  if (optind + 1 != argc) {
    fprintf(stderr, "grove bench: expected MODEL\n");
    return EXIT_INPUT;
  }
  grove_forest_t *forest;
  grove_schema_t *schema;
  if (load_or_report(argv[optind], &forest, &schema) != 0) return EXIT_MODEL;
  grove_forest_info_t info;
  grove_forest_get_info(forest, &info);
  /* --input: the rows `grove predict` would read from the file (same reader, same schema),
   * all of them, or cycled / cut to --rows when it is given. */
  float *file_rows = NULL;
  size_t file_nrows = 0;
  if (input != NULL) {
    FILE *in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (in == NULL) {
      fprintf(stderr, "grove bench: %s: %s\n", input, strerror(errno));
      grove_schema_free(schema);
      grove_forest_unref(forest);
      return EXIT_INPUT;
    }
    grove_error_t err;
    csv_rows_opts_t copts = {.forest = forest, .schema = schema, .ignore_extra = 0};
    grove_err_t ec = csv_rows_read(in, &copts, &file_rows, &file_nrows, &err);
    if (in != stdin) fclose(in);
    if (ec == GROVE_OK && file_nrows == 0) {
      snprintf(err.msg, sizeof err.msg, "no data rows");
      ec = GROVE_EINPUT;
    }
    if (ec != GROVE_OK) {
      fprintf(stderr, "grove bench: %s: %s\n", strcmp(input, "-") == 0 ? "<stdin>" : input, err.msg);
      free(file_rows);
      grove_schema_free(schema);
      grove_forest_unref(forest);
      return ec == GROVE_EINPUT ? EXIT_INPUT : EXIT_MODEL;
    }
    if (!rows_given) nrows = file_nrows;
  }
  grove_schema_free(schema);
  float *rows = malloc(nrows * info.num_features * sizeof *rows);
  float *out = malloc(nrows * info.num_outputs * sizeof *out);
  if (rows == NULL || out == NULL) {
    fprintf(stderr, "grove bench: out of memory\n");
    free(rows);
    free(out);
    free(file_rows);
    grove_forest_unref(forest);
    return EXIT_MODEL;
  }
  if (file_rows != NULL) {
    for (size_t r = 0; r < nrows; r++)
      memcpy(rows + r * info.num_features, file_rows + (r % file_nrows) * info.num_features,
             info.num_features * sizeof *rows);
    free(file_rows);
  } else {
    grove_forest_synthesize_rows(forest, nrows, seed, rows);
  }
  grove_predict_opts_t popts = {.margin = 0, .threads = threads};
  int rc = 0;
  for (const char *p = batches; *p;) {
    char *end;
    unsigned long batch = strtoul(p, &end, 10);
    if (end == p || batch == 0 || (*end != ',' && *end != '\0')) {
      fprintf(stderr, "grove bench: --batch expects sizes like 1,16,256\n");
      rc = EXIT_INPUT;
      break;
    }
    p = *end ? end + 1 : end;
    if (batch > nrows) batch = nrows;
    /* Repeat passes over the rows until min_time has passed, batch by batch. */
    size_t done_rows = 0, calls = 0;
    double start = now_seconds(), elapsed;
    do {
      for (size_t r = 0; r + batch <= nrows; r += batch) {
        grove_forest_predict(forest, rows + r * info.num_features, batch, out + r * info.num_outputs, &popts, NULL);
        done_rows += batch;
        calls++;
      }
      elapsed = now_seconds() - start;
    } while (elapsed < min_time);
    printf("{\"model\":\"%s\",\"trees\":%u,\"features\":%u,\"batch\":%lu,\"threads\":%u,\"isa\":\"%s\","
           "\"kernel\":\"%s\",\"rows\":%zu,\"seconds\":%.6f,\"rows_per_s\":%.1f,\"ns_per_row\":%.2f,"
           "\"us_per_call\":%.3f,\"source\":\"%s\"}\n",
           info.objective, info.num_trees, info.num_features, batch, threads, grove_engine_isa(),
           grove_engine_kernel(), done_rows, elapsed, (double)done_rows / elapsed, elapsed * 1e9 / (double)done_rows,
           elapsed * 1e6 / (double)calls, input != NULL ? "csv" : "synthetic");
    fflush(stdout);
  }
  free(rows);
  free(out);
  grove_forest_unref(forest);
  return rc;
}

/* ---- serve ---- */

/* Model name from a path: the directory's name, or the file's name without extension. */
static void model_name_of(const char *path, char *name, size_t len) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  size_t n = strlen(tmp);
  while (n > 1 && tmp[n - 1] == '/') tmp[--n] = '\0';
  const char *base = strrchr(tmp, '/') ? strrchr(tmp, '/') + 1 : tmp;
  snprintf(name, len, "%s", base);
  char *dot = strrchr(name, '.');
  if (dot != NULL && dot != name && (strcmp(dot, ".json") == 0 || strcmp(dot, ".ubj") == 0)) *dot = '\0';
}

/* Only main reads the environment; the config module gets this lookup. */
static const char *env_lookup(const char *name) { return getenv(name); }

static int cmd_serve(int argc, char **argv) {
  grove_config_t cfg;
  char err[512];
  int rc = config_parse(argc, argv, env_lookup, &cfg, err, sizeof err);
  if (rc == 1) return 0; /* --help */
  if (rc != 0) {
    fprintf(stderr, "grove serve: %s\n", err);
    return EXIT_INPUT;
  }
  registry_t *reg = registry_new();
  grove_metrics_t *metrics = metrics_new();
  int exit_code = EXIT_MODEL;
  if (reg == NULL || metrics == NULL) goto done;
  if (cfg.num_model_paths > 0) {
    for (size_t i = 0; i < cfg.num_model_paths; i++) {
      char name[256];
      model_name_of(cfg.model_paths[i], name, sizeof name);
      if (registry_add(reg, name, cfg.model_paths[i], err, sizeof err) != 0) {
        fprintf(stderr, "grove serve: %s\n", err);
        goto done;
      }
    }
  } else if (registry_add_dir(reg, cfg.models_dir, err, sizeof err) < 0) {
    fprintf(stderr, "grove serve: %s\n", err);
    goto done;
  }
  grove_model_t *models[256];
  size_t n = registry_list(reg, models, 256);
  if (n == 0) {
    fprintf(stderr, "grove serve: no models to serve (give MODEL paths, or --models DIR with subdirectories "
                    "holding model.json, model.ubj or model.txt)\n");
    goto done;
  }
  /* The default model behind POST /predict: --default-model, else "income", else the first. */
  const char *default_model = NULL;
  for (size_t i = 0; i < n; i++)
    if (strcmp(models[i]->name, cfg.default_model ? cfg.default_model : "income") == 0) default_model = models[i]->name;
  if (default_model == NULL && cfg.default_model != NULL) {
    fprintf(stderr, "grove serve: --default-model \"%s\" is not among the loaded models\n", cfg.default_model);
    for (size_t i = 0; i < n; i++) model_unref(models[i]);
    goto done;
  }
  if (default_model == NULL) default_model = models[0]->name;
  char names[2048] = "";
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    grove_forest_info_t info;
    grove_forest_get_info(models[i]->forest, &info);
    int w = snprintf(names + used, sizeof names - used, "%s%s(%u trees, %u features)", i ? "," : "",
                     models[i]->name, info.num_trees, info.num_features);
    if (w > 0 && (size_t)w < sizeof names - used) used += (size_t)w;
  }
  char default_name[256];
  snprintf(default_name, sizeof default_name, "%s", default_model);
  for (size_t i = 0; i < n; i++) model_unref(models[i]);
  if (grove_engine_isa_note() != NULL) grove_log("warn", grove_engine_isa_note(), NULL);
  grove_log("info", "grove starting",
            "version=%s isa=%s kernel=%s io_threads=%u workers=%u max_batch_rows=%u max_delay_us=%u models=\"%s\" "
            "default_model=%s url=%s://%s:%u",
            GROVE_VERSION, grove_engine_isa(), grove_engine_kernel(), cfg.io_threads, cfg.workers, cfg.max_batch_rows,
            cfg.max_delay_us, names, default_name, cfg.tls_cert ? "https" : "http", cfg.host, cfg.port);
  exit_code = server_run(&cfg, reg, metrics, default_name);
done:
  registry_free(reg);
  metrics_free(metrics);
  config_free(&cfg);
  return exit_code;
}

int main(int argc, char **argv) {
  /* A GROVE_ISA the engine could not honour is worth a line on stderr for the CLI too. */
  if (argc >= 2 && strcmp(argv[1], "serve") != 0 && grove_engine_isa_note() != NULL)
    fprintf(stderr, "grove: %s\n", grove_engine_isa_note());
  if (argc < 2) {
    fputs(usage_text, stderr);
    return EXIT_INPUT;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "predict") == 0) return cmd_predict(argc - 1, argv + 1);
  if (strcmp(cmd, "info") == 0) return cmd_info(argc - 1, argv + 1);
  if (strcmp(cmd, "schema") == 0) return cmd_schema(argc - 1, argv + 1);
  if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 1, argv + 1);
  if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("grove %s (%s)\n", GROVE_VERSION, grove_engine_isa());
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  fprintf(stderr, "grove: unknown command \"%s\"\n\n%s", cmd, usage_text);
  return EXIT_INPUT;
}
