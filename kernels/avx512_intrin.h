/*
 * The AVX-512 intrinsics the avx512 kernels and walks use: the compiler's, or in a build
 * with -Davx512_emulation=true (GROVE_AVX512_EMULATED) portable ones, so a CPU with AVX2
 * alone runs those files' logic and the test suite checks it there (scripts/test.sh builds
 * such a tree where the CPU lacks AVX-512). Never a build to serve or measure with.
 *
 * The emulated intrinsics are SIMDe's (libsimde-dev) under their Intel names, plus below the
 * ones SIMDe 0.7 lacks or aliases wrongly, written lane by lane to Intel's pseudocode:
 * masked-off lanes are never read or written, gathers and scatters go lane 0 upwards (so
 * the highest of clashing scatter lanes wins), and a truncation of NaN or out of range is
 * INT32_MIN, as the instructions do.
 */
#ifndef GROVE_AVX512_INTRIN_H
#define GROVE_AVX512_INTRIN_H

#ifndef GROVE_AVX512_EMULATED
#include <immintrin.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <stdint.h>
#include <string.h>

#define GROVE_EMU_LANES(type, n, name, v) \
  type name[n];                           \
  memcpy(name, &(v), sizeof name)
#define GROVE_EMU_RETURN(vtype, lanes) \
  do {                                 \
    vtype r_;                          \
    memcpy(&r_, (lanes), sizeof r_);   \
    return r_;                         \
  } while (0)

/* SIMDe 0.7's aliases of these take four arguments; its functions take the right three. */
#undef _mm512_mask_cmpge_epi32_mask
#define _mm512_mask_cmpge_epi32_mask(k, a, b) simde_mm512_mask_cmpge_epi32_mask((k), (a), (b))
#undef _mm512_mask_cmple_epu32_mask
#define _mm512_mask_cmple_epu32_mask(k, a, b) simde_mm512_mask_cmple_epu32_mask((k), (a), (b))

static inline simde__mmask16 grove_emu_cmp_u32(simde__mmask16 k, simde__m512i a, simde__m512i b,
                                               int gt) {
  GROVE_EMU_LANES(uint32_t, 16, x, a);
  GROVE_EMU_LANES(uint32_t, 16, y, b);
  simde__mmask16 m = 0;
  for (int i = 0; i < 16; i++)
    if (gt ? x[i] > y[i] : x[i] < y[i]) m |= (simde__mmask16)(1u << i);
  return m & k;
}
#define _mm512_cmpgt_epu32_mask(a, b)         grove_emu_cmp_u32(0xffff, (a), (b), 1)
#define _mm512_mask_cmplt_epu32_mask(k, a, b) grove_emu_cmp_u32((k), (a), (b), 0)

static inline simde__mmask16 grove_emu_mask_cmpneq_epi32_mask(simde__mmask16 k, simde__m512i a,
                                                              simde__m512i b) {
  return (simde__mmask16)(k & ~simde_mm512_cmpeq_epi32_mask(a, b));
}
#define _mm512_mask_cmpneq_epi32_mask         grove_emu_mask_cmpneq_epi32_mask
#define _mm512_mask_cmp_ps_mask(k, a, b, imm) \
  ((simde__mmask16)((k)&simde_mm512_cmp_ps_mask((a), (b), (imm))))

/* 16 narrower integers of a SRC vector widened to 32 bits (sign- or zero-extended by TYPE). */
#define GROVE_EMU_WIDEN(name, type, src)          \
  static inline simde__m512i name(src a) {        \
    GROVE_EMU_LANES(type, 16, x, a);              \
    int32_t r[16];                                \
    for (int i = 0; i < 16; i++) r[i] = x[i];     \
    GROVE_EMU_RETURN(simde__m512i, r);            \
  }
GROVE_EMU_WIDEN(grove_emu_cvtepi16_epi32, int16_t, simde__m256i)
GROVE_EMU_WIDEN(grove_emu_cvtepu8_epi32, uint8_t, simde__m128i)
#undef GROVE_EMU_WIDEN
#define _mm512_cvtepi16_epi32 grove_emu_cvtepi16_epi32
#define _mm512_cvtepu8_epi32  grove_emu_cvtepu8_epi32

static inline simde__m512i grove_emu_maskz_cvttps_epi32(simde__mmask16 k, simde__m512 a) {
  GROVE_EMU_LANES(float, 16, x, a);
  int32_t r[16];
  for (int i = 0; i < 16; i++) {
    const int in_range = x[i] > -2147483904.0f && x[i] < 2147483648.0f; /* false for NaN */
    r[i] = !((k >> i) & 1) ? 0 : in_range ? (int32_t)x[i] : INT32_MIN;
  }
  GROVE_EMU_RETURN(simde__m512i, r);
}
#define _mm512_maskz_cvttps_epi32 grove_emu_maskz_cvttps_epi32
#define _mm512_cvttps_epi32(a)    grove_emu_maskz_cvttps_epi32(0xffff, (a))

#define _mm512_mask3_fmadd_ps(a, b, c, k) \
  simde_mm512_mask_mov_ps((c), (k), simde_mm512_fmadd_ps((a), (b), (c)))

/* Gathers and scatters: 4-byte lanes, indices scaled by SCALE bytes. */
static inline simde__m512i grove_emu_gather32(simde__m512i src, simde__mmask16 k,
                                              simde__m512i index, const void *base, int scale) {
  GROVE_EMU_LANES(int32_t, 16, r, src);
  GROVE_EMU_LANES(int32_t, 16, idx, index);
  for (int i = 0; i < 16; i++)
    if ((k >> i) & 1) memcpy(&r[i], (const char *)base + (int64_t)idx[i] * scale, 4);
  GROVE_EMU_RETURN(simde__m512i, r);
}
#define _mm512_mask_i32gather_epi32(src, k, index, base, scale) \
  grove_emu_gather32((src), (k), (index), (base), (scale))
#define _mm512_i32gather_epi32(index, base, scale) \
  grove_emu_gather32(simde_mm512_setzero_si512(), 0xffff, (index), (base), (scale))
#define _mm512_mask_i32gather_ps(src, k, index, base, scale) \
  simde_mm512_castsi512_ps(                                  \
      grove_emu_gather32(simde_mm512_castps_si512(src), (k), (index), (base), (scale)))
#define _mm512_i32gather_ps(index, base, scale) \
  simde_mm512_castsi512_ps(                     \
      grove_emu_gather32(simde_mm512_setzero_si512(), 0xffff, (index), (base), (scale)))

static inline simde__m512i grove_emu_mask_i32gather_epi64(simde__m512i src, simde__mmask8 k,
                                                          simde__m256i index, const void *base,
                                                          int scale) {
  GROVE_EMU_LANES(int64_t, 8, r, src);
  GROVE_EMU_LANES(int32_t, 8, idx, index);
  for (int i = 0; i < 8; i++)
    if ((k >> i) & 1) memcpy(&r[i], (const char *)base + (int64_t)idx[i] * scale, 8);
  GROVE_EMU_RETURN(simde__m512i, r);
}
#define _mm512_mask_i32gather_epi64 grove_emu_mask_i32gather_epi64

static inline void grove_emu_scatter32(void *base, simde__mmask16 k, simde__m512i index,
                                       simde__m512i v, int scale) {
  GROVE_EMU_LANES(int32_t, 16, idx, index);
  GROVE_EMU_LANES(int32_t, 16, x, v);
  for (int i = 0; i < 16; i++)
    if ((k >> i) & 1) memcpy((char *)base + (int64_t)idx[i] * scale, &x[i], 4);
}
#define _mm512_mask_i32scatter_epi32(base, k, index, v, scale) \
  grove_emu_scatter32((base), (k), (index), (v), (scale))
#define _mm512_i32scatter_ps(base, index, v, scale) \
  grove_emu_scatter32((base), 0xffff, (index), simde_mm512_castps_si512(v), (scale))

/* Masked loads and stores of 4- or 8-byte lanes (aligned or not: the same here). */
static inline simde__m512i grove_emu_mask_load(simde__m512i src, unsigned k, const void *p,
                                               int width) {
  unsigned char r[64];
  memcpy(r, &src, 64);
  for (int i = 0; i < 64 / width; i++)
    if ((k >> i) & 1) memcpy(r + i * width, (const char *)p + i * width, (size_t)width);
  GROVE_EMU_RETURN(simde__m512i, r);
}
static inline void grove_emu_mask_store(void *p, unsigned k, simde__m512i v, int width) {
  unsigned char x[64];
  memcpy(x, &v, 64);
  for (int i = 0; i < 64 / width; i++)
    if ((k >> i) & 1) memcpy((char *)p + i * width, x + i * width, (size_t)width);
}
#define _mm512_mask_load_ps(src, k, p) \
  simde_mm512_castsi512_ps(grove_emu_mask_load(simde_mm512_castps_si512(src), (k), (p), 4))
#define _mm512_maskz_load_ps(k, p) \
  simde_mm512_castsi512_ps(grove_emu_mask_load(simde_mm512_setzero_si512(), (k), (p), 4))
#define _mm512_maskz_loadu_ps(k, p)    _mm512_maskz_load_ps((k), (p))
#define _mm512_maskz_load_epi32(k, p)  grove_emu_mask_load(simde_mm512_setzero_si512(), (k), (p), 4)
#define _mm512_maskz_loadu_epi32(k, p) _mm512_maskz_load_epi32((k), (p))
#define _mm512_maskz_load_epi64(k, p)  grove_emu_mask_load(simde_mm512_setzero_si512(), (k), (p), 8)
#define _mm512_maskz_loadu_pd(k, p) \
  simde_mm512_castsi512_pd(grove_emu_mask_load(simde_mm512_setzero_si512(), (k), (p), 8))
#define _mm512_mask_store_ps(p, k, v)  grove_emu_mask_store((p), (k), simde_mm512_castps_si512(v), 4)
#define _mm512_mask_storeu_ps(p, k, v) _mm512_mask_store_ps((p), (k), (v))
#define _mm512_mask_storeu_pd(p, k, v) \
  grove_emu_mask_store((p), (k), simde_mm512_castpd_si512(v), 8)

static inline simde__m512 grove_emu_shuffle_f32x4(simde__m512 a, simde__m512 b, int imm) {
  GROVE_EMU_LANES(float, 16, x, a);
  GROVE_EMU_LANES(float, 16, y, b);
  float r[16];
  for (int q = 0; q < 4; q++) memcpy(r + 4 * q, (q < 2 ? x : y) + 4 * ((imm >> (2 * q)) & 3), 16);
  GROVE_EMU_RETURN(simde__m512, r);
}
#define _mm512_shuffle_f32x4 grove_emu_shuffle_f32x4

#endif /* GROVE_AVX512_EMULATED */
#endif /* GROVE_AVX512_INTRIN_H */
