/*
 * Internal: the TreeSHAP walk of explain.c with a block of rows in the lanes of a vector,
 * included by explain_lanes_isa.h (for explain_avx2.c, explain_avx512.c) once per element
 * type, with SHAP_REAL (double, or float for forests of float leaves and thresholds), SHAP_LANES (rows
 * per vector), SHAP_FMA(a, b, c) (the ISA's fused a x b + c on those vectors), SHAP_ID(name)
 * (the type's suffix on every name) and SHAP_ROWS_FN defined. The structure of a tree is the
 * same for every row and only the hot child differs, so every lane takes the same path
 * through the code: one walk of the tree serves SHAP_LANES rows.
 *
 * The values are those of explain.c's walk (see shap_node_body() there for the quadrature),
 * organized without its divisions: the walk carries A, the product of the path's factors
 * above a node, down, and returns D, the sum over the leaves below of leaf value x the
 * factors below the node, up. For a child c, A (.) D_c is the subtree's S_c / f_c, so a
 * split's shares are A (.) sum_c (one_c - zero_c) D_c, summed per quadrature point; the
 * weights are applied at each split. A split on a feature already on the path
 * (GROVE_SHAP_REPEAT, static) divides the feature's old factor out of A, merges the two
 * elements, and scales its D back by the old factor so that A (.) D stays the subtree's S for
 * every split above; the leaves below it are taken out of the shares of the split further up
 * (GROVE_SHAP_DEEPER_*: their S / that split's factor, collected in s->excluded).
 */
#include <stdlib.h>
#include <string.h>

#include "explain.h"

#define SHAP_MAX_POINTS 8

#define vec_t           SHAP_ID(vec)
#define mask_t          SHAP_ID(mask)
#define acc_t           SHAP_ID(acc)
#define lanes_t         SHAP_ID(lanes)
#define lanes_select    SHAP_ID(lanes_select)
#define lanes_right     SHAP_ID(lanes_right)
#define lanes_walk_fn   SHAP_ID(lanes_walk_fn)
#define lanes_walk_body SHAP_ID(lanes_walk_body)
#define lanes_walk_2    SHAP_ID(lanes_walk_2)
#define lanes_walk_3    SHAP_ID(lanes_walk_3)
#define lanes_walk_4    SHAP_ID(lanes_walk_4)
#define lanes_walk_8    SHAP_ID(lanes_walk_8)

typedef SHAP_REAL vec_t __attribute__((vector_size(SHAP_LANES * sizeof(SHAP_REAL))));
typedef SHAP_MASK mask_t __attribute__((vector_size(SHAP_LANES * sizeof(SHAP_MASK))));
/* The shares are summed in double every SHAP_FLUSH_TREES trees; until then in SHAP_REAL, one
 * sum per tree index modulo SHAP_RESIDUES. For floats that is exactly what the trees-in-lanes
 * walk (explain_trees_avx512.c) sums in each of its lanes, and as every operation on a lane
 * is the same in both walks and in the same order (fused multiply-adds where both say
 * SHAP_FMA, none elsewhere: meson.build), a row's contributions are the same bits whichever
 * walk computes them, and whatever rows it is batched with. */
typedef double acc_t __attribute__((vector_size(SHAP_LANES * sizeof(double))));

typedef struct {
  const grove_forest_t *f;
  const vec_t *x;    /* per feature: the block's values as the decisions read them */
  vec_t *phi;        /* per feature: the shares in the tree's group and residue */
  vec_t *excluded;   /* per feature and point: see above */
  vec_t *zero, *one; /* per feature: its element on the path to the current split */
  vec_t t[SHAP_MAX_POINTS], omt[SHAP_MAX_POINTS]; /* the points, and 1 - them */
  vec_t w[SHAP_MAX_POINTS];                        /* their weights */
} lanes_t;

static inline vec_t lanes_select(mask_t m, vec_t a, vec_t b) {
  return (vec_t)(((mask_t)a & m) | ((mask_t)b & ~m));
}

/* 1.0 in the lanes whose row goes right at split N, else 0.0: the split truth table of
 * kernels.h (or the exact walk's decisions), as grove__shap_child() decides it. */
static inline vec_t lanes_right(const grove_forest_t *f, const grove_node_t *n, vec_t x) {
  const vec_t one = (vec_t){0} + 1, zero = (vec_t){0};
  const uint32_t flags = n->flags;
  mask_t right, miss = x != x;
  const SHAP_REAL band = GROVE_ZERO_BAND;
  if ((flags & GROVE_NODE_ZERO_MISSING) && f->thresholds64 != NULL) miss |= x == 0;
  if ((flags & GROVE_NODE_ZERO_MISSING) && f->thresholds64 == NULL)
    miss |= (x <= band) & (x >= -band);
  if (flags & GROVE_NODE_CATEGORICAL) { /* rows 3-5 */
    const grove_cat_set_t *set = &f->cat_sets[flags >> GROVE_NODE_CAT_SHIFT];
    const uint32_t *words = f->cat_words + set->offset, nwords = set->nwords;
    vec_t v = x;
    if (f->thresholds64 != NULL) /* LightGBM's int cast */
      for (int k = 0; k < SHAP_LANES; k++) v[k] = grove__exact_category(x[k]);
    mask_t ok = (v >= 0) & (v < (SHAP_REAL)GROVE_MAX_CATEGORY);
    if (flags & GROVE_NODE_CAT_TRUNC) ok |= (v > -1) & (v < 0);
    const mask_t c = __builtin_convertvector(lanes_select(ok, v, zero), mask_t); /* truncates */
    const mask_t in_words = c / 32 < (SHAP_MASK)nwords, w = c / 32 & in_words;
    mask_t word;
    if (nwords <= 1) {
      word = (mask_t){0} + (SHAP_MASK)(nwords ? words[0] : 0);
    } else {
      for (int k = 0; k < SHAP_LANES; k++) word[k] = (SHAP_MASK)words[w[k]];
    }
    right = ok & in_words & -((word >> (c % 32)) & 1);
  } else if (f->thresholds64 != NULL) {
    right = ~(x <= (SHAP_REAL)f->thresholds64[flags >> GROVE_NODE_T64_SHIFT]);
  } else {
    right = ~(x < (SHAP_REAL)n->value);
  }
  const mask_t missing_right = (mask_t){0} - (SHAP_MASK)grove__missing_goes_right(flags);
  right = (miss & missing_right) | (~miss & right);
  return lanes_select(right, one, zero);
}

typedef void (*lanes_walk_fn)(const lanes_t *s, uint32_t node, const vec_t *a, vec_t *d);

/* The walk below split NODE, reached with the products A (M of them): D gets M sums. M is a
 * constant in the specializations below, so their loops over the points unroll. */
static inline __attribute__((always_inline)) void lanes_walk_body(const lanes_t *s, uint32_t node,
                                                                  const vec_t *a, vec_t *d,
                                                                  const uint32_t M,
                                                                  lanes_walk_fn self) {
  const grove_forest_t *f = s->f;
  const grove_node_t *n = &f->nodes[node];
  const uint32_t j = (uint32_t)n->feature, flags = f->shap_flags[node], left = n->left;
  const vec_t hot_right = lanes_right(f, n, s->x[j]);
  vec_t zero[2] = {(vec_t){0} + (SHAP_REAL)f->cover_ratios[left],
                   (vec_t){0} + (SHAP_REAL)f->cover_ratios[left + 1]};
  vec_t one[2] = {1 - hot_right, hot_right};
  vec_t above[SHAP_MAX_POINTS], inv_old[SHAP_MAX_POINTS];
  /* inv_old is read only after a repeat, which sets it; 1 for GCC's flow analysis. */
  for (uint32_t q = 0; q < M; q++) above[q] = a[q], inv_old[q] = (vec_t){0} + 1;
  if (flags & GROVE_SHAP_REPEAT) { /* merge with the feature's element further up */
    const vec_t z = s->zero[j], o = s->one[j];
    for (uint32_t q = 0; q < M; q++) {
      const vec_t old = SHAP_FMA(z, s->omt[q], o * s->t[q]);
      /* A lane whose old factor is 0 has A = 0 here: nothing below has a share. */
      inv_old[q] = lanes_select(old != 0, (SHAP_REAL)1 / old, (vec_t){0});
      above[q] *= inv_old[q];
    }
    for (int c = 0; c < 2; c++) zero[c] *= z, one[c] *= o;
  }
  /* A split on J below one side reads (and collects for) J's element: only then is it set,
   * and the leaves taken out kept. */
  const uint32_t deeper = flags & (GROVE_SHAP_DEEPER_LEFT | GROVE_SHAP_DEEPER_RIGHT);
  vec_t below[2][SHAP_MAX_POINTS], factor[2][SHAP_MAX_POINTS];
  vec_t excluded[2][SHAP_MAX_POINTS], outer[SHAP_MAX_POINTS];
  for (uint32_t c = 0; c < 2; c++) {
    const grove_node_t *cn = &f->nodes[left + c];
    for (uint32_t q = 0; q < M; q++) factor[c][q] = SHAP_FMA(zero[c], s->omt[q], one[c] * s->t[q]);
    if (deeper)
      for (uint32_t q = 0; q < M; q++) excluded[c][q] = (vec_t){0};
    if (!grove__node_is_split(f->leaf64, cn)) {
      const SHAP_REAL v = (SHAP_REAL)grove__shap_leaf(f, cn);
      for (uint32_t q = 0; q < M; q++) below[c][q] = (vec_t){0} + v;
      continue;
    }
    vec_t ac[SHAP_MAX_POINTS];
    for (uint32_t q = 0; q < M; q++) ac[q] = above[q] * factor[c][q];
    if (!(flags & (GROVE_SHAP_DEEPER_LEFT << c))) {
      self(s, left + c, ac, below[c]);
      continue;
    }
    vec_t *x = s->excluded + (size_t)j * M;
    const vec_t outer_zero = s->zero[j], outer_one = s->one[j];
    s->zero[j] = zero[c];
    s->one[j] = one[c];
    for (uint32_t q = 0; q < M; q++) outer[q] = x[q], x[q] = (vec_t){0};
    self(s, left + c, ac, below[c]);
    for (uint32_t q = 0; q < M; q++) excluded[c][q] = x[q], x[q] = outer[q];
    s->zero[j] = outer_zero;
    s->one[j] = outer_one;
  }
  const vec_t share0 = one[0] - zero[0], share1 = one[1] - zero[1];
  vec_t shares = {0};
  for (uint32_t q = 0; q < M; q++) {
    const vec_t in = SHAP_FMA(share0, below[0][q], share1 * below[1][q]);
    /* Without repeats below, the leaves taken out are none (the same bits but for a zero's
     * sign, which the sums do not keep). */
    const vec_t kept =
        deeper ? SHAP_FMA(above[q], in, -SHAP_FMA(share0, excluded[0][q], share1 * excluded[1][q]))
               : above[q] * in;
    shares = SHAP_FMA(s->w[q], kept, shares);
    d[q] = SHAP_FMA(factor[0][q], below[0][q], factor[1][q] * below[1][q]);
  }
  s->phi[j] += shares;
  if (flags & GROVE_SHAP_REPEAT) {
    vec_t *x = s->excluded + (size_t)j * M;
    for (uint32_t q = 0; q < M; q++) {
      d[q] *= inv_old[q];
      x[q] = SHAP_FMA(above[q], d[q], x[q]); /* for the split further up: S / its factor */
    }
  }
}

#define LANES_WALK_POINTS(M)                                                          \
  static void lanes_walk_##M(const lanes_t *s, uint32_t node, const vec_t *a, vec_t *d) { \
    lanes_walk_body(s, node, a, d, M, lanes_walk_##M);                                  \
  }
LANES_WALK_POINTS(2)
LANES_WALK_POINTS(3)
LANES_WALK_POINTS(4)
LANES_WALK_POINTS(8)
#undef LANES_WALK_POINTS

grove_err_t SHAP_ROWS_FN(const grove_forest_t *f, const void *rows, int f64, size_t nrows,
                         double *out, uint32_t m, const double *t, const double *w,
                         grove_error_t *err) {
  /* Fewer points than the specialization's are lanes with no weight. */
  const uint32_t M = m <= 2 ? 2 : m <= 3 ? 3 : m <= 4 ? 4 : 8;
  const lanes_walk_fn walk = M == 2   ? lanes_walk_2
                             : M == 3 ? lanes_walk_3
                             : M == 4 ? lanes_walk_4
                                      : lanes_walk_8;
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups, nt = f->info.num_trees;
  const size_t nfv = nf ? nf : 1, nsums = (size_t)ng * nfv, nphi = SHAP_RESIDUES * nsums;
  const size_t nvec = nfv * 3 + nfv * M + nphi;
  vec_t *block = aligned_alloc(sizeof(vec_t), nvec * sizeof(vec_t));
  acc_t *acc = aligned_alloc(sizeof(acc_t), nsums * sizeof(acc_t));
  double *bias = malloc(ng * sizeof *bias);
  if (block == NULL || acc == NULL || bias == NULL) {
    free(block);
    free(acc);
    free(bias);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  vec_t *x = block;
  lanes_t s = {.f = f, .x = x, .zero = x + nfv, .one = x + 2 * nfv, .excluded = x + 3 * nfv};
  vec_t *phi = s.excluded + nfv * M;
  for (uint32_t q = 0; q < M; q++) {
    /* t and 1 - t adding up to exactly 1 (1 - omt is exact for omt in [0.5, 1]), as the
     * trees walk needs them; the point moves by less than an ulp. */
    const SHAP_REAL omt = 1 - (SHAP_REAL)(q < m ? t[q] : 0.5); /* 0.5: no weight */
    s.t[q] = (vec_t){0} + (1 - omt);
    s.omt[q] = (vec_t){0} + omt;
    s.w[q] = (vec_t){0} + (SHAP_REAL)(q < m ? w[q] : 0);
  }
  for (uint32_t g = 0; g < ng; g++) bias[g] = f->base_margins[g];
  for (uint32_t tr = 0; tr < nt; tr++) bias[f->tree_groups[tr]] += f->tree_expected[tr];
  vec_t ones[SHAP_MAX_POINTS], d[SHAP_MAX_POINTS];
  for (uint32_t q = 0; q < M; q++) ones[q] = (vec_t){0} + 1;
  const size_t width = (size_t)ng * (nf + 1);
  const uint32_t flush = SHAP_FLUSH_TREES;
  for (size_t first = 0; first < nrows; first += SHAP_LANES) {
    const size_t k = nrows - first < SHAP_LANES ? nrows - first : SHAP_LANES;
    for (uint32_t j = 0; j < nf; j++)
      for (size_t l = 0; l < SHAP_LANES; l++) { /* lanes past the rows repeat the last one */
        const size_t r = (first + (l < k ? l : k - 1)) * nf + j;
        x[j][l] = (SHAP_REAL)grove__shap_value(
            f, f64 ? ((const double *)rows)[r] : ((const float *)rows)[r]);
      }
    memset(acc, 0, nsums * sizeof *acc);
    for (uint32_t tr = 0; tr < nt; tr++) {
      if (tr % flush == 0) memset(phi, 0, nphi * sizeof *phi);
      if (grove__node_is_split(f->leaf64, &f->nodes[f->roots[tr]])) {
        s.phi = phi + ((size_t)(tr % SHAP_RESIDUES) * ng + f->tree_groups[tr]) * nfv;
        walk(&s, f->roots[tr], ones, d);
      }
      if (tr % flush == flush - 1 || tr == nt - 1)
        for (size_t i = 0; i < nsums; i++) {
          acc_t v = {0};
          for (size_t r = 0; r < SHAP_RESIDUES; r++)
            v += __builtin_convertvector(phi[r * nsums + i], acc_t);
          acc[i] += v;
        }
    }
    for (size_t l = 0; l < k; l++) {
      double *o = out + (first + l) * width;
      for (uint32_t g = 0; g < ng; g++) {
        for (uint32_t j = 0; j < nf; j++) o[g * (nf + 1) + j] = acc[(size_t)g * nfv + j][l];
        o[g * (nf + 1) + nf] = bias[g];
      }
    }
  }
  free(block);
  free(acc);
  free(bias);
  return GROVE_OK;
}

#undef vec_t
#undef mask_t
#undef acc_t
#undef lanes_t
#undef lanes_select
#undef lanes_right
#undef lanes_walk_fn
#undef lanes_walk_body
#undef lanes_walk_2
#undef lanes_walk_3
#undef lanes_walk_4
#undef lanes_walk_8
