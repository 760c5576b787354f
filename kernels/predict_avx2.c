/*
 * AVX2 kernels (built with -mavx2 -mfma; the only file with AVX2 intrinsics). The same
 * two walks as predict_avx512.c with 8 lanes and vector masks:
 *  - trees: one row, 4 x 8 trees at a time (one lane per tree): batches below 32 rows;
 *  - rows: one tree, a block of 64 rows as 8 vectors of 8, walked 4 at a time: larger ones.
 * Splits are decided exactly as grove__node_next() does (see the split truth table in
 * kernels.h) and each row's leaf values are added in model order, in float for float
 * forests and in double for leaf64 ones, so the margins are bit-identical to the scalar
 * kernel's. Nodes, category sets and leaf values are gathered as 32-bit words at the
 * offsets forest.h names (GROVE_NODE_WORD_*, GROVE_CAT_SET_WORD_*); a leaf64 leaf's double
 * as the 64-bit pair GROVE_NODE_PAIR_VALUE_FEATURE. Each walk is stamped out twice from one
 * body, with LEAF64 a constant: a float forest's code is what it was before leaf64 forests.
 */
#include <immintrin.h>

#include "kernels.h"

#define BLOCK_ROWS 64
#define VECS       (BLOCK_ROWS / 8)

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
