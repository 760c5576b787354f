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
 * the feature unknown (zero), whether the row itself goes there (one), and the weight of
 * the subsets of the path's features of each size (weight, Algorithm 2's w). */
typedef struct {
  double zero, one, weight;
  int32_t feature;
} path_t;

typedef struct {
  const grove_forest_t *f;
  const double *row; /* the row's values, zeroed for forests with thresholds64 */
  double *phi;       /* the tree's group: num_features contributions, then the bias */
  const double *inv; /* inv[n] = 1 / n, n <= max_depth + 2 */
  double *scratch;   /* path_leaf's: 5 x (max_depth + 1) */
  int32_t *features; /*   and max_depth + 1 */
} shap_t;

/* The child of split N that value X leads to, as predictions decide it. */
static inline uint32_t child_of(const grove_forest_t *f, const grove_node_t *n, double x) {
  return f->thresholds64 != NULL ? grove__exact_next(f, n, x) : grove__node_next(f, n, (float)x);
}

static inline double leaf_value(const grove_forest_t *f, const grove_node_t *n) {
  return f->leaf64 ? grove__node_leaf64(n) : (double)n->value;
}

/*
 * In path-dependent TreeSHAP a path element's one fraction is 1 (the row goes that way) or 0,
 * which the code below relies on: no division by it, and the unwound sums of the elements
 * the row does not follow are one shared sum. INV[n] is 1 / n: multiplications replace the
 * divisions by path lengths.
 */

/* Adds feature FEATURE to the path P of D features (Algorithm 2's EXTEND). Each new weight
 * is computed from the old ones alone (w'[j] = (zero w[j] (d - j) + one w[j-1] j) / (d + 1),
 * the algorithm's two updates of w[j] in one), so no weight waits for the one before it. */
static void path_extend(path_t *p, uint32_t d, double zero, double one, int32_t feature,
                        const double *inv) {
  p[d] = (path_t){.zero = zero, .one = one, .weight = d == 0 ? 1.0 : 0.0, .feature = feature};
  if (d == 0) return;
  const double s = inv[d + 1], zs = zero * s, os = one * s;
  for (uint32_t j = d; j > 0; j--)
    p[j].weight = zs * p[j].weight * (double)(d - j) + os * p[j - 1].weight * (double)j;
  p[0].weight = zs * p[0].weight * (double)d;
}

/* Removes element K from the path P of D + 1 elements (UNWIND). */
static void path_unwind(path_t *p, uint32_t d, uint32_t k, const double *inv) {
  const double zero = p[k].zero;
  if (p[k].one != 0) {
    double next = p[d].weight;
    for (uint32_t i = d; i-- > 0;) {
      const double w = p[i].weight;
      p[i].weight = next * (double)(d + 1) * inv[i + 1];
      next = w - p[i].weight * zero * (double)(d - i) * inv[d + 1];
    }
  } else {
    const double r = (double)(d + 1) / zero;
    for (uint32_t i = d; i-- > 0;) p[i].weight = p[i].weight * r * inv[d - i];
  }
  for (uint32_t i = k; i < d; i++) {
    p[i].feature = p[i + 1].feature;
    p[i].zero = p[i + 1].zero;
    p[i].one = p[i + 1].one;
  }
}

/*
 * A leaf of value V at the end of the path P of D + 1 elements: adds each element's share
 * (its unwound sum x (one - zero) x V) to its feature. An element the row does not follow
 * has unwound sum COLD / zero, so its share is -COLD x V whatever its zero fraction.
 */
static void path_leaf(const shap_t *s, const path_t *p, uint32_t d, double v, const double *inv) {
  double cold = 0, *a = s->scratch, *b = a + d, *zero = b + d, *next = zero + d, *total = next + d;
  int32_t *feature = s->features;
  for (uint32_t i = 0; i < d; i++) {
    a[i] = (double)(d + 1) * inv[i + 1];
    b[i] = (double)(d - i) * inv[d + 1];
    cold += p[i].weight * (double)(d + 1) * inv[d - i];
  }
  uint32_t m = 0; /* the elements the row follows, unwound side by side below */
  for (uint32_t k = 1; k <= d; k++) {
    if (p[k].one == 0) {
      if (p[k].zero != 0) s->phi[p[k].feature] -= cold * v;
      continue;
    }
    zero[m] = p[k].zero;
    feature[m] = p[k].feature;
    next[m] = p[d].weight;
    total[m++] = 0;
  }
  /* Each element's unwinding is a chain of dependent multiplies; m of them at once keep the
   * multipliers busy (and vectorize). */
  for (uint32_t i = d; i-- > 0;) {
    const double ai = a[i], bi = b[i], wi = p[i].weight;
    for (uint32_t k = 0; k < m; k++) {
      const double w = next[k] * ai;
      total[k] += w;
      next[k] = wi - w * zero[k] * bi;
    }
  }
  for (uint32_t k = 0; k < m; k++) s->phi[feature[k]] += total[k] * (1 - zero[k]) * v;
}

/* RECURSE of Algorithm 2 at NODE: PARENT holds the path above (D elements before this
 * node's own), and each call's copy goes right after it. */
static void shap_recurse(const shap_t *s, uint32_t node, path_t *parent, uint32_t d, double zero,
                         double one, int32_t feature) {
  const grove_forest_t *f = s->f;
  path_t *p = parent + d + 1;
  memcpy(p, parent, (d + 1) * sizeof *p);
  path_extend(p, d, zero, one, feature, s->inv);
  const grove_node_t *n = &f->nodes[node];
  if (!grove__node_is_split(f->leaf64, n)) {
    path_leaf(s, p, d, leaf_value(f, n), s->inv);
    return;
  }
  const uint32_t hot = child_of(f, n, s->row[n->feature]);
  const uint32_t cold = hot == n->left ? n->left + 1 : n->left;
  const double cover = f->covers[node];
  double in_zero = 1, in_one = 1;
  /* A feature already on the path: its earlier split is undone, its fractions carried on. */
  for (uint32_t k = 1; k <= d; k++) {
    if (p[k].feature != n->feature) continue;
    in_zero = p[k].zero;
    in_one = p[k].one;
    path_unwind(p, d, k, s->inv);
    d--;
    break;
  }
  shap_recurse(s, hot, p, d + 1, f->covers[hot] / cover * in_zero, in_one, n->feature);
  shap_recurse(s, cold, p, d + 1, f->covers[cold] / cover * in_zero, 0, n->feature);
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

/* Path elements one tree needs: a copy per level, each one longer than the one above. */
static size_t path_elements(const grove_forest_t *f) {
  const size_t d = (size_t)f->info.max_depth + 2;
  return (d + 1) * (d + 2) / 2;
}

static grove_err_t contribs_rows(const grove_forest_t *f, const void *rows, int f64, size_t nrows,
                                 double *out, grove_error_t *err) {
  grove_err_t rc = grove_forest_explainable(f, err);
  if (rc != GROVE_OK) return rc;
  const uint32_t nf = f->info.num_features, ng = f->info.num_groups;
  const size_t ninv = (size_t)f->info.max_depth + 3, nd = (size_t)f->info.max_depth + 1;
  double *x = malloc((nf + ninv + 5 * nd) * sizeof *x), *inv = x + nf;
  path_t *paths = malloc(path_elements(f) * sizeof *paths);
  int32_t *features = malloc(nd * sizeof *features);
  if (x == NULL || paths == NULL || features == NULL) {
    free(features);
    free(x);
    free(paths);
    return grove__error_set(err, GROVE_ENOMEM, "out of memory");
  }
  inv[0] = 0;
  for (size_t i = 1; i < ninv; i++) inv[i] = 1.0 / (double)i;
  memset(out, 0, nrows * grove_forest_contribs_width(f) * sizeof *out);
  for (size_t r = 0; r < nrows; r++) {
    row_load(f, rows, f64, r, x);
    double *phi = out + r * grove_forest_contribs_width(f);
    for (uint32_t g = 0; g < ng; g++) phi[g * (nf + 1) + nf] = f->base_margins[g];
    for (uint32_t t = 0; t < f->info.num_trees; t++) {
      const shap_t s = {.f = f,
                        .row = x,
                        .phi = phi + f->tree_groups[t] * (nf + 1),
                        .inv = inv,
                        .scratch = inv + ninv,
                        .features = features};
      s.phi[nf] += f->tree_expected[t];
      shap_recurse(&s, f->roots[t], paths, 0, 1, 1, -1);
    }
  }
  free(x);
  free(paths);
  free(features);
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
