/*
 * Explanations: per-row feature contributions by exact path-dependent TreeSHAP (Lundberg et
 * al., "Consistent individualized feature attribution for tree ensembles", Algorithm 2; what
 * XGBoost's pred_contribs and LightGBM's predict_contrib compute), and the leaf each row
 * reaches in every tree, numbered as the model file numbers it. The values are Algorithm
 * 2's, computed in O(nodes x depth / 2) per tree and row rather than O(leaves x depth^2):
 * the subset weights as an integral that Gauss-Legendre quadrature takes exactly, and each
 * feature's shares summed over a subtree at once (shap_node_body(); the idea of Yu et al.'s
 * "Linear TreeSHAP", worked out here for the quadrature form).
 *
 * The row's path through a tree (its "hot" children) is decided exactly as predictions
 * decide it: the float split truth table (kernels.h) on float32 values, or for LightGBM's
 * forests the exact walk's double decisions, which agree with it on float rows and give
 * LightGBM's own answer on double rows. Sums are in double.
 *
 * This file's walk is the scalar one, and the oracle. On x86-64 CPUs with AVX2, forests of
 * depth <= 16 take a vector walk instead (shap_rows_fn()): explain_lanes.h's, a block of rows
 * at once, in float for forests whose libraries compute in float (XGBoost's, scikit-learn's)
 * and in double for LightGBM's; or for small batches of float forests the trees-in-lanes
 * walk (explain_trees_avx512.c, explain_trees_avx2.c), 16 trees at once for one row, whose
 * tables (forest.h, grove_shap_block_t) are built here.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "explain.h"

/* Batches up to this many rows take the avx2 walk on avx512 CPUs too: its narrower vectors
 * waste fewer lanes (bench/RESULTS.md, "Explanations"). */
#define SHAP_AVX2_MAX_ROWS 8
/* Batches up to this many rows take the trees-in-lanes walk where it applies. */
#define SHAP_TREES_MAX_ROWS 4

/* The feature's element on the path from the root to the current node: the fraction of
 * cover that reaches the node with the feature unknown (zero), whether the row itself goes
 * there (one: 1 or 0), and in which tree of the run it was last set (stamp). */
typedef struct {
  double zero, one;
  uint64_t stamp;
  uint32_t on;
} active_t;

typedef struct {
  const grove_forest_t *f;
  const double *row;    /* the row's values, zeroed for forests with thresholds64 */
  double *phi;          /* the tree's group: num_features contributions, then the bias */
  uint32_t m;           /* quadrature points: see shap_node_body() */
  const double *t, *w;  /* Gauss-Legendre nodes in (0, 1) and weights */
  const double *w_cold; /*   w / (1 - t) */
  active_t *active;     /* per feature */
  double *excluded;     /* per feature, m sums: see shap_node_body() */
  double *scratch;      /* per tree level, 5 m */
  uint64_t stamp;       /* this tree's */
} shap_t;


/* Feature J's excluded sums, zero at its first use in this tree. */
static double *excluded_of(const shap_t *s, uint32_t j) {
  double *x = s->excluded + (size_t)j * s->m;
  if (s->active[j].stamp != s->stamp) {
    memset(x, 0, s->m * sizeof *x);
    s->active[j] = (active_t){.stamp = s->stamp};
  }
  return x;
}

/*
 * TreeSHAP (Algorithm 2's result, computed another way) below NODE at LEVEL, reached with
 * the products A: writes to TOTAL, for each quadrature point q, the sum over the leaves
 * below of leaf value x A_q(leaf).
 *
 * A leaf's share for the element e of its path of D distinct features is
 *   V (one_e - zero_e) sum over subsets S of the others of |S|! (D-1-|S|)! / D!
 *                      prod_{j in S} one_j prod_{j not in S} zero_j,
 * and since |S|! (D-1-|S|)! / D! is the integral over [0, 1] of t^|S| (1-t)^(D-1-|S|), that
 * sum is the integral of prod_{j != e} (zero_j + (one_j - zero_j) t), a polynomial of degree
 * D - 1: Gauss-Legendre with m >= depth / 2 points integrates it exactly. A_q(leaf) is the
 * product over all of the path's factors at point t_q, so the share is
 *   (one_e - zero_e) sum_q w_q V A_q(leaf) / f_e(t_q),
 * linear in V A_q: an element's shares over all the leaves it reaches add up at the node
 * that puts it on the path, from the sums its subtree returns, less the leaves where a
 * split on the same feature further down replaced it (their sums, per feature, are
 * s->excluded). Work per row: O(nodes x m), no per-leaf walk of the path.
 */
typedef void (*shap_node_fn)(const shap_t *s, uint32_t node, uint32_t level, const double *a,
                             double *total);

/* SELF is the function this body is inlined into, M its number of points: a constant in the
 * specializations below, so their loops over the points unroll. */
static inline __attribute__((always_inline)) void shap_node_body(const shap_t *s, uint32_t node,
                                                                 uint32_t level, const double *a,
                                                                 double *total, const uint32_t m,
                                                                 shap_node_fn self) {
  const grove_forest_t *f = s->f;
  const grove_node_t *n = &f->nodes[node];
  if (!grove__node_is_split(f->leaf64, n)) {
    const double v = grove__shap_leaf(f, n);
    for (uint32_t q = 0; q < m; q++) total[q] = v * a[q];
    return;
  }
  double *base = s->scratch + (size_t)level * 5 * m, *ac = base + m, *tc = ac + m, *x0 = tc + m;
  double *xc = x0 + m;
  const uint32_t j = (uint32_t)n->feature;
  double *x = excluded_of(s, j);
  const active_t prev = s->active[j];
  double in_zero = 1, in_one = 1;
  for (uint32_t q = 0; q < m; q++) {
    base[q] = a[q];
    x0[q] = x[q];
    total[q] = 0;
  }
  if (prev.on) { /* the feature is on the path already: its factor is taken out (UNWIND) */
    in_zero = prev.zero;
    in_one = prev.one;
    for (uint32_t q = 0; q < m; q++) base[q] /= prev.zero + (prev.one - prev.zero) * s->t[q];
  }
  const uint32_t hot = grove__shap_child(f, n, s->row[j]);
  for (int side = 0; side < 2; side++) {
    const uint32_t child = side == 0 ? hot : (hot == n->left ? n->left + 1 : n->left);
    const double zero = f->cover_ratios[child] * in_zero;
    const double one = side == 0 ? in_one : 0;
    if (zero == 0 && one == 0) continue; /* its factor is 0: nothing below has a share */
    for (uint32_t q = 0; q < m; q++) {
      ac[q] = base[q] * (zero + (one - zero) * s->t[q]);
      xc[q] = x[q];
    }
    const grove_node_t *cn = &f->nodes[child];
    if (grove__node_is_split(f->leaf64, cn)) {
      s->active[j] = (active_t){.zero = zero, .one = one, .stamp = s->stamp, .on = 1};
      self(s, child, level + 1, ac, tc);
    } else { /* a leaf child, without the call */
      const double v = grove__shap_leaf(f, cn);
      for (uint32_t q = 0; q < m; q++) tc[q] = v * ac[q];
    }
    /* An element the row does not follow has the factor zero (1 - t): its share needs no
     * division, -sum_q w_q S_q / (1 - t_q). */
    double share = 0;
    for (uint32_t q = 0; q < m; q++) {
      const double sq = tc[q] - (x[q] - xc[q]);
      share += one == 0 ? s->w_cold[q] * sq : s->w[q] * sq / (zero + (one - zero) * s->t[q]);
      total[q] += tc[q];
    }
    s->phi[j] += one == 0 ? -share : (one - zero) * share;
  }
  s->active[j] = prev;
  /* For a split on J further up, every leaf below here has J's element replaced. */
  for (uint32_t q = 0; q < m; q++) x[q] = x0[q] + total[q];
}

static void shap_node_any(const shap_t *s, uint32_t node, uint32_t level, const double *a,
                          double *total) {
  shap_node_body(s, node, level, a, total, s->m, shap_node_any);
}

/* Depths up to 8 (1-4 points), the common ones. */
#define SHAP_NODE_POINTS(M)                                                                  \
  static void shap_node_##M(const shap_t *s, uint32_t node, uint32_t level, const double *a, \
                            double *total) {                                                 \
    shap_node_body(s, node, level, a, total, M, shap_node_##M);                              \
  }
SHAP_NODE_POINTS(1)
SHAP_NODE_POINTS(2)
SHAP_NODE_POINTS(3)
SHAP_NODE_POINTS(4)
#undef SHAP_NODE_POINTS

/* The M Gauss-Legendre nodes T and weights W on [0, 1] (Newton's method on P_M). */
static void gauss_legendre(uint32_t m, double *t, double *w) {
  const double pi = acos(-1.0);
  for (uint32_t i = 0; i < m; i++) {
    double x = cos(pi * ((double)i + 0.75) / ((double)m + 0.5)), dp = 1;
    for (int it = 0; it < 100; it++) {
      double p0 = 1, p1 = x; /* P_{k-1}(x), P_k(x) */
      for (uint32_t k = 2; k <= m; k++) {
        const double p2 = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
      }
      dp = m == 1 ? 1 : m * (x * p1 - p0) / (x * x - 1);
      const double dx = p1 / dp;
      x -= dx;
      if (fabs(dx) <= 1e-16) break;
    }
    t[i] = (1 - x) / 2;
    w[i] = 1 / ((1 - x * x) * dp * dp);
  }
}

/* The points and weights of 1 to 8 points, computed once: a one-row call would spend about
 * 1% of its time on them. */
static double points_t[9][8], points_w[9][8];
static pthread_once_t points_once = PTHREAD_ONCE_INIT;

static void points_init(void) {
  for (uint32_t m = 1; m <= 8; m++) gauss_legendre(m, points_t[m], points_w[m]);
}

/* The depth of the subtree at NODE (0 for a leaf). */
static uint32_t subtree_depth(const grove_forest_t *f, uint32_t node) {
  const grove_node_t *n = &f->nodes[node];
  if (!grove__node_is_split(f->leaf64, n)) return 0;
  const uint32_t l = subtree_depth(f, n->left), r = subtree_depth(f, n->left + 1);
  return 1 + (l > r ? l : r);
}

/* A block being laid out: its arrays, and per position and lane the split's flags
 * (GROVE_NODE_LOW_FLAGS, GROVE_SHAP_DEEPER_* shifted by 4, GROVE_SHAP_PAD) and repeat level
 * (or GROVE_SHAP_NO_REPEAT), which grove__shap_blocks_build() turns into lane masks. */
typedef struct {
  grove_shap_block_t *b;
  int16_t *feature;
  float *threshold, *zero_left, *zero_right, *leaf;
  uint8_t *nwords, *flags, *repeats, *tiny;
} shap_fill_t;

/* Lays the subtree at NODE out at position POS (LEVEL) of lane LANE; PATH holds the features
 * of the splits above (-1: a pad) and ZERO the zero factor of each one's edge on the path.
 * A split on a feature already on the path has its cover ratios multiplied by that element's
 * zero, the merge the walks do (explain_lanes.h), done once here. */
static void shap_block_fill(const grove_forest_t *f, const shap_fill_t *b, uint32_t node,
                            uint32_t pos, uint32_t level, uint32_t lane, int32_t *path,
                            float *zero) {
  const grove_node_t *n = &f->nodes[node];
  const uint32_t positions = (1u << b->b->depth) - 1;
  if (level == b->b->depth) {
    b->leaf[(pos - positions) * GROVE_SHAP_TREE_LANES + lane] = n->value;
    return;
  }
  const size_t at = (size_t)pos * GROVE_SHAP_TREE_LANES + lane;
  if (!grove__node_is_split(f->leaf64, n)) { /* a pad: the leaf goes on, left */
    path[level] = -1;
    shap_block_fill(f, b, node, 2 * pos + 1, level + 1, lane, path, zero);
    return;
  }
  b->feature[at] = (int16_t)n->feature;
  float threshold = n->value;
  if (n->flags & GROVE_NODE_CATEGORICAL) {
    /* A set within categories 0-31 keeps its word itself, the others their words' index. */
    const grove_cat_set_t *set = &f->cat_sets[n->flags >> GROVE_NODE_CAT_SHIFT];
    const uint32_t word = set->nwords == 1 ? f->cat_words[set->offset] : set->offset;
    memcpy(&threshold, &word, sizeof threshold);
    b->nwords[at] = (uint8_t)set->nwords;
  }
  b->threshold[at] = threshold;
  b->flags[at] = (uint8_t)((n->flags & GROVE_NODE_LOW_FLAGS) |
                           ((f->shap_flags[node] & (GROVE_SHAP_DEEPER_LEFT | GROVE_SHAP_DEEPER_RIGHT))
                            << 4));
  float old_zero = 1;
  for (uint32_t up = level; up-- > 0;)
    if (path[up] == n->feature) {
      b->repeats[at] = (uint8_t)up;
      old_zero = zero[up];
      b->tiny[at] = !(old_zero >= 2 * FLT_MIN); /* NaN too */
      break;
    }
  const float zl = (float)f->cover_ratios[n->left] * old_zero;
  const float zr = (float)f->cover_ratios[n->left + 1] * old_zero;
  b->zero_left[at] = zl;
  b->zero_right[at] = zr;
  path[level] = n->feature;
  zero[level] = zl;
  shap_block_fill(f, b, n->left, 2 * pos + 1, level + 1, lane, path, zero);
  zero[level] = zr;
  shap_block_fill(f, b, n->left + 1, 2 * pos + 2, level + 1, lane, path, zero);
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Bytes of a block of depth D's arrays, as grove__shap_blocks_build() lays them out. */
static size_t shap_block_bytes(uint32_t d) {
  const size_t splits = ((size_t)1 << d) - 1, n = splits * GROVE_SHAP_TREE_LANES;
  return align64(n * sizeof(int16_t)) + 3 * align64(n * sizeof(float)) +
         2 * align64(splits * GROVE_SHAP_MASKS * sizeof(uint16_t)) + align64(n) +
         align64(splits) + align64((splits + 1) * GROVE_SHAP_TREE_LANES * sizeof(float));
}

int grove__shap_blocks_build(grove_forest_t *f) {
  const uint32_t nt = f->info.num_trees, nf = f->info.num_features;
  f->shap_blocks = NULL;
  f->num_shap_blocks = 0;
#ifdef GROVE_HAVE_X86_KERNELS
  if (f->cover_ratios == NULL || f->thresholds64 != NULL || f->leaf64 || nt == 0 ||
      f->info.max_depth > 8 || nf >= INT16_MAX)
    return 0;
  const uint32_t nb = (nt + GROVE_SHAP_TREE_LANES - 1) / GROVE_SHAP_TREE_LANES;
  uint8_t *depth = calloc(nb, 1);
  if (depth == NULL) return -1;
  size_t bytes = align64(nb * sizeof(grove_shap_block_t));
  for (uint32_t t = 0; t < nt; t++) {
    const uint32_t d = subtree_depth(f, f->roots[t]);
    if (d > depth[t / GROVE_SHAP_TREE_LANES]) depth[t / GROVE_SHAP_TREE_LANES] = (uint8_t)d;
  }
  for (uint32_t k = 0; k < nb; k++) {
    if (depth[k] == 0) depth[k] = 1;
    bytes += shap_block_bytes(depth[k]);
  }
  /* The tables and the walks' other arrays within the flat block's size (#16). */
  const size_t others = f->info.explain_memory_bytes; /* cover ratios, split facts */
  for (uint64_t n = 0; n < f->info.num_nodes; n++) {
    const grove_node_t *node = &f->nodes[n];
    if (grove__node_is_split(f->leaf64, node) && (node->flags & GROVE_NODE_CATEGORICAL) &&
        f->cat_sets[node->flags >> GROVE_NODE_CAT_SHIFT].nwords > UINT8_MAX) {
      free(depth);
      return 0;
    }
  }
  if (bytes + others > f->info.memory_bytes) {
    free(depth);
    return 0;
  }
  uint8_t *mem = aligned_alloc(64, bytes);
  if (mem == NULL) {
    free(depth);
    return -1;
  }
  grove_shap_block_t *blocks = (grove_shap_block_t *)mem;
  uint8_t *at = mem + align64(nb * sizeof *blocks);
  for (uint32_t k = 0; k < nb; k++) {
    grove_shap_block_t *b = &blocks[k];
    const size_t lanes = GROVE_SHAP_TREE_LANES, splits = ((size_t)1 << depth[k]) - 1;
    const size_t n = splits * lanes;
    b->depth = depth[k];
    int16_t *feature = (int16_t *)at;
    at += align64(n * sizeof(int16_t));
    float *threshold = (float *)at, *zl = threshold + align64(n * 4) / 4;
    float *zr = zl + align64(n * 4) / 4;
    at += 3 * align64(n * 4);
    uint16_t *masks = (uint16_t *)at;
    at += align64(splits * GROVE_SHAP_MASKS * sizeof *masks);
    uint16_t *repeat_at = (uint16_t *)at;
    at += align64(splits * GROVE_SHAP_MASKS * sizeof *repeat_at);
    uint8_t *nwords = at;
    at += align64(n);
    uint8_t *repeat_levels = at;
    at += align64(splits);
    float *leaf = (float *)at;
    at += align64((splits + 1) * lanes * sizeof(float));
    uint8_t flags[255 * GROVE_SHAP_TREE_LANES], repeats[255 * GROVE_SHAP_TREE_LANES];
    uint8_t tiny[255 * GROVE_SHAP_TREE_LANES];
    for (size_t i = 0; i < n; i++) { /* every position a pad until a tree says otherwise */
      feature[i] = (int16_t)nf;
      threshold[i] = 0;
      zl[i] = 1;
      zr[i] = 0;
      flags[i] = GROVE_SHAP_PAD;
      nwords[i] = 0;
      repeats[i] = GROVE_SHAP_NO_REPEAT;
      tiny[i] = 0;
    }
    memset(leaf, 0, (splits + 1) * lanes * sizeof(float));
    b->feature = feature;
    b->threshold = threshold;
    b->zero_left = zl;
    b->zero_right = zr;
    b->nwords = nwords;
    b->leaf = leaf;
    const shap_fill_t fill = {.b = b, .feature = feature, .threshold = threshold,
                              .zero_left = zl, .zero_right = zr, .leaf = leaf,
                              .nwords = nwords, .flags = flags, .repeats = repeats,
                              .tiny = tiny};
    for (uint32_t l = 0; l < lanes; l++) {
      const uint32_t t = k * GROVE_SHAP_TREE_LANES + l;
      const uint32_t g = t < nt ? f->tree_groups[t] : 0;
      b->group_base[l] = (int32_t)(((size_t)g * (nf + 1)) * lanes + l);
      int32_t path[8];
      float zero[8];
      if (t < nt) shap_block_fill(f, &fill, f->roots[t], 0, 0, l, path, zero);
    }
    static const uint8_t mask_flag[GROVE_SHAP_MASKS - 1] = {
        [GROVE_SHAP_MASK_DEFAULT_LEFT] = GROVE_NODE_DEFAULT_LEFT,
        [GROVE_SHAP_MASK_CATEGORICAL] = GROVE_NODE_CATEGORICAL,
        [GROVE_SHAP_MASK_ZERO_MISSING] = GROVE_NODE_ZERO_MISSING,
        [GROVE_SHAP_MASK_CAT_TRUNC] = GROVE_NODE_CAT_TRUNC,
        [GROVE_SHAP_MASK_DEEPER_LEFT] = GROVE_SHAP_DEEPER_LEFT << 4,
        [GROVE_SHAP_MASK_DEEPER_RIGHT] = GROVE_SHAP_DEEPER_RIGHT << 4,
        [GROVE_SHAP_MASK_PAD] = GROVE_SHAP_PAD};
    for (size_t p = 0; p < splits; p++) {
      uint16_t *mk = masks + p * GROVE_SHAP_MASKS, *rk = repeat_at + p * GROVE_SHAP_MASKS;
      memset(mk, 0, GROVE_SHAP_MASKS * sizeof *mk);
      memset(rk, 0, GROVE_SHAP_MASKS * sizeof *rk);
      repeat_levels[p] = 0;
      for (size_t l = 0; l < lanes; l++) {
        const size_t i = p * lanes + l;
        for (int k2 = 0; k2 < GROVE_SHAP_MASKS - 1; k2++)
          if (flags[i] & mask_flag[k2]) mk[k2] |= (uint16_t)(1u << l);
        if (nwords[i] > 1) mk[GROVE_SHAP_MASK_MULTIWORD] |= (uint16_t)(1u << l);
        if (repeats[i] != GROVE_SHAP_NO_REPEAT) {
          rk[repeats[i]] |= (uint16_t)(1u << l);
          rk[GROVE_SHAP_REPEAT_ANY] |= (uint16_t)(1u << l);
          repeat_levels[p] |= (uint8_t)(1u << repeats[i]);
          if (tiny[i]) repeat_levels[p] |= GROVE_SHAP_TINY_ZERO;
        }
      }
    }
    b->masks = masks;
    b->repeat_at = repeat_at;
    b->repeat_levels = repeat_levels;
  }
  free(depth);
  f->shap_alloc = mem;
  f->shap_blocks = blocks;
  f->num_shap_blocks = nb;
  f->info.explain_memory_bytes += bytes;
#endif
  return 0;
}

grove_err_t grove_forest_explainable(const grove_forest_t *f, grove_error_t *err) {
  if (f->num_linear_leaves)
    return grove__error_set(err, GROVE_EUNSUPPORTED,
                            "the model has linear trees: TreeSHAP contributions are not defined "
                            "for them (LightGBM refuses them too)");
  if (f->cover_ratios == NULL)
    return grove__error_set(err, GROVE_EUNSUPPORTED,
                            "the model has no node covers (XGBoost's sum_hessian, LightGBM's "
                            "internal_count and leaf_count), which contributions need; "
                            "predictions still work");
  return GROVE_OK;
}

uint32_t grove_forest_contribs_width(const grove_forest_t *f) {
  return f->info.num_groups * (f->info.num_features + 1);
}

/* Row R of ROWS (float, or double with F64) into X as the decisions read it. */
static void row_load(const grove_forest_t *f, const void *rows, int f64, size_t r, double *x) {
  const uint32_t nf = f->info.num_features;
  for (uint32_t j = 0; j < nf; j++) {
    const double v = f64 ? ((const double *)rows)[r * nf + j] : ((const float *)rows)[r * nf + j];
    x[j] = grove__shap_value(f, v);
  }
}

#ifdef GROVE_HAVE_X86_KERNELS
/* What the walks may use, read once: the kernels' ISA and GROVE_EXPLAIN_WALK. */
static struct {
  int avx512, avx2;
  int want_trees, want_rows, want_scalar;
} shap_env;
static pthread_once_t shap_env_once = PTHREAD_ONCE_INIT;

static void shap_env_read(void) {
  const char *isa = grove__kernel_get()->isa, *want = getenv("GROVE_EXPLAIN_WALK");
  shap_env.avx512 = strcmp(isa, "avx512") == 0;
  shap_env.avx2 = shap_env.avx512 || strcmp(isa, "avx2") == 0;
  shap_env.want_trees = want != NULL && strcmp(want, "trees") == 0;
  shap_env.want_rows = want != NULL && strcmp(want, "rows") == 0;
  shap_env.want_scalar = want != NULL && strcmp(want, "scalar") == 0;
}
#endif

/*
 * The walk for NROWS rows of a forest needing M points, or NULL for this file's own: trees in
 * the lanes for small batches (when the forest has the tables), rows in the lanes otherwise.
 * GROVE_EXPLAIN_WALK=trees|rows|scalar (read once) asks for one (the tests check each against
 * the libraries); a walk that does not apply is not taken.
 */
static grove_shap_rows_fn shap_rows_fn(const grove_forest_t *f, uint32_t m, size_t nrows) {
#ifdef GROVE_HAVE_X86_KERNELS
  pthread_once(&shap_env_once, shap_env_read);
  if (m > 8 || shap_env.want_scalar || !shap_env.avx2) return NULL;
  const int floats = f->thresholds64 == NULL && !f->leaf64;
  const int trees = shap_env.want_trees || (!shap_env.want_rows && nrows <= SHAP_TREES_MAX_ROWS);
  if (trees && f->shap_blocks != NULL && m <= 4)
    return shap_env.avx512 ? grove__shap_trees_avx512 : grove__shap_trees_avx2;
  if (shap_env.avx512 && nrows > SHAP_AVX2_MAX_ROWS)
    return floats ? grove__shap_rows_avx512_f32 : grove__shap_rows_avx512_f64;
  return floats ? grove__shap_rows_avx2_f32 : grove__shap_rows_avx2_f64;
#else
  (void)f;
  (void)m;
  (void)nrows;
  return NULL;
#endif
}

static grove_err_t contribs_rows(const grove_forest_t *f, const void *rows, int f64, size_t nrows,
                                 double *out, grove_error_t *err) {
  grove_err_t rc = grove_forest_explainable(f, err);
  if (rc != GROVE_OK) return rc;
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups;
  const size_t levels = (size_t)f->info.max_depth + 1;
  const uint32_t m = (f->info.max_depth + 1) / 2 ? (f->info.max_depth + 1) / 2 : 1;
  const grove_shap_rows_fn lanes = shap_rows_fn(f, m, nrows);
  if (lanes != NULL) {
    pthread_once(&points_once, points_init);
    return lanes(f, rows, f64, nrows, out, m, points_t[m], points_w[m], err);
  }
  double *x = malloc((nf + 5 * (size_t)m + (size_t)nf * m + levels * 5 * m) * sizeof *x);
  active_t *active = calloc(nf ? nf : 1, sizeof *active);
  if (x == NULL || active == NULL) {
    free(x);
    free(active);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  double *t = x + nf, *w = t + m, *w_cold = w + m, *one = w_cold + m, *sums = one + m;
  double *excluded = sums + m;
  double *scratch = excluded + (size_t)nf * m;
  gauss_legendre(m, t, w);
  for (uint32_t q = 0; q < m; q++) {
    w_cold[q] = w[q] / (1 - t[q]);
    one[q] = 1;
  }
  memset(out, 0, nrows * grove_forest_contribs_width(f) * sizeof *out);
  shap_t s = {.f = f, .row = x, .m = m, .t = t, .w = w, .w_cold = w_cold};
  s.active = active;
  s.excluded = excluded;
  s.scratch = scratch;
  static const shap_node_fn by_points[] = {shap_node_any, shap_node_1, shap_node_2, shap_node_3,
                                           shap_node_4};
  const shap_node_fn node_fn = m <= 4 ? by_points[m] : shap_node_any;
  for (size_t r = 0; r < nrows; r++) {
    row_load(f, rows, f64, r, x);
    double *phi = out + r * grove_forest_contribs_width(f);
    for (uint32_t g = 0; g < ng; g++) phi[g * (nf + 1) + nf] = f->base_margins[g];
    for (uint32_t tr = 0; tr < f->info.num_trees; tr++) {
      s.phi = phi + f->tree_groups[tr] * (nf + 1);
      s.stamp++; /* every feature's excluded sums start again at zero */
      s.phi[nf] += f->tree_expected[tr];
      node_fn(&s, f->roots[tr], 0, one, sums);
    }
  }
  free(x);
  free(active);
  return GROVE_OK;
}

grove_err_t grove_forest_contribs(const grove_forest_t *f, const float *rows, size_t nrows,
                                  double *out, grove_error_t *err) {
  return contribs_rows(f, rows, 0, nrows, out, err);
}

grove_err_t grove_forest_contribs_f64(const grove_forest_t *f, const double *rows, size_t nrows,
                                      double *out, grove_error_t *err) {
  return contribs_rows(f, rows, 1, nrows, out, err);
}

static grove_err_t leaves_rows(const grove_forest_t *f, const void *rows, int f64, size_t nrows,
                               uint32_t *out, grove_error_t *err) {
  const uint32_t nf = f->info.num_features, nt = f->info.num_trees;
  double *x = malloc((nf ? nf : 1) * sizeof *x);
  if (x == NULL) return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  for (size_t r = 0; r < nrows; r++) {
    row_load(f, rows, f64, r, x);
    for (uint32_t t = 0; t < nt; t++) {
      uint32_t i = f->roots[t];
      while (grove__node_is_split(f->leaf64, &f->nodes[i]))
        i = grove__shap_child(f, &f->nodes[i], x[f->nodes[i].feature]);
      out[r * nt + t] = f->node_ids[i];
    }
  }
  free(x);
  return GROVE_OK;
}

grove_err_t grove_forest_leaves(const grove_forest_t *f, const float *rows, size_t nrows,
                                uint32_t *out, grove_error_t *err) {
  return leaves_rows(f, rows, 0, nrows, out, err);
}

grove_err_t grove_forest_leaves_f64(const grove_forest_t *f, const double *rows, size_t nrows,
                                    uint32_t *out, grove_error_t *err) {
  return leaves_rows(f, rows, 1, nrows, out, err);
}
