/*
 * Internal: compiled model images (image.c), the file form of a loaded forest that
 * grove_forest_image_load() maps read-only instead of parsing and building a model.
 */
#ifndef GROVE_IMAGE_H
#define GROVE_IMAGE_H

#include <stddef.h>

#include "grove_engine.h"

/* An image's first 8 bytes. */
#define GROVE_IMAGE_MAGIC       "GROVEIMG"
#define GROVE_IMAGE_MAGIC_BYTES 8

/* The version of the file's own layout (header, section table); kernels/forest.h's
 * GROVE_FOREST_LAYOUT_VERSION versions what the sections hold. */
#define GROVE_IMAGE_FORMAT_VERSION 1

/* An image file's extension: `grove compile` writes model.grove beside model.json. */
#define GROVE_IMAGE_EXT ".grove"

/* 1 when the LEN bytes at DATA start like an image (its magic). */
int grove__image_sniff(const char *data, size_t len);

/* Writes the name an image of SOURCE has in a cache directory (its hash and size, and the
 * format and layout versions, so grove builds of other layouts sharing the directory keep
 * their own) to BUF; returns what snprintf returns. */
int grove__image_cache_name(const grove_source_id_t *source, char *buf, size_t size);

/* For tests that forge images: recomputes the checksum of the image at DATA (LEN bytes)
 * after they changed its bytes. Returns the offset of its first section (the nodes), or 0
 * when DATA is too short to be an image. */
size_t grove__image_reseal(char *data, size_t len);

#endif /* GROVE_IMAGE_H */
