/*
 * The kernel table: the scalar kernel, upgraded once at start-up to the best ISA the CPU
 * and the OS allow (dav1d's *_init shape), and each ISA's choice between its two kernels
 * for a batch. Forests with linear trees go to the scalar kernel whatever the ISA: their
 * leaves are evaluated by the exact walk (bench/RESULTS.md measures that path).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "kernels.h"

/*
 * Batches smaller than this go to the kernel that walks one row through many trees at
 * once; larger ones to the kernel that walks many rows through one tree (bench/RESULTS.md,
 * "Engine kernels"). Both are exact, so the choice never changes a result.
 */
#define AVX2_ROWS_MIN         32
#define AVX512_ROWS_MIN       32
/* With top tables the avx512 rows kernel walks a block of 16 rows through 4 trees at once
 * and wins from fewer rows; the trees kernel walking the 6-level tables in lanes (tops6_lanes)
 * holds it off up to 10 rows (income's figures by batch size are in bench/RESULTS.md). */
#define AVX512_TOPS_ROWS_MIN  12
#define AVX512_TOPS6_ROWS_MIN 11
/* Forests with ranks (forest.h, grove_ranks_t) take the ranks kernel from this many rows:
 * below it, its walks of 8 rows have too few rows to hide their gathers (the prototype's
 * figures by batch size on 500x8 in bench/RESULTS.md, "The ranks kernel"). */
#define AVX512_RANKS_ROWS_MIN 8

static grove_kernel_t kernel_in_use;
static const char *kernel_note;
static pthread_once_t kernel_once = PTHREAD_ONCE_INIT;

static grove_kernel_fn choose_scalar(const grove_forest_t *f, size_t nrows) {
  (void)f;
  (void)nrows;
  return grove__predict_scalar;
}

#ifdef GROVE_HAVE_X86_KERNELS
static grove_kernel_fn choose_avx2(const grove_forest_t *f, size_t nrows) {
  if (!grove__simd_fits(f) || f->num_linear_leaves) return grove__predict_scalar;
  if (f->ranks != NULL) return grove__predict_avx2_ranks; /* from one row (bench/RESULTS.md) */
  return nrows < AVX2_ROWS_MIN ? grove__predict_avx2_trees : grove__predict_avx2_rows;
}

static grove_kernel_fn choose_avx512(const grove_forest_t *f, size_t nrows) {
  if (!grove__simd_fits(f) || f->num_linear_leaves) return grove__predict_scalar;
  if (f->ranks != NULL && nrows >= AVX512_RANKS_ROWS_MIN) return grove__predict_avx512_ranks;
  const size_t rows_min = grove__avx512_trees_walk_tops6(f) ? AVX512_TOPS6_ROWS_MIN
                          : f->tops                         ? AVX512_TOPS_ROWS_MIN
                                                            : AVX512_ROWS_MIN;
  return nrows < rows_min ? grove__predict_avx512_trees : grove__predict_avx512_rows;
}
#endif

void grove__top6_lanes_fill(const grove_forest_t *f, int32_t *out) {
  const uint32_t nt = f->info.num_trees;
  const int32_t *tables = (const int32_t *)f->tops6;
  memset(out, 0, grove__top6_lanes_words(nt) * sizeof *out);
  for (uint32_t t = 0; t < nt; t++) {
    int32_t *g = out + (size_t)(t / 16) * GROVE_TOP6_WORDS * 16;
    const int32_t *table = tables + (size_t)t * GROVE_TOP6_WORDS;
    for (uint32_t w = 0; w < GROVE_TOP6_WORDS; w++) {
      /* A slot's value and meta side by side (forest.h), the other words lane by lane. */
      const uint32_t at = w < GROVE_TOP6_WORD_META ? GROVE_TOP6_PAIR(w, t % 16)
                          : w < GROVE_TOP6_WORD_META + GROVE_TOP6_SLOTS
                              ? GROVE_TOP6_PAIR(w - GROVE_TOP6_WORD_META, t % 16) + 1
                              : w * 16 + t % 16;
      g[at] = table[w];
    }
  }
}

int grove__cat_codes_attach(grove_forest_t *f) {
  f->cat_codes = NULL;
  const uint32_t nf = f->info.num_features, nt = f->info.num_trees;
  if (f->tops == NULL || f->top_levels != GROVE_TOP6_LEVELS || f->leaf64 ||
      f->thresholds64 != NULL || f->num_zero_missing != 0 || f->info.num_categorical_splits == 0)
    return 0;
  for (uint32_t t = 0; t < nt; t++)
    if (!(f->tops6[t].meta[GROVE_TOP6_SUMMARY] & GROVE_TOP6_LEAF_EXITS)) return 0;
  enum { NUMERIC = 1, CATEGORICAL = 2 };
  uint8_t *kind = calloc(nf ? nf : 1, 1);
  if (kind == NULL) return -1;
  int ok = 1;
  for (uint64_t i = 0; i < f->info.num_nodes && ok; i++) {
    const grove_node_t *n = &f->nodes[i];
    if (!grove__node_is_split(f->leaf64, n)) continue;
    if (n->flags & GROVE_NODE_CAT_TRUNC) ok = 0;
    kind[n->feature] |= n->flags & GROVE_NODE_CATEGORICAL ? CATEGORICAL : NUMERIC;
  }
  uint32_t count = 0;
  for (uint32_t j = 0; j < nf && ok; j++) {
    if (kind[j] == (NUMERIC | CATEGORICAL)) ok = 0;
    count += kind[j] == CATEGORICAL;
  }
  grove_cat_codes_t *codes = ok ? malloc(sizeof *codes + count * sizeof codes->feature[0]) : NULL;
  if (ok && codes == NULL) {
    free(kind);
    return -1;
  }
  if (codes != NULL) {
    codes->count = codes->below32 = 0;
    for (uint32_t j = 0; j < nf; j++) {
      if (kind[j] != CATEGORICAL) continue;
      codes->feature[codes->count++] = j;
      if (j < 32) codes->below32 |= 1u << j;
    }
  }
  free(kind);
  f->cat_codes = codes;
  return 0;
}

size_t grove__kernel_scratch_bytes(grove_kernel_fn kernel, const grove_forest_t *f) {
#ifdef GROVE_HAVE_X86_KERNELS
  if (kernel == grove__predict_avx512_rows) return grove__avx512_rows_scratch_bytes(f);
  if (kernel == grove__predict_avx512_ranks) return grove__avx512_ranks_scratch_bytes(f);
  if (kernel == grove__predict_avx2_ranks) return grove__avx2_ranks_scratch_bytes(f);
#else
  (void)kernel;
  (void)f;
#endif
  return 0;
}

/* The scalar kernel, then upgrades with an early return per ISA (dav1d's *_init shape). */
static void kernel_init(void) {
  kernel_in_use =
      (grove_kernel_t){.name = "scalar-blocked", .isa = "scalar", .choose = choose_scalar};
  const grove_isa_t isa = grove__cpu_isa(&kernel_note);
#ifdef GROVE_HAVE_X86_KERNELS
  if (isa < GROVE_ISA_AVX2) return;
  kernel_in_use =
      (grove_kernel_t){.name = "avx2-trees/avx2-rows",
                       .isa = "avx2",
                       .choose = choose_avx2,
                       .ranks = GROVE_KERNEL_RANKS_NUMERIC | GROVE_KERNEL_RANKS_CATEGORICAL,
                       .ranks_name = "avx2-ranks"};
  if (isa < GROVE_ISA_AVX512) return;
  kernel_in_use = (grove_kernel_t){.name = "avx512-trees/avx512-rows",
                                   .isa = "avx512",
                                   .choose = choose_avx512,
                                   .ranks = GROVE_KERNEL_RANKS_NUMERIC,
                                   .ranks_name = "avx512-trees/avx512-ranks"};
#else
  (void)isa;
#endif
}

const grove_kernel_t *grove__kernel_get(void) {
  pthread_once(&kernel_once, kernel_init);
  return &kernel_in_use;
}

const char *grove__kernel_note(void) {
  grove__kernel_get();
  return kernel_note;
}

const char *grove__kernel_name(const grove_forest_t *f) {
  if (f->num_linear_leaves) return GROVE_KERNEL_EXACT_NAME;
  const grove_kernel_t *k = grove__kernel_get();
  return f->ranks != NULL ? k->ranks_name : k->name;
}
