/* Internal: which x86 SIMD extensions the CPU and the OS support, detected once. */
#ifndef GROVE_CPU_H
#define GROVE_CPU_H

/* ISA levels, each implying the ones below it. */
typedef enum {
  GROVE_ISA_SCALAR = 0,
  GROVE_ISA_AVX2,   /* AVX2 + FMA, YMM state enabled by the OS */
  GROVE_ISA_AVX512, /* AVX-512 F/BW/VL/DQ, opmask and ZMM state enabled by the OS */
} grove_isa_t;

/* What the CPU and the OS support (cpuid and XCR0), ignoring GROVE_ISA. */
grove_isa_t grove__cpu_detect(void);

/*
 * The level the kernels may use: the detected one, lowered by GROVE_ISA=scalar|avx2|avx512.
 * An unknown value or a level above the CPU's is ignored and described in *NOTE (a static
 * string, else NULL): the engine never prints, its callers may.
 */
grove_isa_t grove__cpu_isa(const char **note);

/* "scalar", "avx2", "avx512". */
const char *grove__isa_name(grove_isa_t isa);

#endif /* GROVE_CPU_H */
