/*
 * load_bench MODEL_FILE [REPEATS]: where loading a model goes, best of REPEATS (default 5),
 * in ms of wall time on one thread: reading the file; json-c's parse alone (JSON models)
 * and freeing its tree; the whole load from the source (parse, the loader's walk of the
 * tree, the builder); hashing the source (what telling a current image from a stale one
 * costs); writing the image; mapping it with every check; and, of those checks, the
 * checksum alone (one XXH64 pass over the image's bytes). One JSON line (bench/RESULTS.md).
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "grove_engine.h"
#include "hash.h"

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

#define BEST(var, stmt)               \
  do {                                \
    const double t0_ = now_ms();      \
    stmt;                             \
    const double d_ = now_ms() - t0_; \
    if (d_ < (var)) (var) = d_;       \
  } while (0)

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: load_bench MODEL_FILE [REPEATS]\n");
    return 2;
  }
  const int reps = argc > 2 ? atoi(argv[2]) : 5;
  char image[4200];
  snprintf(image, sizeof image, "/tmp/load_bench.%ld.grove", (long)getpid());
  double t_read = 1e30, t_parse = 1e30, t_free = 1e30, t_load = 1e30, t_id = 1e30, t_write = 1e30,
         t_map = 1e30, t_sum = 1e30;
  grove_error_t err;
  size_t image_bytes = 0;
  int json = 0;
  for (int r = 0; r < reps; r++) {
    char *data;
    size_t len;
    BEST(t_read, grove__file_read(argv[1], &data, &len, &err));
    json = len > 0 && data[0] != '{' ? 0 : len > 1 && strchr("UiIlL$#", data[1]) == NULL;
    if (json) {
      json_object *root = NULL;
      BEST(t_parse, root = json_tokener_parse(data));
      BEST(t_free, json_object_put(root));
    }
    grove_forest_t *f = NULL, *m = NULL;
    BEST(t_load, grove_forest_load_buffer(data, len, argv[1], &f, &err));
    if (f == NULL) {
      fprintf(stderr, "load_bench: %s\n", err.msg);
      return 1;
    }
    grove_source_id_t id;
    BEST(t_id, id = grove_source_id_of(data, len));
    BEST(t_write, grove_forest_image_write(f, &id, image, &err));
    BEST(t_map, grove_forest_image_load(image, &id, &m, &err));
    if (m == NULL) {
      fprintf(stderr, "load_bench: %s\n", err.msg);
      return 1;
    }
    char *img;
    grove__file_read(image, &img, &image_bytes, &err);
    volatile uint64_t sink;
    BEST(t_sum, sink = grove__hash64(img, image_bytes, 0));
    (void)sink;
    free(img);
    grove_forest_free(m);
    grove_forest_free(f);
    free(data);
  }
  unlink(image);
  printf("{\"model\":\"%s\",\"image_bytes\":%zu,\"read_ms\":%.3f,", argv[1], image_bytes, t_read);
  if (json) printf("\"jsonc_parse_ms\":%.3f,\"jsonc_free_ms\":%.3f,", t_parse, t_free);
  printf(
      "\"load_source_ms\":%.3f,\"hash_source_ms\":%.3f,\"write_image_ms\":%.3f,"
      "\"map_image_ms\":%.3f,\"checksum_ms\":%.3f}\n",
      t_load, t_id, t_write, t_map, t_sum);
  return 0;
}
