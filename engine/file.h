/* Internal: reading whole files. */
#ifndef GROVE_FILE_H
#define GROVE_FILE_H

#include <stddef.h>

#include "grove_engine.h"

/* Files larger than this are refused rather than read into memory. */
#define GROVE_MAX_FILE_BYTES ((size_t)4 << 30)

/*
 * Reads PATH into a NUL-terminated malloc'd buffer (*data, *len without the NUL); the
 * caller frees *data. Refuses directories and files over GROVE_MAX_FILE_BYTES.
 */
grove_err_t grove__file_read(const char *path, char **data, size_t *len, grove_error_t *err);

/*
 * Maps PATH read-only (PROT_READ, MAP_PRIVATE): *map and *len (the file's bytes, at least
 * one) for munmap(). Its pages are the page cache's, shared with every process mapping
 * the file; nothing is copied. Refuses what grove__file_read() refuses and empty files.
 */
grove_err_t grove__file_map(const char *path, void **map, size_t *len, grove_error_t *err);

/* Returns 1 when PATH is a directory. */
int grove__file_is_dir(const char *path);

#endif /* GROVE_FILE_H */
