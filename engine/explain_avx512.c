/* The TreeSHAP walk with rows in the lanes of avx512 vectors: see explain_lanes.h (and
 * explain_trees_avx512.c for small batches). */
#include "kernels/avx512_intrin.h"

#define SHAP_LANES_F64        8
#define SHAP_FMA_F64(a, b, c) ((vec_t)_mm512_fmadd_pd((__m512d)(a), (__m512d)(b), (__m512d)(c)))
#define SHAP_FMA_F32(a, b, c) ((vec_t)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define SHAP_ROWS_FN_F64      grove__shap_rows_avx512_f64
#define SHAP_ROWS_FN_F32      grove__shap_rows_avx512_f32
#include "explain_lanes_isa.h"
