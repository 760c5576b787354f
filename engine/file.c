/* Reading whole files with clear errors. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

int grove__file_is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* What a path that is not a regular file is, for the error message. */
static const char *file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

/*
 * Opens PATH for reading only if it is a regular file. stat() comes first so that a FIFO or
 * a device is refused before open() (which would block on a FIFO until a writer comes);
 * O_NONBLOCK keeps open() itself from waiting (a FIFO swapped in after the stat, a file
 * under a lease), and the fstat() of what was opened catches such a swap. Returns the file
 * descriptor with *ST filled, or -1 with ERR set.
 */
static int open_regular(const char *path, struct stat *st, grove_error_t *err) {
  if (stat(path, st) != 0) {
    grove__error_set(err, GROVE_EIO, "%s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    grove__error_set(err, GROVE_EIO, "%s: %s, not a regular file", path, file_kind(st->st_mode));
    return -1;
  }
  int fd;
  do {
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    grove__error_set(err, GROVE_EIO, "%s: %s", path,
                     errno == EWOULDBLOCK ? "cannot be opened without waiting (a lease or lock)"
                                          : strerror(errno));
    return -1;
  }
  if (fstat(fd, st) != 0) {
    grove__error_set(err, GROVE_EIO, "%s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  if (!S_ISREG(st->st_mode)) {
    grove__error_set(err, GROVE_EIO, "%s: changed into %s while being opened", path,
                     file_kind(st->st_mode));
    close(fd);
    return -1;
  }
  return fd;
}

grove_err_t grove__file_read(const char *path, char **data, size_t *len, grove_error_t *err) {
  *data = NULL;
  *len = 0;
  struct stat st;
  int fd = open_regular(path, &st, err);
  if (fd < 0) return GROVE_EIO;
  FILE *fp = fdopen(fd, "rb");
  if (fp == NULL) {
    close(fd);
    return grove__error_set(err, GROVE_EIO, "%s: %s", path, strerror(errno));
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

grove_err_t grove__file_map(const char *path, void **map, size_t *len, grove_error_t *err) {
  *map = NULL;
  *len = 0;
  struct stat st;
  int fd = open_regular(path, &st, err);
  if (fd < 0) return GROVE_EIO;
  grove_err_t rc = GROVE_OK;
  if (st.st_size == 0)
    rc = grove__error_set(err, GROVE_EPARSE, "%s: empty file", path);
  else if ((size_t)st.st_size > GROVE_MAX_FILE_BYTES)
    rc = grove__error_set(err, GROVE_EIO, "%s: %lld bytes is larger than the %zu-byte limit", path,
                          (long long)st.st_size, GROVE_MAX_FILE_BYTES);
  if (rc == GROVE_OK) {
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      rc = grove__error_set(err, GROVE_EIO, "%s: cannot map: %s", path, strerror(errno));
    } else {
      *map = p;
      *len = (size_t)st.st_size;
    }
  }
  close(fd);
  return rc;
}
