/* kernels/cpu/scalar/exp_f32.h against double precision: llm_exp_f32 within 2 ulp of exp on a
 * dense sweep of [-87.3, 88.3] and at its range ends (0 below, +inf above, NaN through), SiLU and
 * tanh-GELU within a few ulp of their double-precision values (GELU in units of 0.5 |x| 2^-23:
 * its 1 + tanh sum has an absolute error of a few 2^-24, as with libm's tanhf), and the exported llm_silu / llm_gelu_tanh / llm_softmax equal to
 * the inline forms bit for bit; llm_glu on every runnable instruction-set path and thread count
 * equal to the scalar inline forms bit for bit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/scalar/exp_f32.h"
#include "kernels/kernels.h"

static int failures = 0;
#define CHECK(c, ...)                                                                                                  \
    do {                                                                                                               \
        if (!(c)) {                                                                                                    \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                                            \
            fprintf(stderr, __VA_ARGS__);                                                                              \
            fputc('\n', stderr);                                                                                       \
            failures++;                                                                                                \
        }                                                                                                              \
    } while (0)

/* |got - want| in units of the f32 spacing at want */
static double ulps(float got, double want) {
    const double spacing = ldexp(1.0, (want == 0.0 ? -149 : ilogb(want)) - 23);
    return fabs((double)got - want) / spacing;
}

static unsigned bits(float f) {
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}

int main(void) {
    double worst = 0.0, worst_x = 0.0;
    for (double x = -87.3; x <= 88.3; x += 1.0 / 1024) {
        const float xf = (float)x;
        const double u = ulps(llm_exp_f32(xf), exp((double)xf));
        if (u > worst) worst = u, worst_x = xf;
    }
    unsigned state = 12345;
    for (int i = 0; i < 1000000; i++) { /* random bit patterns in the range */
        state = state * 1664525u + 1013904223u;
        const float xf = -87.3f + 175.6f * (float)(state >> 8) / 16777216.0f;
        const double u = ulps(llm_exp_f32(xf), exp((double)xf));
        if (u > worst) worst = u, worst_x = xf;
    }
    printf("llm_exp_f32: worst %.3f ulp at x = %.9g\n", worst, worst_x);
    CHECK(worst <= 2.0, "exp error %.3f ulp at %.9g", worst, worst_x);
    CHECK(llm_exp_f32(0.0f) == 1.0f, "exp(0) = %.9g", llm_exp_f32(0.0f));
    CHECK(llm_exp_f32(-100.0f) == 0.0f && llm_exp_f32(-INFINITY) == 0.0f, "exp of very negative x is not 0");
    CHECK(isinf(llm_exp_f32(89.0f)) && isinf(llm_exp_f32(INFINITY)), "exp of large x is not inf");
    CHECK(isnan(llm_exp_f32(NAN)), "exp(NaN) is not NaN");

    double ws = 0.0, wg = 0.0;
    for (double x = -30.0; x <= 30.0; x += 1.0 / 4096) {
        const float xf = (float)x;
        const double sil = (double)xf / (1.0 + exp(-(double)xf));
        const double y = 0.7978845608028654 * ((double)xf + 0.044715 * (double)xf * xf * xf);
        const double gel = 0.5 * xf * (1.0 + tanh(y));
        const double es = fabs(sil) > 1e-30 ? ulps(llm_silu_f32(xf), sil) : 0.0;
        /* GELU = 0.5 x (1 + tanh): the f32 sum 1 + tanh carries an absolute error of a few 2^-24
         * (so does the libm tanhf form), hence the error in units of 0.5 |x| 2^-23 */
        const double eg = xf != 0.0f ? fabs((double)llm_gelu_tanh_f32(xf) - gel) / (0.5 * fabs((double)xf) * ldexp(1.0, -23)) : 0.0;
        if (es > ws) ws = es;
        if (eg > wg) wg = eg;
        CHECK(bits(llm_silu(xf)) == bits(llm_silu_f32(xf)) && bits(llm_gelu_tanh(xf)) == bits(llm_gelu_tanh_f32(xf)),
              "exported activation differs from the inline form at %.9g", xf);
    }
    printf("silu: worst %.3f ulp; gelu_tanh: worst %.3f units of 0.5 |x| 2^-23\n", ws, wg);
    CHECK(ws <= 4.0, "silu error %.3f ulp", ws);
    CHECK(wg <= 4.0, "gelu error %.3f units", wg);
    CHECK(llm_silu_f32(-200.0f) == 0.0f && llm_silu_f32(200.0f) == 200.0f, "silu at the ends");

    float v[5] = {1.0f, 2.0f, 3.0f, -INFINITY, 0.5f};
    llm_softmax(v, 5);
    double sm = 0.0;
    for (int i = 0; i < 5; i++) sm += v[i];
    CHECK(fabs(sm - 1.0) < 1e-6 && v[3] == 0.0f, "softmax sums to %.9g", sm);

    /* llm_glu on every runnable path (the per-path copies of the loop, kernels/cpu/rows.c) and on
     * the pool (1 and 2 threads): bit for bit the scalar inline forms, including NaN / inf and the
     * saturated ends; 37 elements (calling thread) and 16384 + 37 (pool, a partial last vector) */
    const int64_t lens[2] = {37, 16384 + 37};
    for (int li = 0; li < 2; li++) {
        const int64_t n = lens[li];
        float *g = malloc(sizeof(float) * (size_t)n), *u = malloc(sizeof(float) * (size_t)n);
        float *want = malloc(sizeof(float) * (size_t)n), *got = malloc(sizeof(float) * (size_t)n);
        if (!g || !u || !want || !got) {
            CHECK(0, "out of memory");
            return 1;
        }
        for (int gelu = 0; gelu < 2; gelu++) {
            for (int64_t i = 0; i < n; i++) {
                state = state * 1664525u + 1013904223u;
                g[i] = (float)((double)(state >> 8) / 16777216.0 * 60.0 - 30.0);
                u[i] = (float)((double)(state & 255) / 64.0 - 2.0);
            }
            g[0] = NAN, g[1] = INFINITY, g[2] = -INFINITY, g[3] = -200.0f, g[4] = 200.0f, g[5] = -0.0f;
            for (int64_t i = 0; i < n; i++) want[i] = (gelu ? llm_gelu_tanh_f32(g[i]) : llm_silu_f32(g[i])) * u[i];
            for (int isa = 0; isa <= LLM_ISA_NEON; isa++)
                for (int nth = 1; nth <= 2; nth++) {
                    if (!llm_isa_runnable((llm_isa)isa)) continue;
                    llm_pool *pool = llm_pool_new(nth);
                    if (!pool) continue;
                    llm_pool_set_isa(pool, (llm_isa)isa);
                    memcpy(got, g, sizeof(float) * (size_t)n);
                    llm_glu(gelu, got, u, n, pool);
                    int bad = 0;
                    for (int64_t i = 0; i < n; i++) bad += isnan(want[i]) ? !isnan(got[i]) : bits(got[i]) != bits(want[i]);
                    CHECK(bad == 0, "llm_glu (%s) on %s, %d threads, n = %lld: %d elements differ", gelu ? "gelu" : "silu",
                          llm_isa_name((llm_isa)isa), nth, (long long)n, bad);
                    llm_pool_free(pool);
                }
        }
        free(g), free(u), free(want), free(got);
    }
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
