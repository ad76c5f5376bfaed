/* Choosing the instruction-set path: cpuid (and xgetbv for the OS-enabled register state) on
 * x86-64, fixed NEON on AArch64, scalar elsewhere. */
#include "kernels/cpu/isa.h"

#include <string.h>

#include "kernels/dtype.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

static const char *const k_names[] = {"scalar", "avx2", "avx512", "amx", "neon"};

const char *llm_isa_name(llm_isa isa) {
    return (unsigned)isa < sizeof k_names / sizeof k_names[0] ? k_names[isa] : "unknown";
}

int llm_isa_parse(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < (int)(sizeof k_names / sizeof k_names[0]); i++)
        if (strcmp(name, k_names[i]) == 0) return i;
    return -1;
}

#if defined(__x86_64__)
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static llm_isa detect_x86(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return LLM_ISA_SCALAR;
    const int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return LLM_ISA_SCALAR;
    const uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return LLM_ISA_SCALAR; /* the OS does not save YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return LLM_ISA_SCALAR;
    const int avx2 = (b >> 5) & 1;
    if (!(avx2 && fma && f16c)) return LLM_ISA_SCALAR;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
              avx512vl = (b >> 31) & 1;
    const int zmm_state = (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (!(avx512f && avx512dq && avx512bw && avx512vl && zmm_state)) return LLM_ISA_AVX2;
    /* AMX tiles (edx bits 22, 24, 25) need the OS to grant the tile state; until the AMX kernels
     * exist the AVX-512 path serves such CPUs. */
    return LLM_ISA_AVX512;
}
#endif

llm_isa llm_isa_best(void) {
#if defined(__x86_64__)
    return detect_x86();
#elif defined(__aarch64__)
    return LLM_ISA_NEON;
#else
    return LLM_ISA_SCALAR;
#endif
}

int llm_isa_runnable(llm_isa isa) {
    llm_isa best = llm_isa_best();
    if (isa == LLM_ISA_SCALAR) return 1;
    if (best == LLM_ISA_NEON || isa == LLM_ISA_NEON) return isa == best;
    return isa <= best;
}

int llm_cpu_has_avx512_vnni(void) {
#if defined(__x86_64__)
    static int cached = -1; /* the answer never changes; a race only computes it twice */
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        unsigned a, b, c, d;
        v = llm_isa_runnable(LLM_ISA_AVX512) && __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((c >> 11) & 1);
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

llm_fast_dot_fn llm_cpu_fast_dot_vnni(const llm_cpu_kernels *k, uint32_t type, int has_vnni) {
    if (type >= LLM_DT_SLOTS || !llm_fast_dot_scalar(type)) return NULL;
#if defined(__x86_64__)
    if (k == &llm_kernels_avx512 && !has_vnni) k = &llm_kernels_avx2;
#else
    (void)has_vnni;
#endif
    return k && k->fast[type] ? k->fast[type] : llm_fast_dot_scalar(type);
}

llm_fast_dot_fn llm_cpu_fast_dot(const llm_cpu_kernels *k, uint32_t type) {
    return llm_cpu_fast_dot_vnni(k, type, llm_cpu_has_avx512_vnni());
}

llm_fast_dot16_fn llm_cpu_fast_dot16(const llm_cpu_kernels *k, uint32_t type) {
    if (!k || type >= LLM_DT_SLOTS) return NULL;
#if defined(__x86_64__)
    /* the AVX-512 16-row kernels use vpdpbusd; without VNNI the AVX2 ones serve (same bits), as
     * in llm_cpu_fast_dot */
    if (k == &llm_kernels_avx512 && !llm_cpu_has_avx512_vnni()) k = &llm_kernels_avx2;
#endif
    return k->x16[type];
}

llm_fast_dot16n_fn llm_cpu_fast_dot16n(const llm_cpu_kernels *k, uint32_t type) {
    if (!k || type >= LLM_DT_SLOTS || !llm_cpu_fast_dot16(k, type)) return NULL;
#if defined(__x86_64__)
    /* where the AVX-512 table's x16 kernels are not usable (no VNNI), llm_cpu_fast_dot16 gave
     * the AVX2 one: take the AVX2 table's multi-token kernel with it */
    if (k == &llm_kernels_avx512 && llm_cpu_fast_dot16(k, type) != k->x16[type]) k = &llm_kernels_avx2;
#endif
    return k->x16n[type];
}

const llm_cpu_kernels llm_kernels_scalar = {LLM_ISA_SCALAR, "scalar", {0}, {0}, {0}, {0}};

const llm_cpu_kernels *llm_cpu_kernels_for(llm_isa isa) {
    switch (isa) {
#if defined(__x86_64__)
    case LLM_ISA_AVX2: return &llm_kernels_avx2;
    case LLM_ISA_AVX512:
    case LLM_ISA_AMX: return &llm_kernels_avx512;
#endif
#if defined(__aarch64__)
    case LLM_ISA_NEON: return &llm_kernels_neon;
#endif
    default: return &llm_kernels_scalar;
    }
}
