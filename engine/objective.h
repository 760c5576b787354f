/* Internal: objectives by name, their output transforms and base-score links. */
#ifndef GROVE_OBJECTIVE_H
#define GROVE_OBJECTIVE_H

#include "grove_engine.h"

/* How base_score (stored in output space) becomes a margin. */
typedef enum {
  GROVE_LINK_IDENTITY = 0,
  GROVE_LINK_LOGIT,     /* -log(1/p - 1) */
  GROVE_LINK_LOG,       /* log(p) */
  GROVE_LINK_EXPECTILE, /* the expectile transform's inverse, over the whole vector */
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

/*
 * Converts the N values of BASE (base_score per output, in output space) to margins in
 * place; returns the index + 1 of the first value out of the link's domain, 0 when all
 * are in it.
 */
uint32_t grove__objective_base_margins(const grove_objective_t *obj, float *base, uint32_t n);

/* Applies TRANSFORM to NROWS rows of K margins each, writing NROWS * out_width floats. */
void grove__transform_apply(grove_transform_t transform, const float *margins, size_t nrows,
                            uint32_t k, float *out);

/*
 * LightGBM's transforms, in double as LightGBM computes them (GBDT::Predict, then the
 * objective's ConvertOutput), on NROWS rows of K double margins, each output rounded to
 * float once: with AVERAGE_OVER (boosting=rf) the margins are first divided by it.
 * TRANSFORM is IDENTITY, SIGMOID, EXP or SOFTMAX.
 */
void grove__transform_apply64(grove_transform_t transform, uint32_t average_over,
                              const double *margins, size_t nrows, uint32_t k, float *out);

/* The same for one row given as floats (M32, widened) or doubles (M64). */
void grove__transform_apply_row64(grove_transform_t transform, uint32_t average_over,
                                  const float *m32, const double *m64, uint32_t k, float *out);

#endif /* GROVE_OBJECTIVE_H */
