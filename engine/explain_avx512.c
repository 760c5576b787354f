/* The TreeSHAP walk with rows in the lanes of avx512 vectors: see explain_lanes.h. */

/* Doubles: forests whose decisions or leaves are doubles (LightGBM's), and the oracle's
 * precision for the others. */
#define SHAP_REAL        double
#define SHAP_MASK        long long
#define SHAP_LANES       8
#define SHAP_FLUSH_TREES UINT32_MAX
#define SHAP_ID(name)    name##_f64
#define SHAP_ROWS_FN     grove__shap_rows_avx512_f64
#include "explain_lanes.h"
#undef SHAP_REAL
#undef SHAP_MASK
#undef SHAP_LANES
#undef SHAP_FLUSH_TREES
#undef SHAP_ID
#undef SHAP_ROWS_FN

/* Floats, twice the rows per vector: forests of float thresholds and leaves (XGBoost's,
 * scikit-learn's), whose libraries compute their contributions in float too. Each tree's
 * shares are exact to float precision and summed in double every few trees. */
#define SHAP_REAL        float
#define SHAP_MASK        int
#define SHAP_LANES       16
#define SHAP_FLUSH_TREES 8
#define SHAP_ID(name)    name##_f32
#define SHAP_ROWS_FN     grove__shap_rows_avx512_f32
#include "explain_lanes.h"
