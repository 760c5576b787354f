/* Internal: a 64-bit hash for model images' checksums and their sources' identity. */
#ifndef GROVE_HASH_H
#define GROVE_HASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * XXH64 (xxHash's 64-bit hash, written from its specification) of the LEN bytes at DATA
 * with SEED: fast enough that checking a whole image costs a fraction of a millisecond per
 * megabyte, and the same value on every host, so an image's recorded hashes stay valid
 * wherever it is read.
 */
uint64_t grove__hash64(const void *data, size_t len, uint64_t seed);

#endif /* GROVE_HASH_H */
