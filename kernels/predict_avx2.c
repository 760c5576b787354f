/*
 * AVX2 kernels (built with -mavx2 -mfma; the only file with AVX2 intrinsics). The same
 * two walks as predict_avx512.c with 8 lanes and vector masks:
 *  - trees: one row, 4 x 8 trees at a time (one lane per tree): batches below 32 rows;
 *  - rows: one tree, a block of 64 rows as 8 vectors of 8, walked 4 at a time: larger ones;
 *  - ranks: forests with grove_ranks_t at every batch size (described at its body below).
 * Splits are decided exactly as grove__node_next() does (see the split truth table in
 * kernels.h) and each row's leaf values are added in model order, in float for float
 * forests and in double for leaf64 ones, so the margins are bit-identical to the scalar
 * kernel's. Nodes, category sets and leaf values are gathered as 32-bit words at the
 * offsets forest.h names (GROVE_NODE_WORD_*, GROVE_CAT_SET_WORD_*); a leaf64 leaf's double
 * as the 64-bit pair GROVE_NODE_PAIR_VALUE_FEATURE. Each walk is stamped out twice from one
 * body, with LEAF64 a constant: a float forest's code is what it was before leaf64 forests.
 */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define BLOCK_ROWS 64
#define VECS       (BLOCK_ROWS / 8)
/* The ranks walks' helpers are stamped out per kind of forest and call (constants at each
 * call) and must be inlined whole: out of line, their arrays of vectors would go through
 * memory. */
#define WALK_INLINE static inline __attribute__((always_inline))

/* All bits set in the lanes whose FLAGS have BIT. */
static inline __m256i flag8(__m256i flags, uint32_t bit) {
  const __m256i b = _mm256_set1_epi32((int)bit);
  return _mm256_cmpeq_epi32(_mm256_and_si256(flags, b), b);
}

/* Word W of the nodes at indexes IDX, in the lanes of MASK (SRC elsewhere). */
static inline __m256i node_word8(const grove_forest_t *f, __m256i src, __m256i idx, __m256i mask,
                                 int w) {
  return _mm256_mask_i32gather_epi32(src, (const int *)f->nodes + w,
                                     _mm256_slli_epi32(idx, GROVE_NODE_WORDS_SHIFT), mask, 4);
}

/*
 * grove__category_goes_right() for the lanes in CAT (not missing there), as a lane mask:
 * rows 3-5 of the split truth table in kernels.h. Codes outside [0, 2^24) ((-1, 2^24) with
 * GROVE_NODE_CAT_TRUNC) go left, the rest truncate and look up their bit: in the node's
 * value for GROVE_NODE_CAT_WORD0 sets, else gathered from the set's words (found through
 * the node for sets of up to 7 words).
 */
static inline __m256i category_right8(const grove_forest_t *f, __m256i cat, __m256 xv,
                                      __m256i flags, __m256i thr_bits) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256 trunc = _mm256_castsi256_ps(flag8(flags, GROVE_NODE_CAT_TRUNC));
  const __m256 low_ok =
      _mm256_or_ps(_mm256_cmp_ps(xv, _mm256_setzero_ps(), _CMP_GE_OQ),
                   _mm256_and_ps(trunc, _mm256_cmp_ps(xv, _mm256_set1_ps(-1.0f), _CMP_GT_OQ)));
  __m256 inf = _mm256_and_ps(_mm256_castsi256_ps(cat), low_ok);
  inf = _mm256_and_ps(inf, _mm256_cmp_ps(xv, _mm256_set1_ps(GROVE_MAX_CATEGORY), _CMP_LT_OQ));
  __m256i in = _mm256_castps_si256(inf);
  if (_mm256_testz_si256(in, in)) return zero;
  const __m256i c = _mm256_cvttps_epi32(xv);
  /* Sets within categories 0-31 are the node's own value bits (a shift by 32 or more is 0). */
  const __m256i word0 = _mm256_and_si256(in, flag8(flags, GROVE_NODE_CAT_WORD0));
  const __m256i small = _mm256_and_si256(
      word0, _mm256_sub_epi32(
                 zero, _mm256_and_si256(_mm256_srlv_epi32(thr_bits, c), _mm256_set1_epi32(1))));
  in = _mm256_andnot_si256(word0, in);
  if (_mm256_testz_si256(in, in)) return small;
  /* Sets of 2-7 words: where they start is the value, how many the flags say; larger
   * ones are looked up in cat_sets. */
  const __m256i nwmask = _mm256_set1_epi32(GROVE_NODE_CAT_NWORDS_MASK);
  const __m256i nwf = _mm256_and_si256(flags, nwmask);
  __m256i off = thr_bits, nw = _mm256_srli_epi32(nwf, GROVE_NODE_CAT_NWORDS_SHIFT);
  const __m256i far = _mm256_and_si256(in, _mm256_cmpeq_epi32(nwf, zero));
  if (!_mm256_testz_si256(far, far)) {
    const __m256i s2 = _mm256_slli_epi32(_mm256_srli_epi32(flags, GROVE_NODE_CAT_SHIFT),
                                         GROVE_CAT_SET_WORDS_SHIFT);
    const int *sets = (const int *)f->cat_sets;
    off = _mm256_mask_i32gather_epi32(off, sets + GROVE_CAT_SET_WORD_OFFSET, s2, far, 4);
    nw = _mm256_mask_i32gather_epi32(nw, sets + GROVE_CAT_SET_WORD_NWORDS, s2, far, 4);
  }
  const __m256i word = _mm256_srli_epi32(c, 5);
  in = _mm256_and_si256(in, _mm256_cmpgt_epi32(nw, word)); /* both below 2^31 */
  const __m256i w = _mm256_mask_i32gather_epi32(zero, (const int *)f->cat_words,
                                                _mm256_add_epi32(off, word), in, 4);
  const __m256i bit = _mm256_and_si256(
      _mm256_srlv_epi32(w, _mm256_and_si256(c, _mm256_set1_epi32(31))), _mm256_set1_epi32(1));
  return _mm256_or_si256(small, _mm256_and_si256(in, _mm256_sub_epi32(zero, bit)));
}

/*
 * One level of one vector's walk: lanes in *ACTIVE (all bits set) at a split move to a
 * child; lanes at a leaf leave *ACTIVE. A split's feature value is read at X + XOFF +
 * feature: XOFF is each lane's row offset (rows kernel) or 0 (trees kernel). The decision
 * is the split truth table's in kernels.h. A leaf's feature word is -1 in float forests and
 * a tagged double's high word (negative, or at least GROVE_LEAF64_FEATURES) in leaf64 ones.
 */
static inline void step8(const grove_forest_t *f, __m256i *idxp, __m256i *activep, __m256i xoff,
                         const float *x, const int leaf64) {
  const __m256i minus1 = _mm256_set1_epi32(-1);
  const __m256i idx = *idxp;
  __m256i active = *activep;
  const __m256i feat = node_word8(f, minus1, idx, active, GROVE_NODE_WORD_FEATURE);
  active = _mm256_and_si256(active, _mm256_cmpgt_epi32(feat, minus1));
  if (leaf64)
    active = _mm256_and_si256(active,
                              _mm256_cmpgt_epi32(_mm256_set1_epi32(GROVE_LEAF64_FEATURES), feat));
  *activep = active;
  if (_mm256_testz_si256(active, active)) return;
  const __m256 activef = _mm256_castsi256_ps(active);
  const __m256 thr = _mm256_castsi256_ps(
      node_word8(f, _mm256_setzero_si256(), idx, active, GROVE_NODE_WORD_VALUE));
  const __m256i left = node_word8(f, idx, idx, active, GROVE_NODE_WORD_LEFT);
  const __m256 xv =
      _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x, _mm256_add_epi32(xoff, feat), activef, 4);
  /* Row 6 first: !(x < t) is also true for NaN, which rows 1-2 then override. */
  __m256i right =
      _mm256_and_si256(active, _mm256_castps_si256(_mm256_cmp_ps(xv, thr, _CMP_NLT_UQ)));
  __m256i missing =
      _mm256_and_si256(active, _mm256_castps_si256(_mm256_cmp_ps(xv, xv, _CMP_UNORD_Q)));
  if (f->info.num_categorical_splits != 0 || f->num_zero_missing != 0 ||
      !_mm256_testz_si256(missing, missing)) {
    const __m256i flags = node_word8(f, _mm256_setzero_si256(), idx, active, GROVE_NODE_WORD_FLAGS);
    if (f->num_zero_missing !=
        0) { /* row 2: LightGBM's zero band takes the default direction too */
      const __m256i zm = _mm256_and_si256(active, flag8(flags, GROVE_NODE_ZERO_MISSING));
      const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), xv);
      const __m256i band =
          _mm256_castps_si256(_mm256_cmp_ps(ax, _mm256_set1_ps(GROVE_ZERO_BAND), _CMP_LE_OQ));
      missing = _mm256_or_si256(missing, _mm256_and_si256(zm, band));
    }
    const __m256i dl = flag8(flags, GROVE_NODE_DEFAULT_LEFT);
    /* Missing lanes (rows 1-2: NaN, or the zero band): right = !default_left. */
    right = _mm256_or_si256(_mm256_andnot_si256(missing, right), _mm256_andnot_si256(dl, missing));
    const __m256i cat = _mm256_andnot_si256(
        missing, _mm256_and_si256(active, flag8(flags, GROVE_NODE_CATEGORICAL)));
    if (!_mm256_testz_si256(cat, cat))
      right = _mm256_or_si256(_mm256_andnot_si256(cat, right),
                              category_right8(f, cat, xv, flags, _mm256_castps_si256(thr)));
  }
  *idxp = _mm256_sub_epi32(left, right); /* right is -1 where the walk goes right */
}

/* The values of the leaves at IDX in the lanes of LIVE, 0 elsewhere. */
static inline __m256 leaf_values8(const grove_forest_t *f, __m256i idx, __m256i live) {
  return _mm256_castsi256_ps(
      node_word8(f, _mm256_setzero_si256(), idx, live, GROVE_NODE_WORD_VALUE));
}

/* The doubles of the leaf64 leaves at IDX in the lanes of LIVE: lanes 0-3 in OUT[0], 4-7 in
 * OUT[1], 0 in the lanes not LIVE. */
static inline void leaf_values8_64(const grove_forest_t *f, __m256i idx, __m256i live,
                                   __m256d out[2]) {
  const long long *pairs = (const long long *)f->nodes + GROVE_NODE_PAIR_VALUE_FEATURE;
  const __m256i i2 = _mm256_slli_epi32(idx, GROVE_NODE_PAIRS_SHIFT);
  const __m256i tag = _mm256_set1_epi64x((long long)GROVE_LEAF64_TAG);
  for (int h = 0; h < 2; h++) {
    const __m128i ih = h ? _mm256_extracti128_si256(i2, 1) : _mm256_castsi256_si128(i2);
    const __m128i lh = h ? _mm256_extracti128_si256(live, 1) : _mm256_castsi256_si128(live);
    const __m256i mask = _mm256_cvtepi32_epi64(lh);
    const __m256i bits = _mm256_mask_i32gather_epi64(tag, pairs, ih, mask, 8);
    /* Lanes not LIVE kept TAG, which decodes to +0. */
    out[h] = _mm256_castsi256_pd(_mm256_xor_si256(bits, tag));
  }
}

/*
 * Walks WALKS vectors of lanes from IDX to their leaves, one level of each per step: the
 * walks are independent, so their gather-compare-gather chains overlap.
 */
#define WALKS 4
static inline void walk8xW(const grove_forest_t *f, __m256i idx[WALKS], const __m256i live[WALKS],
                           const __m256i xoff[WALKS], const float *x, const int leaf64) {
  __m256i active[WALKS];
  for (int v = 0; v < WALKS; v++) active[v] = live[v];
  for (;;) {
    int any = 0;
    for (int v = 0; v < WALKS; v++) {
      if (!_mm256_testz_si256(active[v], active[v]))
        step8(f, &idx[v], &active[v], xoff[v], x, leaf64);
      any |= !_mm256_testz_si256(active[v], active[v]);
    }
    if (!any) return;
  }
}

/* The trees kernel's body: float sums into M32, or (LEAF64) double sums into M64. */
static inline void trees8(const grove_forest_t *f, const float *rows, size_t nrows, float *m32,
                          double *m64, const int leaf64) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i xoff[WALKS];
  for (int v = 0; v < WALKS; v++) xoff[v] = _mm256_setzero_si256();
  for (size_t r = 0; r < nrows; r++) {
    const float *x = rows + r * nf;
    for (uint32_t t0 = 0; t0 < nt; t0 += 8 * WALKS) {
      __m256i idx[WALKS], live[WALKS];
      for (int v = 0; v < WALKS; v++) {
        const uint32_t t = t0 + 8 * (uint32_t)v, n = t >= nt ? 0 : nt - t < 8 ? nt - t : 8;
        live[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
        idx[v] = _mm256_maskload_epi32((const int *)f->roots + (n ? t : 0), live[v]);
      }
      walk8xW(f, idx, live, xoff, x, leaf64);
      for (int v = 0; v < WALKS && t0 + 8 * (uint32_t)v < nt; v++) {
        const uint32_t t = t0 + 8 * (uint32_t)v, n = nt - t < 8 ? nt - t : 8;
        if (leaf64) {
          __m256d l2[2];
          double leaf[8];
          leaf_values8_64(f, idx[v], live[v], l2);
          _mm256_storeu_pd(leaf, l2[0]);
          _mm256_storeu_pd(leaf + 4, l2[1]);
          grove__add_leaves64(f, m64 + r * ng, leaf, t, n);
        } else {
          float leaf[8];
          _mm256_storeu_ps(leaf, leaf_values8(f, idx[v], live[v]));
          grove__add_leaves(f, m32 + r * ng, leaf, t, n);
        }
      }
    }
  }
}

/* Runs WALK (trees8 or rows8) with the forest's sums: doubles for leaf64 forests, each
 * case its own specialization of the walk. */
#define WALK_WITH_SUMS(walk, f, rows, nrows, margins)                   \
  ((f)->leaf64 ? walk(f, rows, nrows, NULL, (margins).f64, 1)           \
               : walk(f, rows, nrows, (margins).f32, NULL, 0))

void grove__predict_avx2_trees(const grove_forest_t *f, const float *rows, size_t nrows,
                               grove_margins_t margins, void *scratch) {
  (void)scratch; /* needs none */
  WALK_WITH_SUMS(trees8, f, rows, nrows, margins);
}

/* The rows kernel's body: float sums into M32, or (LEAF64) double sums into M64. A block's
 * sums stay in ACC (float) or ACC64 (double, lanes 0-3 and 4-7 of each vector) for one
 * output group; several groups are added to the margins lane by lane. */
static inline void rows8(const grove_forest_t *f, const float *rows, size_t nrows, float *m32,
                         double *m64, const int leaf64) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t r0 = 0; r0 < nrows; r0 += BLOCK_ROWS) {
    const size_t nb = nrows - r0 < BLOCK_ROWS ? nrows - r0 : BLOCK_ROWS;
    const float *x = rows + r0 * nf;
    __m256i live[VECS], xoff[VECS];
    __m256 acc[VECS];
    __m256d acc64[VECS][2];
    for (int v = 0; v < VECS; v++) {
      const size_t first = (size_t)v * 8, n = first >= nb ? 0 : nb - first < 8 ? nb - first : 8;
      live[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
      xoff[v] = _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32((int)first)),
                                   _mm256_set1_epi32((int)nf));
      const __m256i load = ng == 1 ? live[v] : _mm256_setzero_si256();
      if (leaf64) {
        acc64[v][0] = _mm256_maskload_pd(m64 + r0 + first,
                                         _mm256_cvtepi32_epi64(_mm256_castsi256_si128(load)));
        acc64[v][1] = _mm256_maskload_pd(m64 + r0 + first + 4,
                                         _mm256_cvtepi32_epi64(_mm256_extracti128_si256(load, 1)));
      } else {
        acc[v] = _mm256_maskload_ps(m32 + r0 + first, load);
      }
    }
    const int nv = (int)((nb + 8 * WALKS - 1) / (8 * WALKS)) * WALKS; /* vectors walked */
    for (uint32_t t = 0; t < nt; t++) {
      __m256i idx[VECS];
      for (int v = 0; v < VECS; v++) idx[v] = _mm256_set1_epi32((int)f->roots[t]);
      for (int v = 0; v < nv; v += WALKS) walk8xW(f, idx + v, live + v, xoff + v, x, leaf64);
      const uint32_t g = f->tree_groups[t];
      for (int v = 0; v < nv; v++) {
        if (leaf64) {
          __m256d leaf[2];
          leaf_values8_64(f, idx[v], live[v], leaf);
          if (ng == 1) {
            acc64[v][0] = _mm256_add_pd(acc64[v][0], leaf[0]);
            acc64[v][1] = _mm256_add_pd(acc64[v][1], leaf[1]);
          } else {
            double l[8];
            _mm256_storeu_pd(l, leaf[0]);
            _mm256_storeu_pd(l + 4, leaf[1]);
            for (size_t k = 0; k < 8 && v * 8 + k < nb; k++) m64[(r0 + v * 8 + k) * ng + g] += l[k];
          }
          continue;
        }
        const __m256 leaf = leaf_values8(f, idx[v], live[v]);
        if (ng == 1) {
          acc[v] = _mm256_add_ps(acc[v], leaf);
        } else {
          float l[8];
          _mm256_storeu_ps(l, leaf);
          for (size_t k = 0; k < 8 && v * 8 + k < nb; k++) m32[(r0 + v * 8 + k) * ng + g] += l[k];
        }
      }
    }
    if (ng != 1) continue;
    for (int v = 0; v < VECS; v++) {
      if (leaf64) {
        _mm256_maskstore_pd(m64 + r0 + v * 8,
                            _mm256_cvtepi32_epi64(_mm256_castsi256_si128(live[v])), acc64[v][0]);
        _mm256_maskstore_pd(m64 + r0 + v * 8 + 4,
                            _mm256_cvtepi32_epi64(_mm256_extracti128_si256(live[v], 1)),
                            acc64[v][1]);
      } else {
        _mm256_maskstore_ps(m32 + r0 + v * 8, live[v], acc[v]);
      }
    }
  }
}

void grove__predict_avx2_rows(const grove_forest_t *f, const float *rows, size_t nrows,
                              grove_margins_t margins, void *scratch) {
  (void)scratch; /* needs none */
  WALK_WITH_SUMS(rows8, f, rows, nrows, margins);
}

/*
 * The ranks kernel on AVX2 (forest.h, grove_ranks_t): trees in the lanes, 8 at a time (half
 * a group of 16), a row's bins read with vpermd from memory instead of its values (16-bit
 * bins for rows of more than 16 features), every tree walked as a complete tree. Gathers are
 * the dear part on the AVX2-only CPU measured (Zen 3), so the walks gather only the words of
 * levels 4 and below and the leaves, and take levels 0-3 from loads and blends
 * (bench/RESULTS.md, "The ranks kernel on AVX2"). Categorical forests walk them too: a
 * categorical word's rank bits are its set's categories 32-47 and ranks->sets holds 0-31,
 * and a categorical feature's bin is its category code.
 */
#define RANKS_ROW_WORDS GROVE_RANKS_ROW_WORDS
#define RANKS_JOBS      GROVE_AVX2_RANKS_JOBS /* walks interleaved level by level */
#define RANKS_SEARCHES  8

/* One row's bin for feature J (ranks_bins8()). */
static uint32_t ranks_bin1(const grove_ranks_t *rk, uint32_t j, float x) {
  if (x != x) return GROVE_RANKS_MISSING; /* NaN compares false with every threshold */
  if (rk->categorical >> j & 1)
    return x >= 0.0f && x < (float)GROVE_RANKS_CATEGORIES ? (uint32_t)x : GROVE_RANKS_NO_CATEGORY;
  const float *t = rk->thresholds + rk->offsets[j], *base = t;
  uint32_t n = rk->offsets[j + 1] - rk->offsets[j];
  if (n == 0) return 0;
  /* [base - t, base - t + n] holds the count; each step keeps the half it is in (a cmov) */
  while (n > 1) {
    const uint32_t half = n / 2;
    base = base[half - 1] <= x ? base + half : base;
    n -= half;
  }
  return (uint32_t)(base - t) + (base[0] <= x);
}

/* Bins (how many of a numeric feature's thresholds are <= the value; GROVE_RANKS_MISSING
 * for NaN) or category codes (GROVE_RANKS_NO_CATEGORY outside [0, GROVE_RANKS_CATEGORIES))
 * of NB rows, at BINS[row * RANKS_ROW_WORDS + j], zeros from feature NF to the next multiple
 * of 8 (the walks' loads of bins read whole vectors). Branch-free binary searches, 8 rows in
 * the lanes and 8 features at once (each a chain of dependent gathers), or for fewer rows
 * one at a time (ranks_bin1). */
static void ranks_bins8(const grove_ranks_t *rk, const float *rows, size_t nb, uint32_t nf,
                        uint32_t *bins) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), one = _mm256_set1_epi32(1);
  const __m256i row_at = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)nf));
  const uint32_t padded = (nf + 7) & ~7u;
  for (size_t r0 = 0; r0 < nb; r0 += 8) {
    const size_t n = nb - r0 < 8 ? nb - r0 : 8;
    const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
    const float *x = rows + r0 * nf;
    uint32_t *out = bins + r0 * RANKS_ROW_WORDS;
    if (n < 8) { /* a few rows: a scalar search each costs less than the lanes left empty */
      for (size_t k = 0; k < n; k++)
        for (uint32_t j = 0; j < padded; j++)
          out[k * RANKS_ROW_WORDS + j] = j < nf ? ranks_bin1(rk, j, x[k * nf + j]) : 0;
      continue;
    }
    for (uint32_t j0 = 0; j0 < nf; j0 += RANKS_SEARCHES) {
      __m256i pos[RANKS_SEARCHES], count[RANKS_SEARCHES];
      __m256 xv[RANKS_SEARCHES];
      uint32_t most = 0;
      for (int s = 0; s < RANKS_SEARCHES; s++) {
        const uint32_t j = j0 + (uint32_t)s;
        const uint32_t c = j < nf ? rk->offsets[j + 1] - rk->offsets[j] : 0;
        pos[s] = _mm256_setzero_si256();
        count[s] = _mm256_set1_epi32((int)c);
        if (c > most) most = c;
        xv[s] = j < nf
                    ? _mm256_mask_i32gather_ps(_mm256_setzero_ps(), x,
                                               _mm256_add_epi32(row_at, _mm256_set1_epi32((int)j)),
                                               _mm256_castsi256_ps(live), 4)
                    : _mm256_setzero_ps();
      }
      for (uint32_t step = grove__ranks_first_step(most); most != 0 && step != 0; step >>= 1) {
        for (int s = 0; s < RANKS_SEARCHES; s++) {
          const uint32_t j = j0 + (uint32_t)s;
          if (j >= nf) break;
          const __m256i cand = _mm256_add_epi32(pos[s], _mm256_set1_epi32((int)step));
          const __m256i in = _mm256_andnot_si256(_mm256_cmpgt_epi32(cand, count[s]), live);
          const __m256 t =
              _mm256_mask_i32gather_ps(_mm256_setzero_ps(), rk->thresholds + rk->offsets[j],
                                       _mm256_sub_epi32(cand, one), _mm256_castsi256_ps(in), 4);
          const __m256 le =
              _mm256_and_ps(_mm256_castsi256_ps(in), _mm256_cmp_ps(t, xv[s], _CMP_LE_OQ));
          pos[s] = _mm256_castps_si256(
              _mm256_blendv_ps(_mm256_castsi256_ps(pos[s]), _mm256_castsi256_ps(cand), le));
        }
      }
      for (int s = 0; s < RANKS_SEARCHES && j0 + (uint32_t)s < nf; s++) {
        const uint32_t j = j0 + (uint32_t)s;
        __m256i bin = pos[s];
        if (rk->categorical >> j & 1) { /* the code: in [0, GROVE_RANKS_CATEGORIES) or none */
          const __m256 in = _mm256_and_ps(
              _mm256_cmp_ps(xv[s], _mm256_setzero_ps(), _CMP_GE_OQ),
              _mm256_cmp_ps(xv[s], _mm256_set1_ps((float)GROVE_RANKS_CATEGORIES), _CMP_LT_OQ));
          bin = _mm256_castps_si256(
              _mm256_blendv_ps(_mm256_castsi256_ps(_mm256_set1_epi32(GROVE_RANKS_NO_CATEGORY)),
                               _mm256_castsi256_ps(_mm256_cvttps_epi32(xv[s])), in));
        }
        /* NaN compares false with every threshold: its own bin. */
        bin = _mm256_castps_si256(
            _mm256_blendv_ps(_mm256_castsi256_ps(bin),
                             _mm256_castsi256_ps(_mm256_set1_epi32((int)GROVE_RANKS_MISSING)),
                             _mm256_cmp_ps(xv[s], xv[s], _CMP_UNORD_Q)));
        uint32_t lanes[8];
        _mm256_storeu_si256((__m256i *)lanes, bin);
        for (size_t k = 0; k < n; k++) out[k * RANKS_ROW_WORDS + j] = lanes[k];
      }
    }
    for (size_t k = 0; k < n; k++)
      for (uint32_t j = nf; j < padded; j++) out[k * RANKS_ROW_WORDS + j] = 0;
  }
}

/* Packs the 32-bit bins of NB rows of NF features (ranks_bins8()) into 16 bits each, in
 * place: feature j's at half j of the row's first 16 words, GROVE_RANKS_MISSING as
 * RANKS_PACKED_MISSING. */
static void ranks_pack_bins(uint32_t *bins, size_t nb, uint32_t nf) {
  for (size_t r = 0; r < nb; r++) {
    uint32_t *row = bins + r * RANKS_ROW_WORDS, packed[GROVE_RANKS_MAX_FEATURES / 2] = {0};
    for (uint32_t k = 0; 2 * k < nf; k++) /* bins below 2^16, or ~0; past NF zeros */
      packed[k] = (row[2 * k] & 0xffffu) | (2 * k + 1 < nf ? row[2 * k + 1] << 16 : 0);
    memcpy(row, packed, sizeof packed);
  }
}

/* The bin of each lane's feature in the word W (bits 16-20), from a row's bins B: vpermd
 * picks within 8 bins by the feature's low 3 bits, blends by bit 3. CHUNKS: vectors of 8
 * 32-bit bins the row has (1-2), or RANKS_PACKED: 32 16-bit bins in 2 vectors (rows of more
 * than 16 features, ranks_pack_bins()), vpermd picking the pair by bits 1-3, a blend by bit 4,
 * a shift by bit 0. */
#define RANKS_PACKED         0
#define RANKS_PACKED_MISSING 0xffffu /* a NaN's bin when packed: above every rank (<= 65534) */
WALK_INLINE __m256i ranks_bin8(__m256i w, const uint32_t *b, const int chunks) {
  const int packed = chunks == RANKS_PACKED;
  const __m256i idx = _mm256_srli_epi32(w, GROVE_RANKS_FEATURE_SHIFT + packed);
  __m256 v =
      _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(_mm256_load_si256((const __m256i *)b), idx));
  if (chunks == 1) return _mm256_castps_si256(v);
  /* the feature's bit 3 (bit 4 when packed) at the sign bit that blendv reads */
  const __m256 high =
      _mm256_castsi256_ps(_mm256_slli_epi32(w, 31 - GROVE_RANKS_FEATURE_SHIFT - 3 - packed));
  v = _mm256_blendv_ps(v,
                       _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(
                           _mm256_load_si256((const __m256i *)(b + 8)), idx)),
                       high);
  if (!packed) return _mm256_castps_si256(v);
  /* the feature's bit 0 as a shift by 16 */
  const __m256i shift =
      _mm256_and_si256(_mm256_srli_epi32(w, GROVE_RANKS_FEATURE_SHIFT - 4), _mm256_set1_epi32(16));
  return _mm256_and_si256(_mm256_srlv_epi32(_mm256_castps_si256(v), shift),
                          _mm256_set1_epi32(0xffff));
}

/* Whether each lane goes right (all bits set) at its split word W with set bits S (categorical
 * forests: CAT), for a row's bins B: a numeric split when bin > rank, a categorical one when
 * the code's bit is in the set (categories 0-31 in S, 32-47 in the rank bits: a shift by 32 or
 * more gives 0, so codes past the set and GROVE_RANKS_NO_CATEGORY are in no set); a missing
 * value (GROVE_RANKS_MISSING, -1 as a signed bin: in no set, below no rank) goes right unless
 * the word has GROVE_RANKS_DEFAULT_LEFT. PLAIN: the call has no NaN. */
WALK_INLINE __m256i ranks_right8(__m256i w, __m256i s, const uint32_t *b, const int chunks,
                                 const int plain, const int cat) {
  const __m256i bin = ranks_bin8(w, b, chunks);
  const __m256i rank = _mm256_and_si256(w, _mm256_set1_epi32(GROVE_RANKS_RANK_MASK));
  __m256i right = _mm256_cmpgt_epi32(bin, rank); /* both below 2^31, or the bin -1 */
  if (cat) {
    const __m256i bits =
        _mm256_or_si256(_mm256_srlv_epi32(s, bin),
                        _mm256_srlv_epi32(rank, _mm256_sub_epi32(bin, _mm256_set1_epi32(32))));
    const __m256i in =
        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(bits, _mm256_set1_epi32(1)));
    /* GROVE_RANKS_CATEGORICAL (bit 30) at the sign bit */
    right =
        _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(right), _mm256_castsi256_ps(in),
                                             _mm256_castsi256_ps(_mm256_slli_epi32(w, 1))));
  }
  if (plain) return right;
  const __m256i dl = _mm256_srai_epi32(w, 31);
  if (chunks == RANKS_PACKED) { /* the missing bin is above every rank: decided again */
    const __m256i missing = _mm256_cmpeq_epi32(bin, _mm256_set1_epi32(RANKS_PACKED_MISSING));
    return _mm256_or_si256(_mm256_andnot_si256(missing, right), _mm256_andnot_si256(dl, missing));
  }
  const __m256i missing = _mm256_cmpeq_epi32(bin, _mm256_set1_epi32((int)GROVE_RANKS_MISSING));
  return _mm256_or_si256(right, _mm256_andnot_si256(dl, missing));
}

/* The vector of lanes at R ? B : A (R all bits set or none per lane). */
static inline __m256i pick8(__m256i r, __m256i a, __m256i b) { return _mm256_blendv_epi8(a, b, r); }

/* Half a group of 16 trees: its words, sets (NULL without) and leaves, lane k of the half at
 * [position * 16 + k]. */
typedef struct {
  const int32_t *w, *s;
  const float *l;
} ranks_half_t;

/* Half H (group H / 2, lanes 8 (H % 2) ..) of the forest's ranks. */
static inline ranks_half_t ranks_half(const grove_ranks_t *rk, uint32_t h) {
  const size_t splits = ((size_t)1 << rk->depth) - 1,
               words = (size_t)(h / 2) * splits * GROVE_RANKS_LANES + h % 2 * 8,
               leaves = (size_t)(h / 2) * (splits + 1) * GROVE_RANKS_LANES + h % 2 * 8;
  return (ranks_half_t){(const int32_t *)rk->words + words,
                        rk->sets ? (const int32_t *)rk->sets + words : NULL, rk->leaves + leaves};
}

/*
 * RANKS_JOBS walks, each one row (bins B[i]) through the 8 trees of half group T[i], their
 * leaf values to OUT[i]. Levels 0-3 read their words from loaded vectors chosen by blends, the
 * levels below gather them, as do the leaves. Every walk takes depth steps: pads carry a shallower
 * leaf down. The position is kept as Q = position + 1, whose heap step is 2Q (left) or
 * 2Q + 1.
 */
_Static_assert(GROVE_RANKS_MIN_DEPTH >= 3, "ranks_walk8 blends levels 0-2");
WALK_INLINE void ranks_walk8(const ranks_half_t t[RANKS_JOBS], const uint32_t *const b[RANKS_JOBS],
                             float *const out[RANKS_JOBS], uint32_t depth, const int chunks,
                             const int plain, const int cat) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), zero = _mm256_setzero_si256();
  const uint32_t splits = (1u << depth) - 1;
#define AT(p, i) _mm256_loadu_si256((const __m256i *)(t[i].w + (p)*GROVE_RANKS_LANES))
#define SAT(p, i) \
  (cat ? _mm256_loadu_si256((const __m256i *)(t[i].s + (p)*GROVE_RANKS_LANES)) : zero)
  __m256i q[RANKS_JOBS];
  for (int i = 0; i < RANKS_JOBS; i++) {
    const __m256i r0 = ranks_right8(AT(0, i), SAT(0, i), b[i], chunks, plain, cat);
    const __m256i r1 = ranks_right8(pick8(r0, AT(1, i), AT(2, i)), pick8(r0, SAT(1, i), SAT(2, i)),
                                    b[i], chunks, plain, cat);
    const __m256i w2 = pick8(r0, pick8(r1, AT(3, i), AT(4, i)), pick8(r1, AT(5, i), AT(6, i)));
    const __m256i s2 =
        cat ? pick8(r0, pick8(r1, SAT(3, i), SAT(4, i)), pick8(r1, SAT(5, i), SAT(6, i))) : zero;
    const __m256i r2 = ranks_right8(w2, s2, b[i], chunks, plain, cat);
    /* Q after three levels: 8 + 4 r0 + 2 r1 + r2 (each r is -1 or 0) */
    __m256i qi = _mm256_sub_epi32(
        _mm256_set1_epi32(8),
        _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(r0, 2), _mm256_slli_epi32(r1, 1)), r2));
    if (depth > 3) { /* level 3 too: its 8 words loaded, chosen by the three decisions */
#define PICK3(A)                                                                  \
  pick8(r0, pick8(r1, pick8(r2, A(7, i), A(8, i)), pick8(r2, A(9, i), A(10, i))), \
        pick8(r1, pick8(r2, A(11, i), A(12, i)), pick8(r2, A(13, i), A(14, i))))
      const __m256i r3 = ranks_right8(PICK3(AT), cat ? PICK3(SAT) : zero, b[i], chunks, plain, cat);
#undef PICK3
      qi = _mm256_sub_epi32(_mm256_add_epi32(qi, qi), r3);
    }
    q[i] = qi;
  }
#undef AT
#undef SAT
  /* From here the lanes' word offsets AT = (Q - 1) * 16 + k: a step to Q' = 2Q - r (r = -1
   * going right) is AT' = 2 AT + 16 - k + (r & 16), without a shift. */
  const __m256i sixteen = _mm256_set1_epi32(GROVE_RANKS_LANES),
                step = _mm256_sub_epi32(sixteen, lane);
  __m256i at[RANKS_JOBS];
  for (int i = 0; i < RANKS_JOBS; i++)
    at[i] = _mm256_sub_epi32(_mm256_add_epi32(_mm256_slli_epi32(q[i], 4), lane), sixteen);
  for (uint32_t d = depth > 3 ? 4 : 3; d < depth; d++)
    for (int i = 0; i < RANKS_JOBS; i++) {
      const __m256i wd = _mm256_i32gather_epi32(t[i].w, at[i], 4);
      const __m256i sd = cat ? _mm256_i32gather_epi32(t[i].s, at[i], 4) : zero;
      const __m256i r = ranks_right8(wd, sd, b[i], chunks, plain, cat);
      at[i] = _mm256_add_epi32(_mm256_add_epi32(at[i], at[i]),
                               _mm256_add_epi32(step, _mm256_and_si256(r, sixteen)));
    }
  /* the leaves: position Q - 1 - splits of the leaf level */
  const __m256i first_leaf = _mm256_set1_epi32((int)splits * GROVE_RANKS_LANES);
  for (int i = 0; i < RANKS_JOBS; i++)
    _mm256_storeu_ps(out[i], _mm256_i32gather_ps(t[i].l, _mm256_sub_epi32(at[i], first_leaf), 4));
}

/* Transposes the 8 x 8 floats of R: lane j of R[i] goes to lane i of R[j]. */
static inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; i++) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; i++) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

/*
 * The kernel's body (its scratch: grove__avx2_ranks_scratch_bytes()). A block of rows gets its
 * bins; from RANKS_JOBS rows on, each group's trees take the block's rows RANKS_JOBS / 2 at a
 * time, both halves of a row at once (their words share cache lines; the group's stay in the
 * core's caches meanwhile), whose leaf values are turned tree by tree and added in model order;
 * fewer rows walk one at a time, RANKS_JOBS half groups at once, their leaf values added tree
 * by tree. Float sums in model order: the scalar kernel's bits.
 */
WALK_INLINE void ranks8(const grove_forest_t *f, const float *rows, size_t nrows, float *m,
                        void *scratch, const int chunks, const int plain, const int cat) {
  const grove_ranks_t *rk = f->ranks;
  const uint32_t nf = f->info.num_features, nt = f->info.num_trees, ng = f->info.num_groups;
  const uint32_t halves = rk->num_groups * 2;
  enum { CHUNKS = GROVE_RANKS_BLOCK / 8 };
  uint32_t *bins = scratch;
  float *gm = (float *)(bins + (GROVE_RANKS_BLOCK + RANKS_JOBS) * RANKS_ROW_WORDS);
  float *per_tree = gm + (ng > 1 ? (size_t)ng * GROVE_RANKS_BLOCK : 0); /* halves x 8, + 8 */
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t r0 = 0; r0 < nrows; r0 += GROVE_RANKS_BLOCK) {
    const size_t nb = nrows - r0 < GROVE_RANKS_BLOCK ? nrows - r0 : GROVE_RANKS_BLOCK;
    ranks_bins8(rk, rows + r0 * nf, nb, nf, bins);
    if (chunks == RANKS_PACKED) ranks_pack_bins(bins, nb, nf);
    if (nb < RANKS_JOBS) {
      for (size_t r = 0; r < nb; r++) {
        const uint32_t *b[RANKS_JOBS];
        for (int i = 0; i < RANKS_JOBS; i++) b[i] = bins + r * RANKS_ROW_WORDS;
        for (uint32_t h0 = 0; h0 < halves; h0 += RANKS_JOBS) {
          ranks_half_t t[RANKS_JOBS];
          float *out[RANKS_JOBS];
          for (uint32_t i = 0; i < RANKS_JOBS; i++) {
            t[i] = ranks_half(rk, h0 + i < halves ? h0 + i : halves - 1); /* past the last: again */
            out[i] = per_tree + (size_t)(h0 + i < halves ? h0 + i : halves) * 8;
          }
          ranks_walk8(t, b, out, rk->depth, chunks, plain, cat);
        }
        grove__add_leaves(f, m + (r0 + r) * ng, per_tree, 0, nt);
      }
      continue;
    }
    __m256i live[CHUNKS];
    __m256 acc[CHUNKS];
    for (int c = 0; c < CHUNKS; c++) {
      const size_t first = (size_t)c * 8, n = first >= nb ? 0 : nb - first < 8 ? nb - first : 8;
      live[c] = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), lane);
      acc[c] = _mm256_maskload_ps(m + r0 + first, ng == 1 ? live[c] : _mm256_setzero_si256());
    }
    for (size_t r = 0; r < nb && ng > 1; r++)
      for (uint32_t g = 0; g < ng; g++) gm[g * GROVE_RANKS_BLOCK + r] = m[(r0 + r) * ng + g];
    for (uint32_t k = 0; k < rk->num_groups; k++) {
      for (size_t r = 0; r < nb; r += RANKS_JOBS / 2) {
        ranks_half_t t[RANKS_JOBS];
        const uint32_t *b[RANKS_JOBS];
        float *out[RANKS_JOBS];
        for (int i = 0; i < RANKS_JOBS; i++) {
          const uint32_t h = (uint32_t)i & 1; /* both halves of a row walk together */
          const size_t row = r + (size_t)i / 2;
          t[i] = ranks_half(rk, 2 * k + h);
          b[i] = bins + (row < nb ? row : 0) * RANKS_ROW_WORDS;
          out[i] = (float *)bins + row * RANKS_ROW_WORDS + GROVE_RANKS_MAX_FEATURES + h * 8;
        }
        ranks_walk8(t, b, out, rk->depth, chunks, plain, cat);
      }
      const uint32_t t0 = k * GROVE_RANKS_LANES,
                     lanes = nt - t0 < GROVE_RANKS_LANES ? nt - t0 : GROVE_RANKS_LANES;
      for (int c = 0; c < CHUNKS && (size_t)c * 8 < nb; c++) {
        const float *at =
            (const float *)bins + (size_t)c * 8 * RANKS_ROW_WORDS + GROVE_RANKS_MAX_FEATURES;
        for (uint32_t h = 0; h * 8 < lanes; h++) {
          /* The chunk's 8 rows x 8 trees turned tree by tree. */
          __m256 tree[8];
          for (int row = 0; row < 8; row++)
            tree[row] = _mm256_loadu_ps(at + (size_t)row * RANKS_ROW_WORDS + h * 8);
          transpose8(tree);
          const uint32_t n = lanes - h * 8 < 8 ? lanes - h * 8 : 8;
          if (ng == 1) {
            for (uint32_t t = 0; t < n; t++) acc[c] = _mm256_add_ps(acc[c], tree[t]);
          } else { /* each tree into its own group's margins, still in model order */
            for (uint32_t t = 0; t < n; t++) {
              float *p =
                  gm + (size_t)f->tree_groups[t0 + h * 8 + t] * GROVE_RANKS_BLOCK + (size_t)c * 8;
              _mm256_maskstore_ps(p, live[c],
                                  _mm256_add_ps(_mm256_maskload_ps(p, live[c]), tree[t]));
            }
          }
        }
      }
    }
    for (int c = 0; c < CHUNKS && ng == 1; c++)
      _mm256_maskstore_ps(m + r0 + (size_t)c * 8, live[c], acc[c]);
    for (size_t r = 0; r < nb && ng > 1; r++)
      for (uint32_t g = 0; g < ng; g++) m[(r0 + r) * ng + g] = gm[g * GROVE_RANKS_BLOCK + r];
  }
}

/* Whether a call's NROWS ROWS have no NaN (the ranks walks then leave out missing values). */
static int rows_without_nan8(const float *rows, size_t n) {
  __m256 nan = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(rows + i);
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
  }
  int any = _mm256_movemask_ps(nan);
  for (; i < n; i++) any |= rows[i] != rows[i];
  return !any;
}

/* Each case its own specialization: the bins' vectors (CHUNKS), NaN in the call, sets. */
#define RANKS8_CHUNKS(f, rows, nrows, m, scratch, plain, cat)                         \
  ((f)->info.num_features <= 8    ? ranks8(f, rows, nrows, m, scratch, 1, plain, cat) \
   : (f)->info.num_features <= 16 ? ranks8(f, rows, nrows, m, scratch, 2, plain, cat) \
                                  : ranks8(f, rows, nrows, m, scratch, RANKS_PACKED, plain, cat))

/* Forests without ranks (the kernel tests call every kernel on every forest) take the rows
 * kernel. */
void grove__predict_avx2_ranks(const grove_forest_t *f, const float *rows, size_t nrows,
                               grove_margins_t margins, void *scratch) {
  if (f->ranks == NULL) {
    grove__predict_avx2_rows(f, rows, nrows, margins, scratch);
    return;
  }
  const int plain = rows_without_nan8(rows, nrows * f->info.num_features);
  if (f->ranks->sets != NULL) {
    if (plain)
      RANKS8_CHUNKS(f, rows, nrows, margins.f32, scratch, 1, 1);
    else
      RANKS8_CHUNKS(f, rows, nrows, margins.f32, scratch, 0, 1);
  } else if (plain) {
    RANKS8_CHUNKS(f, rows, nrows, margins.f32, scratch, 1, 0);
  } else {
    RANKS8_CHUNKS(f, rows, nrows, margins.f32, scratch, 0, 0);
  }
}
