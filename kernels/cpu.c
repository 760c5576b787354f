/*
 * CPU feature detection (dav1d's src/x86/cpu.c shape): cpuid says what the CPU has,
 * XCR0 says whether the OS saves the registers; both must agree before a kernel runs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* xgetbv without -mxsave: the instruction's bytes, so this file needs no ISA flags. */
static uint64_t read_xcr0(void) {
  uint32_t eax, edx;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return ((uint64_t)edx << 32) | eax;
}

grove_isa_t grove__cpu_detect(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return GROVE_ISA_SCALAR;
  const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
  if (!osxsave || !avx || !fma) return GROVE_ISA_SCALAR;
  const uint64_t xcr0 = read_xcr0();
  if ((xcr0 & 0x6) != 0x6) return GROVE_ISA_SCALAR; /* XMM and YMM state */
  if (__get_cpuid_max(0, NULL) < 7) return GROVE_ISA_SCALAR;
  __cpuid_count(7, 0, a, b, c, d);
  if (!((b >> 5) & 1)) return GROVE_ISA_SCALAR; /* AVX2 */
#ifdef GROVE_AVX512_EMULATED
  return GROVE_ISA_AVX512; /* the avx512 files run on AVX2 (kernels/avx512_intrin.h) */
#else
  const unsigned avx512 = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);  /* F DQ BW VL */
  if ((b & avx512) != avx512 || (xcr0 & 0xe0) != 0xe0) return GROVE_ISA_AVX2; /* opmask, ZMM */
  return GROVE_ISA_AVX512;
#endif
}
#else
grove_isa_t grove__cpu_detect(void) { return GROVE_ISA_SCALAR; }
#endif

const char *grove__isa_name(grove_isa_t isa) {
  static const char *const names[] = {
      [GROVE_ISA_SCALAR] = "scalar", [GROVE_ISA_AVX2] = "avx2", [GROVE_ISA_AVX512] = "avx512"};
  return (unsigned)isa < sizeof names / sizeof names[0] ? names[isa] : "scalar";
}

grove_isa_t grove__cpu_isa(const char **note) {
  grove_isa_t isa = grove__cpu_detect();
  *note = NULL;
  const char *want = getenv("GROVE_ISA");
  if (want == NULL || *want == '\0') return isa;
  grove_isa_t asked;
  if (strcmp(want, "scalar") == 0)
    asked = GROVE_ISA_SCALAR;
  else if (strcmp(want, "avx2") == 0)
    asked = GROVE_ISA_AVX2;
  else if (strcmp(want, "avx512") == 0)
    asked = GROVE_ISA_AVX512;
  else {
    *note = "GROVE_ISA is not one of scalar, avx2, avx512: ignored";
    return isa;
  }
  if (asked > isa) {
    *note = isa == GROVE_ISA_AVX2 ? "GROVE_ISA asks for an ISA this CPU lacks: using avx2"
                                  : "GROVE_ISA asks for an ISA this CPU lacks: using scalar";
    return isa;
  }
  return asked;
}
