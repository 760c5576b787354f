/*
 * A main() for fuzz targets built without libFuzzer: feeds every file named on the
 * command line (directories: every regular file in them, in name order) to
 * LLVMFuzzerTestOneInput once. This replays the committed corpus as an ordinary test,
 * under gcc's sanitizers, wherever clang's libFuzzer is not available.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs one file; returns 0 on success, -1 when it cannot be read. */
static int replay_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *data = malloc(cap);
  size_t got;
  while (data != NULL && (got = fread(data + len, 1, cap - len, fp)) > 0) {
    len += got;
    if (len == cap) {
      uint8_t *bigger = realloc(data, cap *= 2);
      if (bigger == NULL) free(data);
      data = bigger;
    }
  }
  int failed = data == NULL || ferror(fp);
  fclose(fp);
  if (failed) {
    fprintf(stderr, "%s: cannot read\n", path);
    free(data);
    return -1;
  }
  /* An exact-size heap copy, so that a read past the end is caught by ASan. */
  uint8_t *exact = malloc(len ? len : 1);
  if (exact == NULL) {
    free(data);
    return -1;
  }
  memcpy(exact, data, len);
  free(data);
  fprintf(stderr, "replay %s (%zu bytes)\n", path, len);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

/* Runs every regular file in DIR; returns how many ran, or -1 on an unreadable entry. */
static int replay_dir(const char *dir) {
  struct dirent **entries;
  int n = scandir(dir, &entries, NULL, by_name);
  if (n < 0) {
    perror(dir);
    return -1;
  }
  int ran = 0, failed = 0;
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, entries[i]->d_name);
    if (entries[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
      if (replay_file(path) != 0) failed = 1;
      ran++;
    }
    free(entries[i]);
  }
  free(entries);
  return failed ? -1 : ran;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  int total = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 1;
    }
    int ran = S_ISDIR(st.st_mode) ? replay_dir(argv[i]) : replay_file(argv[i]) == 0 ? 1 : -1;
    if (ran < 0) return 1;
    total += ran;
  }
  /* An empty corpus would make this test pass without testing anything. */
  if (total == 0) {
    fprintf(stderr, "no inputs found\n");
    return 1;
  }
  fprintf(stderr, "replayed %d inputs\n", total);
  return 0;
}
