/*
 * Objectives and output transforms: XGBoost's computed in float32 exactly as XGBoost does,
 * LightGBM's in double as LightGBM does.
 */
#include "objective.h"

#include <math.h>
#include <string.h>

static const grove_objective_t objectives[] = {
    {"binary:logistic", GROVE_TASK_BINARY, GROVE_TRANSFORM_SIGMOID, GROVE_LINK_LOGIT},
    {"binary:logitraw", GROVE_TASK_BINARY, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    {"binary:hinge", GROVE_TASK_BINARY, GROVE_TRANSFORM_HINGE, GROVE_LINK_IDENTITY},
    {"reg:squarederror", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    {"reg:linear", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    {"reg:squaredlogerror", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    {"reg:logistic", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_SIGMOID, GROVE_LINK_LOGIT},
    {"reg:pseudohubererror", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    {"reg:absoluteerror", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    {"reg:quantileerror", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    /* XGBoost 3.3+ (src/objective/regression_obj.cu in 3.3.0-3.4.1, expectile_obj.cc after):
     * PredTransform and ProbToMargin below. */
    {"reg:expectileerror", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXPECTILE, GROVE_LINK_EXPECTILE},
    {"count:poisson", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP, GROVE_LINK_LOG},
    {"reg:gamma", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP, GROVE_LINK_LOG},
    {"reg:tweedie", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP, GROVE_LINK_LOG},
    {"survival:cox", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP, GROVE_LINK_LOG},
    {"survival:aft", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_EXP, GROVE_LINK_LOG},
    {"multi:softprob", GROVE_TASK_MULTICLASS, GROVE_TRANSFORM_SOFTMAX, GROVE_LINK_IDENTITY},
    {"multi:softmax", GROVE_TASK_MULTICLASS, GROVE_TRANSFORM_ARGMAX, GROVE_LINK_IDENTITY},
    /* grove's own, for converted forests whose averaged leaves already are probabilities:
     * one output (positive class) without num_class, K outputs with num_class K. */
    {"grove:probability", GROVE_TASK_BINARY, GROVE_TRANSFORM_IDENTITY, GROVE_LINK_IDENTITY},
    /* ... and for converted isolation forests, whose leaves hold normalized path lengths. */
    {"grove:isolation_score", GROVE_TASK_REGRESSION, GROVE_TRANSFORM_ISOLATION,
     GROVE_LINK_IDENTITY},
};

static const grove_objective_t ranking = {"rank:*", GROVE_TASK_RANKING, GROVE_TRANSFORM_IDENTITY,
                                          GROVE_LINK_IDENTITY};
/* binary:logitraw inherited the logistic link before XGBoost 1.6. */
static const grove_objective_t logitraw_legacy = {"binary:logitraw", GROVE_TASK_BINARY,
                                                  GROVE_TRANSFORM_IDENTITY, GROVE_LINK_LOGIT};
/* From XGBoost 3.4.0 (#12386, src/objective/quantile_obj.cu) QuantileRegression::PredTransform
 * sorts each row's quantiles ascending (its alphas must be ascending since); before, the
 * outputs were the margins. */
static const grove_objective_t quantile_sorted = {"reg:quantileerror", GROVE_TASK_REGRESSION,
                                                  GROVE_TRANSFORM_SORT, GROVE_LINK_IDENTITY};

const grove_objective_t *grove__objective_find(const char *name, int version_major,
                                               int version_minor) {
  if (strncmp(name, "rank:", 5) == 0) {
    const char *kind = name + 5;
    if (strcmp(kind, "pairwise") == 0 || strcmp(kind, "ndcg") == 0 || strcmp(kind, "map") == 0)
      return &ranking;
    return NULL;
  }
  if (strcmp(name, "binary:logitraw") == 0 &&
      (version_major < 1 || (version_major == 1 && version_minor < 6)))
    return &logitraw_legacy;
  if (strcmp(name, "reg:quantileerror") == 0 &&
      (version_major > 3 || (version_major == 3 && version_minor >= 4)))
    return &quantile_sorted;
  for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; i++)
    if (strcmp(objectives[i].name, name) == 0) return &objectives[i];
  return NULL;
}

/* XGBoost's kRtEps (include/xgboost/base.h) and common::SoftPlus / SoftPlusInv
 * (src/common/math.h), in float as XGBoost 3.3-3.4 computes them. */
#define XGB_RT_EPS 1e-6f
static float softplus(float x) { return x > 0.0f ? x + log1pf(expf(-x)) : log1pf(expf(x)); }
static float softplus_inv(float x) {
  x = fmaxf(x, XGB_RT_EPS);
  return x + logf(-expm1f(-x));
}

uint32_t grove__objective_base_margins(const grove_objective_t *obj, float *base, uint32_t n) {
  if (obj->link == GROVE_LINK_EXPECTILE) {
    /* ExpectileRegression::ProbToMargin: from the last output down, each margin from its
     * gap to the (not yet converted) previous base score; output 0 is its own margin. */
    for (uint32_t j = n; j-- > 1;) base[j] = softplus_inv(base[j] - base[j - 1] - XGB_RT_EPS);
    return 0;
  }
  for (uint32_t g = 0; g < n; g++) {
    const float p = base[g];
    switch (obj->link) {
      case GROVE_LINK_LOGIT:
        /* XGBoost 3 accepts 0 and 1 (all labels equal): the margin is then -inf / +inf. */
        if (!(p >= 0.0f && p <= 1.0f)) return g + 1;
        base[g] = -logf(1.0f / p - 1.0f) + 0.0f; /* + 0: no -0 in reports */
        break;
      case GROVE_LINK_LOG:
        if (!(p > 0.0f)) return g + 1;
        base[g] = logf(p);
        break;
      case GROVE_LINK_IDENTITY:
      case GROVE_LINK_EXPECTILE:
        break;
    }
  }
  return 0;
}

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* The transforms that work on a whole row of K outputs: M to O, which may be M (each
 * reads M[j] before it writes O[j], and writes nothing past O[j] until then). */
typedef void row_transform_fn(const float *m, float *o, uint32_t k);

/* Subtract the row maximum first, as XGBoost does, so exp cannot overflow. */
static void softmax_row(const float *m, float *o, uint32_t k) {
  float wmax = m[0];
  for (uint32_t j = 1; j < k; j++) wmax = fmaxf(wmax, m[j]);
  double sum = 0.0; /* XGBoost sums in double, then divides in float */
  for (uint32_t j = 0; j < k; j++) {
    o[j] = expf(m[j] - wmax);
    sum += o[j];
  }
  for (uint32_t j = 0; j < k; j++) o[j] /= (float)sum;
}

/* ExpectileRegression::PredTransform: each output builds on the previous one. */
static void expectile_row(const float *m, float *o, uint32_t k) {
  float pred = m[0];
  o[0] = pred;
  for (uint32_t j = 1; j < k; j++) {
    pred += XGB_RT_EPS + softplus(m[j]);
    o[j] = pred;
  }
}

/* QuantileRegression::PredTransform's insertion sort, ascending: M[i] inserted into the
 * sorted O[0..i). */
static void sort_row(const float *m, float *o, uint32_t k) {
  for (uint32_t i = 0; i < k; i++) {
    const float v = m[i];
    uint32_t pos = i;
    for (; pos > 0 && o[pos - 1] > v; pos--) o[pos] = o[pos - 1];
    o[pos] = v;
  }
}

/* ROW on each of NROWS rows of K outputs, IN to OUT. */
static void transform_rows(row_transform_fn *row, const float *in, size_t nrows, uint32_t k,
                           float *out) {
  for (size_t r = 0; r < nrows; r++) row(in + r * k, out + r * k, k);
}

void grove__transform_apply(grove_transform_t transform, const float *in, size_t nrows, uint32_t k,
                            float *out) {
  size_t n = nrows * k;
  switch (transform) {
    case GROVE_TRANSFORM_IDENTITY:
      if (out != in) memmove(out, in, n * sizeof *out);
      return;
    case GROVE_TRANSFORM_SIGMOID:
      for (size_t i = 0; i < n; i++) out[i] = sigmoid(in[i]);
      return;
    case GROVE_TRANSFORM_HINGE:
      for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? 1.0f : 0.0f;
      return;
    case GROVE_TRANSFORM_EXP:
      for (size_t i = 0; i < n; i++) out[i] = expf(in[i]);
      return;
    case GROVE_TRANSFORM_ISOLATION:
      /* The margin is the mean path length over c(max_samples): the score is -2^-margin. */
      for (size_t i = 0; i < n; i++) out[i] = -exp2f(-in[i]);
      return;
    case GROVE_TRANSFORM_SOFTMAX:
      transform_rows(softmax_row, in, nrows, k, out);
      return;
    case GROVE_TRANSFORM_EXPECTILE:
      transform_rows(expectile_row, in, nrows, k, out);
      return;
    case GROVE_TRANSFORM_SORT:
      transform_rows(sort_row, in, nrows, k, out);
      return;
    case GROVE_TRANSFORM_ARGMAX:
      /* The first of equal maxima wins; written in place row by row (out[r] <= in[r*k]). */
      for (size_t r = 0; r < nrows; r++) {
        const float *m = in + r * k;
        uint32_t best = 0;
        for (uint32_t j = 1; j < k; j++)
          if (m[j] > m[best]) best = j;
        out[r] = (float)best;
      }
      return;
  }
}

/* LightGBM's margin J of a row held as floats (M32) or doubles (M64), averaged for rf. */
static double row_at(const float *m32, const double *m64, uint32_t j, uint32_t average_over) {
  const double v = m64 ? m64[j] : (double)m32[j];
  return average_over > 1 ? v / (double)average_over : v; /* GBDT::Predict divides */
}

void grove__transform_apply_row64(grove_transform_t transform, uint32_t average_over,
                                  const float *m32, const double *m64, uint32_t k, float *out) {
  switch (transform) {
    case GROVE_TRANSFORM_SIGMOID: /* BinaryLogloss / CrossEntropy / MulticlassOVA, sigmoid 1 */
      for (uint32_t j = 0; j < k; j++)
        out[j] = (float)(1.0 / (1.0 + exp(-row_at(m32, m64, j, average_over))));
      return;
    case GROVE_TRANSFORM_EXP: /* RegressionPoissonLoss, Gamma, Tweedie */
      for (uint32_t j = 0; j < k; j++) out[j] = (float)exp(row_at(m32, m64, j, average_over));
      return;
    case GROVE_TRANSFORM_SOFTMAX: { /* Common::Softmax: the maximum first, sum in double */
      double wmax = row_at(m32, m64, 0, average_over), wsum = 0.0;
      for (uint32_t j = 1; j < k; j++) {
        const double v = row_at(m32, m64, j, average_over);
        wmax = v > wmax ? v : wmax;
      }
      for (uint32_t j = 0; j < k; j++) wsum += exp(row_at(m32, m64, j, average_over) - wmax);
      for (uint32_t j = 0; j < k; j++)
        out[j] = (float)(exp(row_at(m32, m64, j, average_over) - wmax) / wsum);
      return;
    }
    default: /* identity: LightGBM's other objectives output the raw score */
      for (uint32_t j = 0; j < k; j++) out[j] = (float)row_at(m32, m64, j, average_over);
      return;
  }
}

void grove__transform_apply64(grove_transform_t transform, uint32_t average_over,
                              const double *margins, size_t nrows, uint32_t k, float *out) {
  for (size_t r = 0; r < nrows; r++)
    grove__transform_apply_row64(transform, average_over, NULL, margins + r * k, k, out + r * k);
}
