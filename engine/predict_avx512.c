/*
 * AVX-512 kernels (built with -mavx512f -mavx512bw -mavx512vl -mavx512dq; the only file
 * with AVX-512 intrinsics). Both walk 16 lanes level by level with gathers from the
 * 16-byte nodes, deciding each split exactly as grove_node_next() does, and add each
 * row's leaf values to its margin one tree at a time in model order, so the margins are
 * bit-identical to the scalar kernel's:
 *  - trees: one row, 4 x 16 trees at a time (one lane per tree): batches below 32 rows;
 *  - rows: one tree, 4 x 16 rows at a time (a block of 64 rows): larger batches.
 * The four vectors' walks are interleaved level by level: each walk is a latency-bound
 * chain of gathers, and four of them keep the gather unit busy.
 * Categorical splits gather their set's word: category_right16().
 */
#include <immintrin.h>

#include "kernels.h"

#define BLOCK_ROWS 64
#define VECS (BLOCK_ROWS / 16)
/* Vectors of 16 trees the trees kernel walks at once. */
#define TREE_VECS 4

/*
 * grove_category_goes_right() for the lanes in CAT (numeric X, never NaN there): codes
 * outside [0, 2^24) ((-1, 2^24) with GROVE_NODE_CAT_TRUNC) go left, the rest truncate
 * and look up their bit.
 */
static inline __mmask16 category_right16(const grove_forest_t *f, __mmask16 cat, __m512 xv,
                                         __m512i flags) {
  const __m512i zero = _mm512_setzero_si512();
  __mmask16 in = _mm512_mask_cmp_ps_mask(cat, xv, _mm512_setzero_ps(), _CMP_GE_OQ);
  const __mmask16 trunc = _mm512_mask_test_epi32_mask(cat, flags, _mm512_set1_epi32(GROVE_NODE_CAT_TRUNC));
  in |= _mm512_mask_cmp_ps_mask(trunc, xv, _mm512_set1_ps(-1.0f), _CMP_GT_OQ);
  in = _mm512_mask_cmp_ps_mask(in, xv, _mm512_set1_ps(GROVE_MAX_CATEGORY), _CMP_LT_OQ);
  if (!in) return 0;
  const __m512i c = _mm512_cvttps_epi32(xv);
  const __m512i s2 = _mm512_slli_epi32(_mm512_srli_epi32(flags, GROVE_NODE_CAT_SHIFT), 1);
  const int32_t *sets = (const int32_t *)f->cat_sets; /* set i: offset, nwords at [2i], [2i+1] */
  const __m512i off = _mm512_mask_i32gather_epi32(zero, in, s2, sets, 4);
  const __m512i nw = _mm512_mask_i32gather_epi32(zero, in, s2, sets + 1, 4);
  const __m512i word = _mm512_srli_epi32(c, 5);
  in = _mm512_mask_cmplt_epu32_mask(in, word, nw);
  const __m512i w = _mm512_mask_i32gather_epi32(zero, in, _mm512_add_epi32(off, word), f->cat_words, 4);
  const __m512i bit = _mm512_srlv_epi32(w, _mm512_and_si512(c, _mm512_set1_epi32(31)));
  return _mm512_mask_test_epi32_mask(in, bit, _mm512_set1_epi32(1));
}

/*
 * One level of one vector's walk: lanes in *ACTIVE at a split move to a child; lanes at a
 * leaf leave *ACTIVE. A split's feature value is read at X + XOFF + feature: XOFF is each
 * lane's row offset (rows kernel) or 0 (trees kernel).
 */
static inline void step16(const grove_forest_t *f, __m512i *idxp, __mmask16 *activep, __m512i xoff,
                          const float *x) {
  const long long *nq = (const long long *)f->nodes; /* node i: (value, feature) at nq[2i], (left, flags) at nq[2i+1] */
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, one);
  const __m512i idx = *idxp;
  __mmask16 active = *activep;
  /* Two 64-bit gathers per pair of fields load half the elements of four 32-bit ones. */
  const __m512i i2 = _mm512_slli_epi32(idx, 1);
  const __m256i ilo = _mm512_castsi512_si256(i2), ihi = _mm512_extracti64x4_epi64(i2, 1);
  const __mmask8 alo = (__mmask8)active, ahi = (__mmask8)(active >> 8);
  const __m512i none = _mm512_set1_epi64((long long)0xffffffff00000000ull); /* feature -1 */
  const __m512i vf_lo = _mm512_mask_i32gather_epi64(none, alo, ilo, nq, 8);
  const __m512i vf_hi = _mm512_mask_i32gather_epi64(none, ahi, ihi, nq, 8);
  const __m512i feat = _mm512_permutex2var_epi32(vf_lo, odd, vf_hi);
  active = _mm512_mask_cmpge_epi32_mask(active, feat, _mm512_setzero_si512());
  *activep = active;
  if (!active) return;
  const __m512 thr = _mm512_castsi512_ps(_mm512_permutex2var_epi32(vf_lo, even, vf_hi));
  const __m512i lf_lo = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), alo, ilo, nq + 1, 8);
  const __m512i lf_hi = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), ahi, ihi, nq + 1, 8);
  const __m512i left = _mm512_mask_mov_epi32(idx, active, _mm512_permutex2var_epi32(lf_lo, even, lf_hi));
  const __m512i flags = _mm512_permutex2var_epi32(lf_lo, odd, lf_hi);
  const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), active, _mm512_add_epi32(xoff, feat), x, 4);
  /* !(x < t) is also true for NaN, which the default direction then overrides. */
  __mmask16 right = _mm512_mask_cmp_ps_mask(active, xv, thr, _CMP_NLT_UQ);
  __mmask16 missing = _mm512_mask_cmp_ps_mask(active, xv, xv, _CMP_UNORD_Q);
  if (f->num_zero_missing != 0) { /* LightGBM's zero band takes the default direction too */
    const __mmask16 zm = _mm512_mask_test_epi32_mask(active, flags, _mm512_set1_epi32(GROVE_NODE_ZERO_MISSING));
    missing |= _mm512_mask_cmp_ps_mask(zm, _mm512_abs_ps(xv), _mm512_set1_ps(GROVE_ZERO_BAND), _CMP_LE_OQ);
  }
  const __mmask16 dl = _mm512_test_epi32_mask(flags, _mm512_set1_epi32(GROVE_NODE_DEFAULT_LEFT));
  right = (__mmask16)((right & ~missing) | (missing & ~dl));
  const __mmask16 cat = _mm512_mask_test_epi32_mask((__mmask16)(active & ~missing), flags,
                                                    _mm512_set1_epi32(GROVE_NODE_CATEGORICAL));
  if (cat) right = (__mmask16)((right & ~cat) | category_right16(f, cat, xv, flags));
  *idxp = _mm512_mask_add_epi32(left, right, left, one);
}

/*
 * Walks VECS vectors of lanes from IDX to their leaves, one level of each per step: the
 * walks are independent, so their gather-compare-gather chains overlap.
 */
static inline void walk16xV(const grove_forest_t *f, const int nv, __m512i *idx, const __mmask16 *live,
                            const __m512i *xoff, const float *x) {
  __mmask16 active[TREE_VECS > VECS ? TREE_VECS : VECS];
  for (int v = 0; v < nv; v++) active[v] = live[v];
  for (;;) {
    unsigned any = 0;
    for (int v = 0; v < nv; v++) {
      if (active[v]) step16(f, &idx[v], &active[v], xoff[v], x);
      any |= active[v];
    }
    if (!any) return;
  }
}

void grove_predict_avx512_trees(const grove_forest_t *f, const float *rows, size_t nrows,
                                float *margins) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const float *nodes_f = (const float *)f->nodes;
  __m512i xoff[TREE_VECS];
  for (int v = 0; v < TREE_VECS; v++) xoff[v] = _mm512_setzero_si512();
  for (size_t r = 0; r < nrows; r++) {
    const float *x = rows + r * nf;
    float *m = margins + r * ng;
    for (uint32_t t0 = 0; t0 < nt; t0 += 16 * TREE_VECS) {
      __m512i idx[TREE_VECS];
      __mmask16 live[TREE_VECS];
      for (int v = 0; v < TREE_VECS; v++) {
        const uint32_t t = t0 + 16 * (uint32_t)v, n = t >= nt ? 0 : nt - t < 16 ? nt - t : 16;
        live[v] = (__mmask16)((1u << n) - 1);
        idx[v] = _mm512_maskz_loadu_epi32(live[v], f->roots + (n ? t : 0));
      }
      walk16xV(f, TREE_VECS, idx, live, xoff, x);
      for (int v = 0; v < TREE_VECS && live[v]; v++) {
        float leaf[16];
        _mm512_storeu_ps(leaf, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live[v],
                                                        _mm512_slli_epi32(idx[v], 2), nodes_f, 4));
        const uint32_t t = t0 + 16 * (uint32_t)v, n = nt - t < 16 ? nt - t : 16;
        grove_add_leaves(f, m, leaf, t, n);
      }
    }
  }
}

void grove_predict_avx512_rows(const grove_forest_t *f, const float *rows, size_t nrows,
                               float *margins) {
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const float *nodes_f = (const float *)f->nodes;
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  for (size_t r0 = 0; r0 < nrows; r0 += BLOCK_ROWS) {
    const size_t nb = nrows - r0 < BLOCK_ROWS ? nrows - r0 : BLOCK_ROWS;
    const float *x = rows + r0 * nf;
    __mmask16 live[VECS];
    __m512i xoff[VECS];
    __m512 acc[VECS];
    for (int v = 0; v < VECS; v++) {
      const size_t first = (size_t)v * 16, n = first >= nb ? 0 : nb - first < 16 ? nb - first : 16;
      live[v] = (__mmask16)((1u << n) - 1);
      xoff[v] = _mm512_mullo_epi32(_mm512_add_epi32(lane, _mm512_set1_epi32((int)first)),
                                   _mm512_set1_epi32((int)nf));
      acc[v] = _mm512_maskz_loadu_ps(ng == 1 ? live[v] : 0, margins + r0 + first);
    }
    for (uint32_t t = 0; t < nt; t++) {
      __m512i idx[VECS];
      for (int v = 0; v < VECS; v++) idx[v] = _mm512_set1_epi32((int)f->roots[t]);
      walk16xV(f, VECS, idx, live, xoff, x);
      const uint32_t g = f->tree_groups[t];
      for (int v = 0; v < VECS; v++) {
        const __m512 leaf = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live[v],
                                                     _mm512_slli_epi32(idx[v], 2), nodes_f, 4);
        if (ng == 1) {
          acc[v] = _mm512_add_ps(acc[v], leaf);
        } else {
          float l[16];
          _mm512_storeu_ps(l, leaf);
          for (size_t k = 0; k < 16 && v * 16 + k < nb; k++) margins[(r0 + v * 16 + k) * ng + g] += l[k];
        }
      }
    }
    if (ng == 1)
      for (int v = 0; v < VECS; v++) _mm512_mask_storeu_ps(margins + r0 + v * 16, live[v], acc[v]);
  }
}
