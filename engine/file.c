/* Reading whole files with clear errors. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

int grove__file_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

grove_err_t grove__file_read(const char *path, char **data, size_t *len, grove_error_t *err) {
  *data = NULL;
  *len = 0;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return grove__error_set(err, GROVE_EIO, "%s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(fp);
    return grove__error_set(err, GROVE_EIO, "%s: not a regular file", path);
  }
  if ((size_t)st.st_size > GROVE_MAX_FILE_BYTES) {
    fclose(fp);
    return grove__error_set(err, GROVE_EIO, "%s: %lld bytes is larger than the %zu-byte limit",
                            path, (long long)st.st_size, GROVE_MAX_FILE_BYTES);
  }
  size_t size = (size_t)st.st_size;
  char *buf = malloc(size + 1);
  if (buf == NULL) {
    fclose(fp);
    return grove__error_set(err, GROVE_ENOMEM, "%s: out of memory (%zu bytes)", path, size);
  }
  size_t got = fread(buf, 1, size, fp);
  int failed = ferror(fp);
  fclose(fp);
  if (failed || got != size) {
    free(buf);
    return grove__error_set(err, GROVE_EIO, "%s: short read", path);
  }
  buf[size] = '\0';
  *data = buf;
  *len = size;
  return GROVE_OK;
}
