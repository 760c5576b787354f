/* The TreeSHAP walk with rows in the lanes of avx2 vectors: see explain_lanes.h. */
#define SHAP_LANES_F64        4
#define SHAP_FMA_F64(a, b, c) ((vec_t)_mm256_fmadd_pd((__m256d)(a), (__m256d)(b), (__m256d)(c)))
#define SHAP_FMA_F32(a, b, c) ((vec_t)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define SHAP_ROWS_FN_F64      grove__shap_rows_avx2_f64
#define SHAP_ROWS_FN_F32      grove__shap_rows_avx2_f32
#include "explain_lanes_isa.h"
