/* Internal: objectives by name, their output transforms and base-score links. */
#ifndef GROVE_OBJECTIVE_H
#define GROVE_OBJECTIVE_H

#include "grove_engine.h"

/* How base_score (stored in output space) becomes a margin. */
typedef enum {
  GROVE_LINK_IDENTITY = 0,
  GROVE_LINK_LOGIT, /* -log(1/p - 1) */
  GROVE_LINK_LOG,   /* log(p) */
} grove_link_t;

typedef struct {
  const char *name;
  grove_task_t task;
  grove_transform_t transform;
  grove_link_t link;
} grove_objective_t;

/*
 * Looks up an XGBoost objective by name (rank:* objectives share one entry). VERSION_MAJOR
 * and VERSION_MINOR are the model's writer: binary:logitraw's base score was a
 * probability before XGBoost 1.6 and a margin since. Returns NULL when unsupported.
 */
const grove_objective_t *grove__objective_find(const char *name, int version_major,
                                               int version_minor);

/* Converts base_score to margin space; returns nonzero when it is out of the link's domain. */
int grove__objective_base_margin(const grove_objective_t *obj, float base_score, float *margin);

/* Applies TRANSFORM to NROWS rows of K margins each, writing NROWS * out_width floats. */
void grove__transform_apply(grove_transform_t transform, const float *margins, size_t nrows,
                            uint32_t k, float *out);

#endif /* GROVE_OBJECTIVE_H */
