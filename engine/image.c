/*
 * Compiled model images: a loaded forest's arrays written to a file as they lie in memory,
 * each at a 64-byte aligned offset named in a header, so that loading is mmap() plus the
 * small grove_forest_t around the mapping. The mapping is read-only and shared with every
 * process mapping the same file; nothing in it is written, pointers are rebuilt beside it.
 *
 * An image is never trusted: loading checks the header (magic, versions, byte order, word
 * size, the struct sizes the arrays assume), that every section lies inside the file at its
 * exact size, the XXH64 checksum of everything after it, and then the arrays themselves
 * as the builder made them (every index in range, each tree breadth-first with adjacent
 * children, the derived tables equal to ones rebuilt from the nodes), so a hostile file
 * with a correct checksum is refused too, never walked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "builder.h"
#include "error.h"
#include "file.h"
#include "hash.h"
#include "image.h"
#include "input.h"
#include "version.h"

/* The sections, in file order. */
enum {
  SEC_NODES,
  SEC_ROOTS,
  SEC_GROUPS,
  SEC_CAT_SETS,
  SEC_CAT_WORDS,
  SEC_BASE_MARGINS,
  SEC_FEATURE_TYPES,
  SEC_STRINGS, /* format, source_model, objective, booster, then the feature names: NUL-ended */
  SEC_TOPS,
  SEC_NODES8,
  SEC_THRESHOLDS64,
  SEC_THRESHOLD_OFFSETS,
  SEC_NEAR_FLOATS,
  SEC_LINEAR,
  SEC_LINEAR_TERMS,
  SEC_LINEAR_INPUTS,
  SEC_NODE_IDS,
  SEC_COVER_RATIOS,
  SEC_TREE_EXPECTED,
  SEC_SHAP_FLAGS,
  SEC_COUNT
};

static const char *const section_names[SEC_COUNT] = {
    "nodes",          "roots",         "tree groups",          "category sets",
    "category words", "base margins",  "feature types",        "strings",
    "top tables",     "8-byte nodes",  "thresholds",           "threshold offsets",
    "near floats",    "linear leaves", "linear terms",         "linear inputs",
    "node ids",       "cover ratios",  "tree expected values", "shap flags",
};

#define IMAGE_BYTE_ORDER 0x01020304u /* as the writer's CPU stores it */

#define FLAG_NODES8 0x1u /* the 8-byte nodes are present */
#define FLAG_COVERS 0x2u /* cover ratios, tree expected values and shap flags are present */

typedef struct {
  uint64_t offset, bytes;
} image_section_t;

/* The header. Everything after `checksum` is covered by it, the sections too. */
typedef struct {
  char magic[GROVE_IMAGE_MAGIC_BYTES];
  uint32_t format_version;                                       /* GROVE_IMAGE_FORMAT_VERSION */
  uint32_t layout_version;                                       /* GROVE_FOREST_LAYOUT_VERSION */
  uint32_t byte_order;                                           /* IMAGE_BYTE_ORDER */
  uint8_t pointer_bytes, size_bytes, node_bytes, top_bytes_div8; /* sizeof void*, size_t, the
                                                                    node, the top table / 8 */
  uint64_t file_bytes;
  uint64_t checksum; /* XXH64 of bytes [offsetof(checksum) + 8, file_bytes) */

  uint64_t source_hash, source_bytes; /* the source model file's XXH64 and size */
  char grove_version[16];             /* the writer's GROVE_VERSION, for messages */
  uint32_t task, transform, num_features, num_groups;
  uint32_t num_outputs, num_trees, num_parallel_tree, max_depth;
  uint64_t num_nodes, num_leaves, num_categorical_splits, memory_bytes;
  double base_margin;
  uint32_t has_feature_names, top_levels, leaf64, average_over;
  uint32_t flags, num_cat_sets, num_cat_words, reserved;
  uint64_t num_zero_missing, near_mask, num_linear_leaves, num_thresholds64, num_linear_terms;
  image_section_t sections[SEC_COUNT];
} image_header_t;

_Static_assert(sizeof(image_header_t) % 8 == 0, "the header has no tail padding to leave unset");

static size_t align_up(size_t n) {
  return (n + GROVE_FOREST_ALIGN - 1) & ~(size_t)(GROVE_FOREST_ALIGN - 1);
}

static const size_t header_bytes =
    (sizeof(image_header_t) + GROVE_FOREST_ALIGN - 1) & ~(size_t)(GROVE_FOREST_ALIGN - 1);

int grove__image_sniff(const char *data, size_t len) {
  return len >= GROVE_IMAGE_MAGIC_BYTES &&
         memcmp(data, GROVE_IMAGE_MAGIC, GROVE_IMAGE_MAGIC_BYTES) == 0;
}

int grove__image_cache_name(const grove_source_id_t *source, char *buf, size_t size) {
  return snprintf(buf, size, "%016llx-%llu-v%u.%u" GROVE_IMAGE_EXT,
                  (unsigned long long)source->hash, (unsigned long long)source->bytes,
                  GROVE_IMAGE_FORMAT_VERSION, GROVE_FOREST_LAYOUT_VERSION);
}

grove_source_id_t grove_source_id_of(const void *data, size_t len) {
  return (grove_source_id_t){.hash = grove__hash64(data, len, 0), .bytes = len};
}

/* ------------------------------------------------------------------------- */
/* Writing                                                                    */

/* Where each section's bytes come from, and how many. */
static void writer_sections(const grove_forest_t *f, const void **src, uint64_t *bytes) {
  const uint64_t nn = f->info.num_nodes, nt = f->info.num_trees, nf = f->info.num_features;
#define SET(i, ptr, n) (src[i] = (ptr), bytes[i] = (ptr) != NULL ? (uint64_t)(n) : 0)
  SET(SEC_NODES, f->nodes, nn * sizeof(grove_node_t));
  SET(SEC_ROOTS, f->roots, nt * sizeof(uint32_t));
  SET(SEC_GROUPS, f->tree_groups, nt * sizeof(uint32_t));
  SET(SEC_CAT_SETS, f->cat_sets, f->num_cat_sets * sizeof(grove_cat_set_t));
  SET(SEC_CAT_WORDS, f->cat_words, f->num_cat_words * sizeof(uint32_t));
  SET(SEC_BASE_MARGINS, f->base_margins, f->info.num_groups * sizeof(float));
  SET(SEC_FEATURE_TYPES, f->feature_types, nf);
  src[SEC_STRINGS] = NULL; /* gathered by the writer */
  bytes[SEC_STRINGS] = 0;
  SET(SEC_TOPS, f->top_levels ? (const void *)f->tops : NULL, nt * sizeof(grove_top_t));
  SET(SEC_NODES8, f->nodes8, nn * sizeof(grove_node8_t));
  SET(SEC_THRESHOLDS64, f->leaf64 ? f->thresholds64 : NULL, f->num_thresholds64 * sizeof(double));
  SET(SEC_THRESHOLD_OFFSETS, f->leaf64 ? f->threshold_offsets : NULL, (nf + 1) * sizeof(uint32_t));
  SET(SEC_NEAR_FLOATS, f->leaf64 ? f->near_floats : NULL, (f->near_mask + 1) * sizeof(uint64_t));
  SET(SEC_LINEAR, f->num_linear_leaves ? f->linear : NULL,
      f->num_linear_leaves * sizeof(grove_linear_t));
  SET(SEC_LINEAR_TERMS, f->num_linear_leaves ? f->linear_terms : NULL,
      f->num_linear_terms * sizeof(grove_linear_term_t));
  SET(SEC_LINEAR_INPUTS, f->num_linear_leaves ? f->linear_inputs : NULL, nf);
  SET(SEC_NODE_IDS, f->node_ids, nn * sizeof(uint32_t));
  SET(SEC_COVER_RATIOS, f->cover_ratios, nn * sizeof(double));
  SET(SEC_TREE_EXPECTED, f->cover_ratios ? f->tree_expected : NULL, nt * sizeof(double));
  SET(SEC_SHAP_FLAGS, f->cover_ratios ? f->shap_flags : NULL, nn);
#undef SET
}

/* Appends string S (with its NUL) at *at in BUF, or only counts it when BUF is NULL. */
static void put_string(char *buf, size_t *at, const char *s) {
  const size_t n = strlen(s) + 1;
  if (buf != NULL) memcpy(buf + *at, s, n);
  *at += n;
}

static size_t put_strings(const grove_forest_t *f, char *buf) {
  size_t at = 0;
  put_string(buf, &at, f->info.format);
  put_string(buf, &at, f->info.source_model);
  put_string(buf, &at, f->info.objective);
  put_string(buf, &at, f->info.booster);
  if (f->feature_names != NULL)
    for (uint32_t i = 0; i < f->info.num_features; i++) put_string(buf, &at, f->feature_names[i]);
  return at;
}

/* Writes the LEN bytes at DATA to PATH through a temporary file renamed over it, so a
 * reader (another replica sharing a cache) sees the old file or the whole new one. */
static grove_err_t write_atomically(const char *path, const void *data, size_t len,
                                    grove_error_t *err) {
  static atomic_uint serial;
  char tmp[4200];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.%u.tmp", path, (long)getpid(),
                       atomic_fetch_add(&serial, 1)) >= sizeof tmp)
    return grove__error_set(err, GROVE_EINVAL, "%s: path too long", path);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return grove__error_set(err, GROVE_EIO, "%s: %s", tmp, strerror(errno));
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int e = w < 0 ? errno : EIO;
      close(fd);
      unlink(tmp);
      return grove__error_set(err, GROVE_EIO, "%s: %s", tmp, strerror(e));
    }
    p += w;
    left -= (size_t)w;
  }
  if (close(fd) != 0 || rename(tmp, path) != 0) {
    const int e = errno;
    unlink(tmp);
    return grove__error_set(err, GROVE_EIO, "%s: %s", path, strerror(e));
  }
  return GROVE_OK;
}

grove_err_t grove_forest_image_write(const grove_forest_t *f, const grove_source_id_t *source,
                                     const char *path, grove_error_t *err) {
  const void *src[SEC_COUNT];
  uint64_t bytes[SEC_COUNT];
  writer_sections(f, src, bytes);
  bytes[SEC_STRINGS] = put_strings(f, NULL);
  image_header_t h;
  memset(&h, 0, sizeof h);
  size_t cursor = header_bytes;
  for (int i = 0; i < SEC_COUNT; i++) {
    h.sections[i].offset = cursor;
    h.sections[i].bytes = bytes[i];
    cursor = align_up(cursor + bytes[i]);
  }
  char *file = calloc(1, cursor);
  if (file == NULL)
    return grove__error_set(err, GROVE_ENOMEM, "%s: out of memory (%zu bytes)", path, cursor);
  for (int i = 0; i < SEC_COUNT; i++)
    if (bytes[i] && src[i] != NULL) memcpy(file + h.sections[i].offset, src[i], bytes[i]);
  put_strings(f, file + h.sections[SEC_STRINGS].offset);

  memcpy(h.magic, GROVE_IMAGE_MAGIC, GROVE_IMAGE_MAGIC_BYTES);
  h.format_version = GROVE_IMAGE_FORMAT_VERSION;
  h.layout_version = GROVE_FOREST_LAYOUT_VERSION;
  h.byte_order = IMAGE_BYTE_ORDER;
  h.pointer_bytes = sizeof(void *);
  h.size_bytes = sizeof(size_t);
  h.node_bytes = sizeof(grove_node_t);
  h.top_bytes_div8 = sizeof(grove_top_t) / 8;
  h.file_bytes = cursor;
  h.source_hash = source != NULL ? source->hash : 0;
  h.source_bytes = source != NULL ? source->bytes : 0;
  snprintf(h.grove_version, sizeof h.grove_version, "%s", GROVE_VERSION);
  const grove_forest_info_t *in = &f->info;
  h.task = in->task;
  h.transform = in->transform;
  h.num_features = in->num_features;
  h.num_groups = in->num_groups;
  h.num_outputs = in->num_outputs;
  h.num_trees = in->num_trees;
  h.num_parallel_tree = in->num_parallel_tree;
  h.max_depth = in->max_depth;
  h.num_nodes = in->num_nodes;
  h.num_leaves = in->num_leaves;
  h.num_categorical_splits = in->num_categorical_splits;
  h.memory_bytes = in->memory_bytes;
  h.base_margin = in->base_margin;
  h.has_feature_names = f->feature_names != NULL;
  h.top_levels = (uint32_t)f->top_levels;
  h.leaf64 = (uint32_t)f->leaf64;
  h.average_over = f->average_over;
  h.flags = (f->nodes8 ? FLAG_NODES8 : 0) | (f->cover_ratios ? FLAG_COVERS : 0);
  h.num_cat_sets = f->num_cat_sets;
  h.num_cat_words = f->num_cat_words;
  h.num_zero_missing = f->num_zero_missing;
  h.near_mask = f->leaf64 ? f->near_mask : 0;
  h.num_linear_leaves = f->num_linear_leaves;
  h.num_thresholds64 = f->leaf64 ? f->num_thresholds64 : 0;
  h.num_linear_terms = f->num_linear_leaves ? f->num_linear_terms : 0;
  memcpy(file, &h, sizeof h);
  const size_t covered = offsetof(image_header_t, checksum) + sizeof h.checksum;
  h.checksum = grove__hash64(file + covered, cursor - covered, 0);
  memcpy(file + offsetof(image_header_t, checksum), &h.checksum, sizeof h.checksum);
  grove_err_t rc = write_atomically(path, file, cursor, err);
  free(file);
  return rc;
}

/* ------------------------------------------------------------------------- */
/* Loading and validation                                                     */

/* *OUT = A * B, 0 when that overflows 64 bits. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
  return !__builtin_mul_overflow(a, b, out);
}

#define BAD(...) grove__error_set(err, GROVE_EPARSE, __VA_ARGS__)

/* The bytes each section must have, from the header's counts; -1 when a count overflows. */
static int expected_sections(const image_header_t *h, uint64_t *want) {
  const uint64_t nn = h->num_nodes, nt = h->num_trees, nf = h->num_features;
  const int covers = (h->flags & FLAG_COVERS) != 0;
  int ok = 1;
  ok &= mul_ok(nn, sizeof(grove_node_t), &want[SEC_NODES]);
  ok &= mul_ok(nt, sizeof(uint32_t), &want[SEC_ROOTS]);
  want[SEC_GROUPS] = want[SEC_ROOTS];
  ok &= mul_ok(h->num_cat_sets, sizeof(grove_cat_set_t), &want[SEC_CAT_SETS]);
  ok &= mul_ok(h->num_cat_words, sizeof(uint32_t), &want[SEC_CAT_WORDS]);
  ok &= mul_ok(h->num_groups, sizeof(float), &want[SEC_BASE_MARGINS]);
  want[SEC_FEATURE_TYPES] = nf;
  want[SEC_STRINGS] = h->sections[SEC_STRINGS].bytes; /* checked by its contents */
  ok &= mul_ok(h->top_levels ? nt : 0, sizeof(grove_top_t), &want[SEC_TOPS]);
  ok &= mul_ok(h->flags & FLAG_NODES8 ? nn : 0, sizeof(grove_node8_t), &want[SEC_NODES8]);
  ok &= mul_ok(h->leaf64 ? h->num_thresholds64 : 0, sizeof(double), &want[SEC_THRESHOLDS64]);
  ok &= mul_ok(h->leaf64 ? nf + 1 : 0, sizeof(uint32_t), &want[SEC_THRESHOLD_OFFSETS]);
  ok &= h->near_mask < UINT64_MAX;
  ok &= mul_ok(h->leaf64 ? h->near_mask + 1 : 0, sizeof(uint64_t), &want[SEC_NEAR_FLOATS]);
  ok &= mul_ok(h->num_linear_leaves, sizeof(grove_linear_t), &want[SEC_LINEAR]);
  ok &= mul_ok(h->num_linear_leaves ? h->num_linear_terms : 0, sizeof(grove_linear_term_t),
               &want[SEC_LINEAR_TERMS]);
  want[SEC_LINEAR_INPUTS] = h->num_linear_leaves ? nf : 0;
  ok &= mul_ok(nn, sizeof(uint32_t), &want[SEC_NODE_IDS]);
  ok &= mul_ok(covers ? nn : 0, sizeof(double), &want[SEC_COVER_RATIOS]);
  ok &= mul_ok(covers ? nt : 0, sizeof(double), &want[SEC_TREE_EXPECTED]);
  want[SEC_SHAP_FLAGS] = covers ? nn : 0;
  return ok ? 0 : -1;
}

/* The header's own checks: what this build can read at all, and where the sections are. */
static grove_err_t check_header(const image_header_t *h, size_t len, grove_error_t *err) {
  if (h->format_version != GROVE_IMAGE_FORMAT_VERSION ||
      h->layout_version != GROVE_FOREST_LAYOUT_VERSION)
    return grove__error_set(err, GROVE_ESTALE,
                            "image format %u, layout %u (written by grove %.15s); this grove reads "
                            "format %u, layout %u: recompile it",
                            h->format_version, h->layout_version, h->grove_version,
                            GROVE_IMAGE_FORMAT_VERSION, GROVE_FOREST_LAYOUT_VERSION);
  if (h->byte_order != IMAGE_BYTE_ORDER || h->pointer_bytes != sizeof(void *) ||
      h->size_bytes != sizeof(size_t) || h->node_bytes != sizeof(grove_node_t) ||
      h->top_bytes_div8 != sizeof(grove_top_t) / 8)
    return grove__error_set(err, GROVE_ESTALE,
                            "image written on a machine of another byte order or word size: "
                            "recompile it here");
  if (h->file_bytes != len)
    return BAD("image of %llu bytes cut to %zu (truncated or appended to)",
               (unsigned long long)h->file_bytes, len);
  uint64_t want[SEC_COUNT];
  if (expected_sections(h, want) != 0) return BAD("image counts overflow");
  for (int i = 0; i < SEC_COUNT; i++) {
    const image_section_t *s = &h->sections[i];
    if (s->offset % GROVE_FOREST_ALIGN != 0 || s->offset < header_bytes || s->offset > len ||
        s->bytes > len - s->offset)
      return BAD("image section %s (%llu bytes at %llu) outside the file's %zu bytes",
                 section_names[i], (unsigned long long)s->bytes, (unsigned long long)s->offset,
                 len);
    if (s->bytes != want[i])
      return BAD("image section %s holds %llu bytes, its counts say %llu", section_names[i],
                 (unsigned long long)s->bytes, (unsigned long long)want[i]);
  }
  return GROVE_OK;
}

/* Points S at the next NUL-ended string of [*at, end); NULL when there is none. */
static const char *next_string(const char **at, const char *end) {
  const char *s = *at;
  if (s >= end) return NULL;
  const char *nul = memchr(s, '\0', (size_t)(end - s));
  if (nul == NULL) return NULL;
  *at = nul + 1;
  return s;
}

/* Checks one tree [root, end) of F: breadth-first with a split's children adjacent (every
 * node reached once from the root), indexes in range, flags as the builder sets them. */
static grove_err_t check_tree(const grove_forest_t *f, uint32_t t, uint64_t root, uint64_t end,
                              uint64_t *counts, grove_error_t *err) {
  const uint32_t nf = f->info.num_features;
  uint64_t next = root + 1, level_end = root + 1, depth = 0;
  for (uint64_t i = root; i < end; i++) {
    if (i == level_end) {
      depth++;
      level_end = next;
    }
    const grove_node_t *n = &f->nodes[i];
    uint32_t value_bits;
    memcpy(&value_bits, &n->value, sizeof value_bits);
    if (!grove__node_is_split(f->leaf64, n)) {
      counts[0]++;
      if (depth > counts[1]) counts[1] = depth;
      const int linear = f->leaf64 && n->flags == GROVE_LEAF_LINEAR;
      if (linear ? n->left >= f->num_linear_leaves
                 : n->left != i || n->flags != 0 || (!f->leaf64 && n->feature != -1))
        return BAD("tree %u node %llu: a malformed leaf", t, (unsigned long long)(i - root));
      continue;
    }
    if ((uint32_t)n->feature >= nf || n->left != next || end - next < 2)
      return BAD("tree %u node %llu: split feature or children out of place", t,
                 (unsigned long long)(i - root));
    next += 2;
    const uint32_t fl = n->flags;
    if (fl & GROVE_NODE_ZERO_MISSING) counts[3]++;
    if (fl & GROVE_NODE_CATEGORICAL) {
      counts[2]++;
      const uint32_t set = fl >> GROVE_NODE_CAT_SHIFT;
      const uint32_t k = (fl & GROVE_NODE_CAT_NWORDS_MASK) >> GROVE_NODE_CAT_NWORDS_SHIFT;
      if (set >= f->num_cat_sets) return BAD("tree %u: category set %u out of range", t, set);
      const grove_cat_set_t *s = &f->cat_sets[set];
      if (s->offset > f->num_cat_words || s->nwords > f->num_cat_words - s->offset)
        return BAD("tree %u: category set %u's words out of range", t, set);
      const uint32_t word0 = s->nwords ? f->cat_words[s->offset] : 0;
      if ((fl & GROVE_NODE_CAT_WORD0) ? s->nwords > 1 || k != 0 || value_bits != word0
                                      : k != 0 && (k != s->nwords || value_bits != s->offset))
        return BAD("tree %u: category set %u does not match its split", t, set);
    } else if (fl & ~(uint32_t)(GROVE_NODE_DEFAULT_LEFT | GROVE_NODE_ZERO_MISSING)) {
      /* A numeric split's high bits: a leaf64 forest's threshold index, else nothing. */
      if (!f->leaf64 ||
          (fl & (GROVE_NODE_CAT_TRUNC | GROVE_NODE_CAT_WORD0 | GROVE_NODE_CAT_NWORDS_MASK)) ||
          (fl >> GROVE_NODE_T64_SHIFT) >= f->num_thresholds64)
        return BAD("tree %u node %llu: malformed flags", t, (unsigned long long)(i - root));
    } else if (f->leaf64 && f->num_thresholds64 == 0) {
      return BAD("tree %u: a numeric split without thresholds", t);
    }
  }
  if (next != end) return BAD("tree %u: nodes not reached from its root", t);
  return GROVE_OK;
}

/* Checks F's arrays as the builder makes them (see the top of the file). */
static grove_err_t check_forest(const grove_forest_t *f, grove_error_t *err) {
  const grove_forest_info_t *in = &f->info;
  const uint64_t nn = in->num_nodes, nt = in->num_trees;
  if (in->task > GROVE_TASK_RANKING || in->transform > GROVE_TRANSFORM_SORT ||
      in->num_groups == 0 ||
      in->num_outputs != (in->transform == GROVE_TRANSFORM_ARGMAX ? 1 : in->num_groups))
    return BAD("image's task, transform or outputs out of range");
  if ((f->leaf64 && in->num_features >= GROVE_LEAF64_FEATURES) || nn > UINT32_MAX / 2 ||
      (nt == 0) != (nn == 0))
    return BAD("image's features, nodes or trees out of range");
  for (uint32_t j = 0; j < in->num_features; j++)
    if (f->feature_types[j] > GROVE_FEATURE_CATEGORICAL)
      return BAD("feature %u: type %u out of range", j, f->feature_types[j]);
  uint64_t counts[4] = {0}; /* leaves, max depth, categorical splits, zero-missing splits */
  for (uint32_t t = 0; t < nt; t++) {
    const uint64_t root = f->roots[t], end = t + 1 < nt ? f->roots[t + 1] : nn;
    if ((t == 0 && root != 0) || root >= end || end > nn || f->tree_groups[t] >= in->num_groups)
      return BAD("tree %u: root or output group out of range", t);
    grove_err_t rc = check_tree(f, t, root, end, counts, err);
    if (rc != GROVE_OK) return rc;
  }
  if (counts[0] != in->num_leaves || counts[1] != in->max_depth ||
      counts[2] != in->num_categorical_splits || counts[3] != f->num_zero_missing)
    return BAD("image's leaf, depth or split counts do not match its trees");
  for (uint64_t k = 0; k < f->num_linear_leaves; k++) {
    const grove_linear_t *l = &f->linear[k];
    if (l->first > f->num_linear_terms || l->count > f->num_linear_terms - l->first)
      return BAD("linear leaf %llu: terms out of range", (unsigned long long)k);
  }
  for (uint64_t k = 0; k < (f->num_linear_leaves ? f->num_linear_terms : 0); k++)
    if (f->linear_terms[k].feature >= in->num_features)
      return BAD("linear term %llu: feature out of range", (unsigned long long)k);
  if (f->leaf64) {
    const uint32_t *off = f->threshold_offsets;
    for (uint32_t j = 0; j < in->num_features; j++)
      if (off[j] > off[j + 1]) return BAD("feature %u: threshold offsets decrease", j);
    if (off[0] != 0 || off[in->num_features] != f->num_thresholds64 ||
        f->near_mask + 1 != grove__near_slots(f->num_thresholds64))
      return BAD("image's thresholds out of range");
    /* The near set is probed until an empty slot: it must be the one the builder fills. */
    uint64_t *near = calloc(f->near_mask + 1, sizeof *near);
    if (near == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
    grove__near_fill(near, f->near_mask + 1, f->thresholds64, off, in->num_features);
    const int same = memcmp(near, f->near_floats, (f->near_mask + 1) * sizeof *near) == 0;
    free(near);
    if (!same) return BAD("image's near-threshold set differs from its thresholds'");
  }
  /* The derived tables must be the ones the nodes give (kernels index with their entries). */
  if (f->top_levels != 0) {
    for (uint32_t t = 0; t < nt; t++) {
      union {
        grove_top_t five;
        grove_top6_t six;
      } want;
      int same;
      if (f->top_levels == GROVE_TOP6_LEVELS) {
        same = grove__top6_build(f, f->roots[t], &want.six) &&
               memcmp(&want.six, &f->tops6[t], sizeof want.six) == 0;
      } else {
        grove__top_build(f, f->roots[t], &want.five);
        same = memcmp(&want.five, &f->tops[t], sizeof want.five) == 0;
      }
      if (!same) return BAD("tree %u: top table differs from its nodes'", t);
    }
  }
  if (f->nodes8 != NULL) {
    grove_node8_t *want = malloc((size_t)nn * sizeof *want);
    if (want == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
    const int same =
        grove__nodes8_build(f, want) && memcmp(want, f->nodes8, (size_t)nn * sizeof *want) == 0;
    free(want);
    if (!same) return BAD("image's 8-byte nodes differ from its nodes");
  }
  return GROVE_OK;
}

/* Builds the forest header around the validated mapping MAP (LEN bytes, header H). */
static grove_err_t forest_of(const image_header_t *h, const char *map, size_t len,
                             grove_forest_t **out, grove_error_t *err) {
  const uint32_t nf = h->num_features;
  const size_t names_bytes = h->has_feature_names ? (size_t)nf * sizeof(char *) : 0;
  struct grove_forest *f = calloc(1, sizeof *f + names_bytes);
  if (f == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  const void *p[SEC_COUNT];
  for (int i = 0; i < SEC_COUNT; i++)
    p[i] = h->sections[i].bytes ? (const void *)(map + h->sections[i].offset) : NULL;
    /* The arrays a built forest always has point into the mapping even when empty. */
#define ALWAYS(i) (map + h->sections[i].offset)
  f->nodes = (const grove_node_t *)ALWAYS(SEC_NODES);
  f->roots = (const uint32_t *)ALWAYS(SEC_ROOTS);
  f->tree_groups = (const uint32_t *)ALWAYS(SEC_GROUPS);
  f->cat_sets = (const grove_cat_set_t *)ALWAYS(SEC_CAT_SETS);
  f->cat_words = (const uint32_t *)ALWAYS(SEC_CAT_WORDS);
  f->base_margins = (const float *)ALWAYS(SEC_BASE_MARGINS);
  f->feature_types = (const uint8_t *)ALWAYS(SEC_FEATURE_TYPES);
  f->node_ids = (const uint32_t *)ALWAYS(SEC_NODE_IDS);
#undef ALWAYS
  f->top_levels = (int)h->top_levels;
  if (h->top_levels == GROVE_TOP6_LEVELS)
    f->tops6 = p[SEC_TOPS];
  else if (h->top_levels == GROVE_TOP_LEVELS)
    f->tops = p[SEC_TOPS];
  else if (h->top_levels != 0)
    goto bad;
  f->nodes8 = p[SEC_NODES8];
  f->num_zero_missing = h->num_zero_missing;
  f->leaf64 = h->leaf64 != 0;
  f->average_over = h->average_over;
  if (f->leaf64) {
    f->thresholds64 = p[SEC_THRESHOLDS64];
    f->threshold_offsets = p[SEC_THRESHOLD_OFFSETS];
    f->near_floats = p[SEC_NEAR_FLOATS];
    f->near_mask = h->near_mask;
    f->num_thresholds64 = h->num_thresholds64;
  }
  if (h->num_linear_leaves) {
    f->linear = p[SEC_LINEAR];
    f->linear_terms = p[SEC_LINEAR_TERMS];
    f->linear_inputs = p[SEC_LINEAR_INPUTS];
    f->num_linear_leaves = h->num_linear_leaves;
    f->num_linear_terms = h->num_linear_terms;
  }
  f->cover_ratios = p[SEC_COVER_RATIOS];
  f->tree_expected = p[SEC_TREE_EXPECTED];
  f->shap_flags = p[SEC_SHAP_FLAGS];
  f->num_cat_sets = h->num_cat_sets;
  f->num_cat_words = h->num_cat_words;

  grove_forest_info_t *in = &f->info;
  const char *at = map + h->sections[SEC_STRINGS].offset;
  const char *end = at + h->sections[SEC_STRINGS].bytes;
  if ((in->format = next_string(&at, end)) == NULL ||
      (in->source_model = next_string(&at, end)) == NULL ||
      (in->objective = next_string(&at, end)) == NULL ||
      (in->booster = next_string(&at, end)) == NULL)
    goto bad;
  if (h->has_feature_names) {
    const char **names = (const char **)(f + 1);
    for (uint32_t i = 0; i < nf; i++)
      if ((names[i] = next_string(&at, end)) == NULL) goto bad;
    f->feature_names = names;
  }
  if (at != end) goto bad;
  in->task = (grove_task_t)h->task;
  in->transform = (grove_transform_t)h->transform;
  in->num_features = nf;
  in->num_groups = h->num_groups;
  in->num_outputs = h->num_outputs;
  in->num_trees = h->num_trees;
  in->num_parallel_tree = h->num_parallel_tree;
  in->max_depth = h->max_depth;
  in->num_nodes = h->num_nodes;
  in->num_leaves = h->num_leaves;
  in->num_categorical_splits = h->num_categorical_splits;
  in->memory_bytes = (size_t)h->memory_bytes;
  in->base_margin = h->base_margin;
  in->has_feature_names = h->has_feature_names != 0;
  /* The kernels' gather offsets index arrays inside the mapping (grove__simd_fits). */
  f->block_size = len;
  grove_err_t rc = check_forest(f, err);
  if (rc != GROVE_OK) {
    free(f);
    return rc;
  }
  /* The trees-in-lanes tables are derived, not stored: built as the builder builds them. */
  if (grove__forest_attach_derived(f) != 0) {
    free(f);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  *out = f;
  return GROVE_OK;
bad:
  free(f);
  return BAD("image's strings or tables malformed");
}

grove_err_t grove_forest_image_load(const char *path, const grove_source_id_t *source,
                                    grove_forest_t **out, grove_error_t *err) {
  *out = NULL;
  void *map;
  size_t len;
  grove_err_t rc = grove__file_map(path, &map, &len, err);
  if (rc != GROVE_OK) return rc;
  image_header_t h;
  if (len < header_bytes || !grove__image_sniff(map, len)) {
    rc = BAD("not a grove model image (%s)",
             len < header_bytes ? "shorter than its header" : "no GROVEIMG magic");
    goto fail;
  }
  memcpy(&h, map, sizeof h);
  if ((rc = check_header(&h, len, err)) != GROVE_OK) goto fail;
  if (source != NULL && (h.source_hash != source->hash || h.source_bytes != source->bytes)) {
    rc = grove__error_set(err, GROVE_ESTALE,
                          "image of another source (%llu bytes, hash %016llx; the source now: %llu "
                          "bytes, hash %016llx)",
                          (unsigned long long)h.source_bytes, (unsigned long long)h.source_hash,
                          (unsigned long long)source->bytes, (unsigned long long)source->hash);
    goto fail;
  }
  /* The checksum reads every page once (bench/RESULTS.md says what it costs). */
  const size_t covered = offsetof(image_header_t, checksum) + sizeof h.checksum;
  const uint64_t sum = grove__hash64((const char *)map + covered, len - covered, 0);
  if (sum != h.checksum) {
    rc = BAD("image checksum %016llx, its bytes give %016llx (corrupt)",
             (unsigned long long)h.checksum, (unsigned long long)sum);
    goto fail;
  }
  grove_forest_t *f = NULL;
  if ((rc = forest_of(&h, map, len, &f, err)) != GROVE_OK) goto fail;
  f->image_map = map;
  f->image_map_bytes = len;
  *out = f;
  return GROVE_OK;
fail:
  munmap(map, len);
  grove__error_prefix(err, path);
  return rc;
}

size_t grove__image_reseal(char *data, size_t len) {
  if (len < header_bytes) return 0;
  const size_t covered = offsetof(image_header_t, checksum) + sizeof(uint64_t);
  const uint64_t sum = grove__hash64(data + covered, len - covered, 0);
  memcpy(data + offsetof(image_header_t, checksum), &sum, sizeof sum);
  return header_bytes;
}
