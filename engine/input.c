/*
 * Double inputs for LightGBM forests. LightGBM reads decimal text and float64 arrays as
 * doubles, zeroes |x| <= kZeroThreshold (1e-35f) and decides x <= t in double; the kernels
 * see float32 values and thresholds turned into float cuts (load_lightgbm.c), exact for
 * float inputs. grove_forest_input_value() maps a double x to a float that every split of
 * its feature decides as LightGBM decides x: one in the same cell of the feature's sorted
 * thresholds.
 *
 * Most doubles need no search. Rounding x to the nearest float xf can only cross a
 * threshold t that lies between x and xf, and then xf is t's float neighbour: the largest
 * float <= t or the one after it (no other float lies between x and xf). The builder puts
 * every threshold's two neighbours in a hash set (near_floats), so a value whose xf is not
 * there is mapped by the cast alone. The others find x's cell by binary search and take
 * whichever of x's two float neighbours shares it. When neither does, two thresholds lie
 * between them (they share a float cut): no float decides x as LightGBM does, and the
 * caller scores that row with grove_forest_predict_f64(), which walks it in double.
 */
#include <math.h>
#include <string.h>

#include "input.h"
#include "kernels/forest.h"

/* LightGBM's kZeroThreshold as the double it compares with: (double)1e-35f. */
#define ZERO_BAND_D ((double)GROVE_ZERO_BAND)

static uint64_t mix(uint64_t k) { /* murmur3's finalizer */
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ull;
  return k ^ (k >> 33);
}

static uint64_t near_key(uint32_t feature, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  return ((uint64_t)feature + 1) << 32 | bits; /* never 0, the empty slot */
}

/* The largest float <= T. */
static float float_below(double t) {
  float f = (float)t;
  if ((double)f > t) f = nextafterf(f, -INFINITY);
  return f;
}

uint64_t grove__near_slots(size_t num_thresholds) {
  uint64_t slots = 16;
  while (slots < 4 * (uint64_t)num_thresholds) slots <<= 1;
  return slots;
}

static void near_insert(uint64_t *set, uint64_t mask, uint64_t key) {
  for (uint64_t h = mix(key) & mask;; h = (h + 1) & mask) {
    if (set[h] == key) return;
    if (set[h] == 0) {
      set[h] = key;
      return;
    }
  }
}

void grove__near_fill(uint64_t *set, uint64_t slots, const double *thresholds,
                      const uint32_t *offsets, uint32_t nf) {
  for (uint32_t j = 0; j < nf; j++)
    for (uint32_t k = offsets[j]; k < offsets[j + 1]; k++) {
      const float lo = float_below(thresholds[k]);
      near_insert(set, slots - 1, near_key(j, lo));
      near_insert(set, slots - 1, near_key(j, nextafterf(lo, INFINITY)));
    }
}

static int is_near(const grove_forest_t *f, uint32_t feature, float v) {
  const uint64_t key = near_key(feature, v);
  for (uint64_t h = mix(key) & f->near_mask;; h = (h + 1) & f->near_mask) {
    if (f->near_floats[h] == key) return 1;
    if (f->near_floats[h] == 0) return 0;
  }
}

/* Feature J's thresholds below V: the index of the first that is not, V's cell. */
static uint32_t cell(const grove_forest_t *f, uint32_t j, double v) {
  /* Branchless halving: the probes of values next to thresholds go either way at random,
   * which a branchy search pays for in mispredictions. */
  const double *t = f->thresholds64 + f->threshold_offsets[j];
  uint32_t n = f->threshold_offsets[j + 1] - f->threshold_offsets[j], base = 0;
  while (n > 1) {
    const uint32_t half = n / 2;
    base = t[base + half - 1] < v ? base + half : base;
    n -= half;
  }
  return f->threshold_offsets[j] + base + (n == 1 && t[base] < v);
}

/* Whether float C is in cell K of feature J (see cell()), outside the zero band: above the
 * threshold below the cell and not above the one that closes it. */
static int in_cell(const grove_forest_t *f, uint32_t j, uint32_t k, float c) {
  if (fabsf(c) <= GROVE_ZERO_BAND) return 0; /* LightGBM would read it as 0, X is not */
  return (k == f->threshold_offsets[j] || f->thresholds64[k - 1] < (double)c) &&
         (k == f->threshold_offsets[j + 1] || f->thresholds64[k] >= (double)c);
}

/* A LightGBM forest's float for X (not NaN, outside the zero band) of numeric feature J;
 * *EXACT 0 when none decides every split as X. */
static float numeric_value(const grove_forest_t *f, uint32_t j, double x, int *exact) {
  const float xf = (float)x;
  if ((double)xf == x) return xf;
  /* Linear leaves compute with the value itself: only x's own float gives their result. */
  *exact = f->linear_inputs == NULL || !f->linear_inputs[j];
  if (fabsf(xf) > GROVE_ZERO_BAND && !is_near(f, j, xf)) return xf;
  /* Next to a threshold: x's cell, then whichever of x's float neighbours is in it. */
  const uint32_t k = cell(f, j, x);
  const float below = float_below(x), other = xf == below ? nextafterf(below, INFINITY) : below;
  if (in_cell(f, j, k, xf)) return xf;
  if (in_cell(f, j, k, other)) return other;
  *exact = 0;
  return xf;
}

float grove_forest_input_value(const grove_forest_t *f, uint32_t feature, double x, int *exact) {
  int ok = 1;
  float out;
  if (f->thresholds64 == NULL || feature >= f->info.num_features) {
    out = (float)x; /* XGBoost and scikit-learn cast their inputs to float themselves */
  } else if (isnan(x)) {
    out = NAN;
  } else if (fabs(x) <= ZERO_BAND_D) {
    out = 0.0f; /* LightGBM reads these as 0 */
  } else if (f->feature_types[feature] == GROVE_FEATURE_CATEGORICAL) {
    /* static_cast<int>: truncated toward 0 first, so no float rounding reaches the next
     * category; |x| >= 2^31 (INT_MIN in LightGBM, no category) stays past 2^24 (none). */
    out = (float)trunc(x);
  } else {
    out = numeric_value(f, feature, x, &ok);
  }
  if (exact != NULL) *exact = ok;
  return out;
}

int grove_forest_takes_doubles(const grove_forest_t *f) {
  return f->thresholds64 != NULL || f->num_linear_leaves > 0;
}
