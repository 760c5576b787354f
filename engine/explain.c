/*
 * Explanations: per-row feature contributions by exact path-dependent TreeSHAP (Lundberg et
 * al., "Consistent individualized feature attribution for tree ensembles", Algorithm 2; what
 * XGBoost's pred_contribs and LightGBM's predict_contrib compute), and the leaf each row
 * reaches in every tree, numbered as the model file numbers it.
 *
 * The row's path through a tree (its "hot" children) is decided exactly as predictions
 * decide it: the float split truth table (kernels.h) on float32 values, or for LightGBM's
 * forests the exact walk's double decisions, which agree with it on float rows and give
 * LightGBM's own answer on double rows. Sums are in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"

/* One feature on the path from the root: the fraction of cover that reaches the node with
 * the feature unknown (zero), and whether the row itself goes there (one: 1 or 0). */
typedef struct {
  double zero, one;
  int32_t feature;
} path_t;

typedef struct {
  const grove_forest_t *f;
  const double *row;    /* the row's values, zeroed for forests with thresholds64 */
  double *phi;          /* the tree's group: num_features contributions, then the bias */
  uint32_t m;           /* quadrature points: see path_leaf() */
  const double *t, *w;  /* Gauss-Legendre nodes in (0, 1) and weights */
  const double *w_cold; /*   w / (1 - t) */
  path_t *paths;        /* per tree level, `width` elements: the path down to it */
  double *prods;        /* per tree level, m products: see path_leaf() */
  uint32_t width;
} shap_t;

/* The child of split N that value X leads to, as predictions decide it. */
static inline uint32_t child_of(const grove_forest_t *f, const grove_node_t *n, double x) {
  return f->thresholds64 != NULL ? grove__exact_next(f, n, x) : grove__node_next(f, n, (float)x);
}

static inline double leaf_value(const grove_forest_t *f, const grove_node_t *n) {
  return f->leaf64 ? grove__node_leaf64(n) : (double)n->value;
}

/*
 * A leaf of value V at the end of the path P of D distinct features. TreeSHAP's share of
 * element e (Algorithm 2's unwound sum times (one - zero) times V) is
 *   V (one_e - zero_e) sum over subsets S of the others of |S|! (D-1-|S|)! / D!
 *                      prod_{j in S} one_j prod_{j not in S} zero_j
 * and since |S|! (D-1-|S|)! / D! is the integral over [0, 1] of t^|S| (1-t)^(D-1-|S|), that
 * sum is the integral of prod_{j != e} (zero_j + (one_j - zero_j) t), a polynomial of degree
 * D - 1: Gauss-Legendre with m >= D / 2 points integrates it exactly. A holds the product
 * over all D elements at each point, kept along the path; element e's factor is divided out.
 * One fractions are 0 or 1: an element the row does not follow has the factor
 * zero_e (1 - t), so its share is -V times one sum that all such elements share.
 */
static void path_leaf(const shap_t *s, const path_t *p, uint32_t d, const double *a, double v) {
  double cold = 0;
  for (uint32_t q = 0; q < s->m; q++) cold += s->w_cold[q] * a[q];
  for (uint32_t e = 0; e < d; e++) {
    if (p[e].one == 0) {
      s->phi[p[e].feature] -= v * cold;
      continue;
    }
    const double z = p[e].zero;
    double sum = 0;
    for (uint32_t q = 0; q < s->m; q++) sum += s->w[q] * a[q] / (z + (1 - z) * s->t[q]);
    s->phi[p[e].feature] += v * (1 - z) * sum;
  }
}

static void shap_recurse(const shap_t *s, uint32_t node, uint32_t level, uint32_t d);

/* Goes down to child NODE of the node at LEVEL (path of D elements) adding its split's
 * feature with fractions ZERO and ONE (Algorithm 2's EXTEND). */
static void shap_child(const shap_t *s, uint32_t node, uint32_t level, uint32_t d, double zero,
                       double one, int32_t feature) {
  const path_t *p = s->paths + (size_t)level * s->width;
  path_t *c = s->paths + (size_t)(level + 1) * s->width;
  memcpy(c, p, d * sizeof *c);
  c[d] = (path_t){.zero = zero, .one = one, .feature = feature};
  const double *a = s->prods + (size_t)level * s->m;
  double *ca = s->prods + (size_t)(level + 1) * s->m;
  for (uint32_t q = 0; q < s->m; q++) ca[q] = a[q] * (zero + (one - zero) * s->t[q]);
  shap_recurse(s, node, level + 1, d + 1);
}

/* RECURSE of Algorithm 2 at NODE, the path down to it at LEVEL (D elements). */
static void shap_recurse(const shap_t *s, uint32_t node, uint32_t level, uint32_t d) {
  const grove_forest_t *f = s->f;
  const grove_node_t *n = &f->nodes[node];
  path_t *p = s->paths + (size_t)level * s->width;
  double *a = s->prods + (size_t)level * s->m;
  if (!grove__node_is_split(f->leaf64, n)) {
    path_leaf(s, p, d, a, leaf_value(f, n));
    return;
  }
  const uint32_t hot = child_of(f, n, s->row[n->feature]);
  const uint32_t cold = hot == n->left ? n->left + 1 : n->left;
  const double cover = f->covers[node];
  double in_zero = 1, in_one = 1;
  /* A feature already on the path: its earlier split is undone (UNWIND), its fractions
   * carried on, and the products taken again without it. */
  for (uint32_t k = 0; k < d; k++) {
    if (p[k].feature != n->feature) continue;
    in_zero = p[k].zero;
    in_one = p[k].one;
    memmove(p + k, p + k + 1, (d - k - 1) * sizeof *p);
    d--;
    for (uint32_t q = 0; q < s->m; q++) {
      a[q] = 1;
      for (uint32_t j = 0; j < d; j++) a[q] *= p[j].zero + (p[j].one - p[j].zero) * s->t[q];
    }
    break;
  }
  shap_child(s, hot, level, d, f->covers[hot] / cover * in_zero, in_one, n->feature);
  shap_child(s, cold, level, d, f->covers[cold] / cover * in_zero, 0, n->feature);
}

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

grove_err_t grove_forest_explainable(const grove_forest_t *f, grove_error_t *err) {
  if (f->num_linear_leaves)
    return grove__error_set(err, GROVE_EUNSUPPORTED,
                            "the model has linear trees: TreeSHAP contributions are not defined "
                            "for them (LightGBM refuses them too)");
  if (f->covers == NULL)
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
    /* XGBoost's and scikit-learn's models see float32 values; LightGBM's zeroes tiny ones. */
    x[j] = f->thresholds64 != NULL ? grove__exact_zeroed(v) : (double)(float)v;
  }
}

static grove_err_t contribs_rows(const grove_forest_t *f, const void *rows, int f64, size_t nrows,
                                 double *out, grove_error_t *err) {
  grove_err_t rc = grove_forest_explainable(f, err);
  if (rc != GROVE_OK) return rc;
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups;
  const uint32_t levels = f->info.max_depth + 1, width = f->info.max_depth + 1;
  const uint32_t m = (f->info.max_depth + 1) / 2 ? (f->info.max_depth + 1) / 2 : 1;
  double *x = malloc((nf + 3 * (size_t)m + (size_t)levels * m) * sizeof *x);
  path_t *paths = malloc((size_t)levels * width * sizeof *paths);
  if (x == NULL || paths == NULL) {
    free(x);
    free(paths);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  double *t = x + nf, *w = t + m, *w_cold = w + m, *prods = w_cold + m;
  gauss_legendre(m, t, w);
  for (uint32_t q = 0; q < m; q++) {
    w_cold[q] = w[q] / (1 - t[q]);
    prods[q] = 1;
  }
  memset(out, 0, nrows * grove_forest_contribs_width(f) * sizeof *out);
  for (size_t r = 0; r < nrows; r++) {
    row_load(f, rows, f64, r, x);
    double *phi = out + r * grove_forest_contribs_width(f);
    for (uint32_t g = 0; g < ng; g++) phi[g * (nf + 1) + nf] = f->base_margins[g];
    for (uint32_t tr = 0; tr < f->info.num_trees; tr++) {
      const shap_t s = {.f = f,
                        .row = x,
                        .phi = phi + f->tree_groups[tr] * (nf + 1),
                        .m = m,
                        .t = t,
                        .w = w,
                        .w_cold = w_cold,
                        .paths = paths,
                        .prods = prods,
                        .width = width};
      s.phi[nf] += f->tree_expected[tr];
      shap_recurse(&s, f->roots[tr], 0, 0);
    }
  }
  free(x);
  free(paths);
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
        i = child_of(f, &f->nodes[i], x[f->nodes[i].feature]);
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
