/* Names of the kernel path and of the linked BLAS libraries. */
#include <blis.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdio.h>

#include "kernels/kernels.h"

/* Written once under pthread_once, read-only afterwards. BLIS 0.9 picks its kernel set
 * ("sub-configuration") from the CPU at run time, or from the numeric BLIS_ARCH_TYPE environment
 * variable read once at BLIS initialisation (0 = skx, 6 = zen3, see arch_t in blis.h); the name
 * reported is the one it selected. The library does not override it: on the Zen 4 development
 * machine the skx (AVX-512) kernels were slower than zen3 (kernels/cpu/matmul.c). */
static pthread_once_t g_info_once = PTHREAD_ONCE_INIT;
static char g_info[160];

static void make_info(void) {
    const dnnl_version_t *v = dnnl_version();
    /* bli_arch_query_id before BLIS is initialised aborts when BLIS_ARCH_TYPE is set (BLIS 0.9
     * looks the requested context up in a not yet filled table); bli_init is idempotent. */
    bli_init();
    snprintf(g_info, sizeof g_info, "BLIS %s (%s sub-configuration), oneDNN %d.%d.%d", bli_info_get_version_str(),
             bli_arch_string(bli_arch_query_id()), v ? v->major : 0, v ? v->minor : 0, v ? v->patch : 0);
}

const char *llm_kernels_blas_info(void) {
    pthread_once(&g_info_once, make_info);
    return g_info;
}
