/*
 * Complete trees with threshold ranks (forest.h, grove_ranks_t) for the ranks kernels:
 * derived from a forest's nodes once they are in place, built or mapped.
 */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

int grove__ranks_wanted(const grove_forest_t *f) {
  const grove_forest_info_t *i = &f->info;
  const int walks = grove__kernel_get()->ranks;
  return (walks & (i->num_categorical_splits == 0 ? GROVE_KERNEL_RANKS_NUMERIC
                                                  : GROVE_KERNEL_RANKS_CATEGORICAL)) &&
         grove__simd_fits(f) && !f->leaf64 && f->num_linear_leaves == 0 &&
         f->num_zero_missing == 0 && i->num_groups <= GROVE_RANKS_MAX_GROUPS && i->num_trees > 0 &&
         i->num_features >= 1 && i->num_features <= GROVE_RANKS_MAX_FEATURES &&
         i->max_depth >= GROVE_RANKS_MIN_DEPTH && i->max_depth <= GROVE_RANKS_MAX_DEPTH;
}

/* A float's bits as an unsigned key in the floats' order (no NaN here; -0 just below +0). */
static uint64_t float_key(float x) {
  uint32_t u;
  memcpy(&u, &x, sizeof u);
  return u & 0x80000000u ? ~u : u | 0x80000000u;
}

/* Sorts the N pairs A (a float's key in the high 32 bits, its node in the low ones) by key
 * (TMP: room for N): a radix sort byte by byte, as qsort and a search per node cost more
 * than mapping a big forest's whole image. */
static void sort_pairs(uint64_t *a, uint32_t n, uint64_t *tmp) {
  for (int shift = 32; shift < 64; shift += 8) {
    uint32_t count[257] = {0};
    for (uint32_t i = 0; i < n; i++) count[(a[i] >> shift & 0xffu) + 1]++;
    for (int b = 0; b < 256; b++) count[b + 1] += count[b];
    for (uint32_t i = 0; i < n; i++) tmp[count[a[i] >> shift & 0xffu]++] = a[i];
    memcpy(a, tmp, (size_t)n * sizeof *a);
  }
}

static int numeric_split(const grove_node_t *n) {
  return n->feature >= 0 && !(n->flags & GROVE_NODE_CATEGORICAL);
}

typedef struct {
  const grove_forest_t *f;
  grove_ranks_t *r;
  uint32_t *words, *sets;
  float *leaves;
  const uint32_t *node_rank; /* per split node: its threshold's rank */
} fill_t;

/* Split N's set as categories 0-31 (*LOW) and 32-47 (the result's bits 0-15), or -1 when it
 * holds a category past GROVE_RANKS_CATEGORIES or truncates as LightGBM does. */
static int64_t set_words(const grove_forest_t *f, const grove_node_t *n, uint32_t *low) {
  const grove_cat_set_t *set = &f->cat_sets[n->flags >> GROVE_NODE_CAT_SHIFT];
  const uint32_t *w = f->cat_words + set->offset;
  _Static_assert(GROVE_RANKS_CATEGORIES == 48, "two words, the second's low 16 bits");
  if (n->flags & GROVE_NODE_CAT_TRUNC) return -1;
  for (uint32_t k = 2; k < set->nwords; k++)
    if (w[k] != 0) return -1;
  const uint32_t high = set->nwords > 1 ? w[1] : 0;
  if (high >> (GROVE_RANKS_CATEGORIES - 32)) return -1;
  *low = set->nwords > 0 ? w[0] : 0;
  return high;
}

/* Lays out node N of tree lane LANE of group G at position P, depth D, and what is below it;
 * REACHED is 0 in the right subtree of a pad, where no row goes (left zero). */
static void fill(const fill_t *c, uint32_t g, uint32_t lane, uint32_t n, uint32_t p, uint32_t d,
                 int reached) {
  const uint32_t depth = c->r->depth, splits = (1u << depth) - 1;
  const grove_node_t *node = &c->f->nodes[n];
  if (d == depth) {
    if (reached)
      c->leaves[((size_t)g * (splits + 1) + (p - splits)) * GROVE_RANKS_LANES + lane] = node->value;
    return;
  }
  const size_t at = ((size_t)g * splits + p) * GROVE_RANKS_LANES + lane;
  uint32_t *w = &c->words[at];
  if (reached && node->feature >= 0) {
    *w = (uint32_t)node->feature << GROVE_RANKS_FEATURE_SHIFT |
         (node->flags & GROVE_NODE_DEFAULT_LEFT ? GROVE_RANKS_DEFAULT_LEFT : 0);
    if (node->flags & GROVE_NODE_CATEGORICAL) /* set_words() accepted every set */
      *w |= (uint32_t)set_words(c->f, node, &c->sets[at]) | GROVE_RANKS_CATEGORICAL;
    else
      *w |= c->node_rank[n];
    fill(c, g, lane, node->left, 2 * p + 1, d + 1, 1);
    fill(c, g, lane, node->left + 1, 2 * p + 2, d + 1, 1);
  } else {
    if (reached) *w = GROVE_RANKS_PAD; /* the unreached stay 0, as allocated */
    fill(c, g, lane, n, 2 * p + 1, d + 1, reached);
    fill(c, g, lane, n, 2 * p + 2, d + 1, 0);
  }
}

int grove__ranks_attach(grove_forest_t *f) {
  f->ranks = NULL;
  if (!grove__ranks_wanted(f)) return 0;
  const uint32_t nf = f->info.num_features, nt = f->info.num_trees, depth = f->info.max_depth;
  const uint32_t groups = (nt + GROVE_RANKS_LANES - 1) / GROVE_RANKS_LANES;
  const size_t words_bytes = (size_t)groups * (((size_t)1 << depth) - 1) * GROVE_RANKS_LANES * 4,
               leaves_bytes = (size_t)groups * ((size_t)1 << depth) * GROVE_RANKS_LANES * 4,
               sets_bytes = f->info.num_categorical_splits ? words_bytes : 0;
  if (words_bytes + leaves_bytes + sets_bytes > f->block_size)
    return 0; /* sparse deep trees: rows kernel */
  const uint64_t nn = f->info.num_nodes;
  uint32_t categorical = 0, numeric = 0; /* bit j: feature j has splits of that kind */
  for (uint64_t i = 0; i < nn; i++) {
    const grove_node_t *n = &f->nodes[i];
    uint32_t low;
    if (n->feature < 0) continue;
    if (!(n->flags & GROVE_NODE_CATEGORICAL))
      numeric |= 1u << n->feature;
    else if (set_words(f, n, &low) < 0)
      return 0;
    else
      categorical |= 1u << n->feature;
  }
  if (numeric & categorical) return 0; /* a feature's bin is a rank or a code, not both */

  /* Each feature's thresholds: counted, gathered with their nodes, sorted, made unique,
   * each node given its threshold's rank. */
  uint64_t splits = 0;
  uint32_t *offsets = calloc((size_t)nf + 1, sizeof *offsets), *at = malloc(nf * sizeof *at),
           *node_rank = malloc(nn * sizeof *node_rank);
  for (uint64_t i = 0; offsets != NULL && i < nn; i++)
    if (numeric_split(&f->nodes[i])) offsets[f->nodes[i].feature + 1]++, splits++;
  uint64_t *pairs = malloc((splits ? splits : 1) * sizeof *pairs),
           *tmp = malloc((splits ? splits : 1) * sizeof *tmp);
  float *all = malloc((splits ? splits : 1) * sizeof *all);
  if (offsets == NULL || at == NULL || node_rank == NULL || pairs == NULL || tmp == NULL ||
      all == NULL) {
    free(offsets);
    free(at);
    free(node_rank);
    free(pairs);
    free(tmp);
    free(all);
    return -1;
  }
  for (uint32_t j = 0; j < nf; j++) offsets[j + 1] += offsets[j];
  memcpy(at, offsets, (size_t)nf * sizeof *at);
  for (uint64_t i = 0; i < nn; i++)
    if (numeric_split(&f->nodes[i]))
      pairs[at[f->nodes[i].feature]++] = float_key(f->nodes[i].value) << 32 | i;
  uint32_t unique = 0, widest = 0;
  for (uint32_t j = 0; j < nf; j++) {
    const uint32_t first = offsets[j], n = offsets[j + 1] - first, start = unique;
    sort_pairs(pairs + first, n, tmp);
    for (uint32_t k = 0; k < n; k++) {
      const uint32_t node = (uint32_t)pairs[first + k];
      const float t = f->nodes[node].value;
      /* -0 and +0 are one threshold: x < -0 and x < +0 decide alike. */
      if (unique == start || all[unique - 1] != t) all[unique++] = t;
      node_rank[node] = unique - 1 - start;
    }
    offsets[j] = start;
    if (unique - start > widest) widest = unique - start;
  }
  offsets[nf] = unique;
  free(at);
  free(pairs);
  free(tmp);
  if (widest > GROVE_RANKS_MAX_UNIQUE) {
    free(offsets);
    free(node_rank);
    free(all);
    return 0;
  }

  const size_t thr_bytes = ((size_t)unique * 4 + 63) / 64 * 64,
               off_bytes = (((size_t)nf + 1) * 4 + 63) / 64 * 64;
  const size_t head = (sizeof(grove_ranks_t) + 63) / 64 * 64,
               bytes = head + words_bytes + leaves_bytes + thr_bytes + off_bytes + sets_bytes;
  unsigned char *mem = aligned_alloc(GROVE_FOREST_ALIGN, bytes);
  if (mem == NULL) {
    free(offsets);
    free(node_rank);
    free(all);
    return -1;
  }
  memset(mem, 0, bytes);
  grove_ranks_t *r = (grove_ranks_t *)mem;
  unsigned char *p = mem + head;
  uint32_t *words = (uint32_t *)p;
  float *leaves = (float *)(p + words_bytes),
        *thresholds = (float *)(p + words_bytes + leaves_bytes);
  uint32_t *offs = (uint32_t *)(p + words_bytes + leaves_bytes + thr_bytes),
           *sets = sets_bytes ? (uint32_t *)(p + words_bytes + leaves_bytes + thr_bytes + off_bytes)
                              : NULL;
  memcpy(thresholds, all, (size_t)unique * sizeof *all);
  memcpy(offs, offsets, ((size_t)nf + 1) * sizeof *offs);
  free(all);
  free(offsets);
  *r = (grove_ranks_t){.depth = depth,
                       .num_groups = groups,
                       .words = words,
                       .leaves = leaves,
                       .thresholds = thresholds,
                       .offsets = offs,
                       .sets = sets,
                       .categorical = categorical,
                       .bytes = bytes};
  const fill_t c = {f, r, words, sets, leaves, node_rank};
  for (uint32_t t = 0; t < nt; t++)
    fill(&c, t / GROVE_RANKS_LANES, t % GROVE_RANKS_LANES, f->roots[t], 0, 0, 1);
  free(node_rank);
  f->ranks = r;
  return 0;
}
