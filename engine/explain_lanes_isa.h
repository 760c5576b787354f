/*
 * Internal: one ISA's two builds of explain_lanes.h's walk, included by explain_avx2.c and
 * explain_avx512.c with SHAP_LANES_F64 (doubles per vector), SHAP_FMA_F64 / SHAP_FMA_F32 (the
 * ISA's fused multiply-add on those vectors) and SHAP_ROWS_FN_F64 / SHAP_ROWS_FN_F32 defined.
 */
#include <immintrin.h>

/* Doubles: forests whose decisions or leaves are doubles (LightGBM's). */
#define SHAP_REAL         double
#define SHAP_FMA(a, b, c) SHAP_FMA_F64(a, b, c)
#define SHAP_MASK         long long
#define SHAP_LANES        SHAP_LANES_F64
#define SHAP_FLUSH_TREES  UINT32_MAX
#define SHAP_RESIDUES     1
#define SHAP_ID(name)     name##_f64
#define SHAP_ROWS_FN      SHAP_ROWS_FN_F64
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
#define SHAP_REAL         float
#define SHAP_FMA(a, b, c) SHAP_FMA_F32(a, b, c)
#define SHAP_MASK         int
#define SHAP_LANES        (2 * SHAP_LANES_F64)
#define SHAP_FLUSH_TREES  128 /* 8 trees in each residue: the trees walk's 8 blocks */
#define SHAP_RESIDUES     16
#define SHAP_ID(name)     name##_f32
#define SHAP_ROWS_FN      SHAP_ROWS_FN_F32
#include "explain_lanes.h"
