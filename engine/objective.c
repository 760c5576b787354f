/* Objectives and output transforms, computed in float32 exactly as XGBoost does. */
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
  for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; i++)
    if (strcmp(objectives[i].name, name) == 0) return &objectives[i];
  return NULL;
}

int grove__objective_base_margin(const grove_objective_t *obj, float base_score, float *margin) {
  switch (obj->link) {
    case GROVE_LINK_LOGIT:
      /* XGBoost 3 accepts 0 and 1 (all labels equal): the margin is then -inf / +inf. */
      if (!(base_score >= 0.0f && base_score <= 1.0f)) return -1;
      *margin = -logf(1.0f / base_score - 1.0f) + 0.0f; /* + 0: no -0 in reports */
      return 0;
    case GROVE_LINK_LOG:
      if (!(base_score > 0.0f)) return -1;
      *margin = logf(base_score);
      return 0;
    case GROVE_LINK_IDENTITY:
      break;
  }
  *margin = base_score;
  return 0;
}

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

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
      /* Subtract the row maximum first, as XGBoost does, so exp cannot overflow. */
      for (size_t r = 0; r < nrows; r++) {
        const float *m = in + r * k;
        float *o = out + r * k;
        float wmax = m[0];
        for (uint32_t j = 1; j < k; j++) wmax = fmaxf(wmax, m[j]);
        double sum = 0.0; /* XGBoost sums in double, then divides in float */
        for (uint32_t j = 0; j < k; j++) {
          o[j] = expf(m[j] - wmax);
          sum += o[j];
        }
        for (uint32_t j = 0; j < k; j++) o[j] /= (float)sum;
      }
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
