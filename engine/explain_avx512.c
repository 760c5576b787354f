/* The TreeSHAP walk with rows in the lanes of avx512 vectors: see explain_lanes.h. */

/* Doubles: forests whose decisions or leaves are doubles (LightGBM's), and the oracle's
 * precision for the others. */
#include <immintrin.h>

#define SHAP_REAL        double
#define SHAP_FMA(a, b, c) ((vec_t)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c)))
#define SHAP_MASK        long long
#define SHAP_LANES       8
#define SHAP_FLUSH_TREES UINT32_MAX
#define SHAP_RESIDUES    1
#define SHAP_ID(name)    name##_f64
#define SHAP_ROWS_FN     grove__shap_rows_avx512_f64
#include "explain_lanes.h"
#undef SHAP_REAL
#undef SHAP_FMA
#undef SHAP_MASK
#undef SHAP_LANES
#undef SHAP_FLUSH_TREES
#undef SHAP_RESIDUES
#undef SHAP_ID
#undef SHAP_ROWS_FN

/* Floats, twice the rows per vector: forests of float thresholds and leaves (XGBoost's,
 * scikit-learn's), whose libraries compute their contributions in float too. */
#define SHAP_REAL        float
#define SHAP_FMA(a, b, c) ((vec_t)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define SHAP_MASK        int
#define SHAP_LANES       16
#define SHAP_FLUSH_TREES 128 /* 8 trees in each residue: the trees walk's 8 blocks */
#define SHAP_RESIDUES    16
#define SHAP_ID(name)    name##_f32
#define SHAP_ROWS_FN     grove__shap_rows_avx512_f32
#include "explain_lanes.h"
