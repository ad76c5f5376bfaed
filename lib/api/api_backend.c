/* llm_backend_*: what the process can run on (the CPU, and the CUDA plugin when it loaded). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "backend/backend.h"

const char *llm_backend_name(llm_backend b) {
    switch (b) {
    case LLM_BACKEND_AUTO: return "auto";
    case LLM_BACKEND_CPU: return "cpu";
    case LLM_BACKEND_CUDA: return "cuda";
    default: return "";
    }
}

int llm_backend_available(llm_backend b) {
    if (b == LLM_BACKEND_CPU) return 1;
    return llm_backend_plugin(b, NULL) != NULL;
}

llm_status llm_backend_describe(llm_backend b, char *buffer, size_t capacity, size_t *needed) {
    char line[2304];
    if (b == LLM_BACKEND_CPU) {
        snprintf(line, sizeof line, "built in (%s kernels; %s)", llm_isa_name(llm_isa_best()), llm_kernels_blas_info());
    } else if (b == LLM_BACKEND_CUDA) {
        const char *why = "";
        llm_backend_plugin(b, &why);
        snprintf(line, sizeof line, "%s", why);
    } else {
        return LLM_ERR_INVALID_ARGUMENT;
    }
    return llm_copy_out(line, strlen(line), buffer, capacity, needed);
}

int32_t llm_backend_device_count(llm_backend b) {
    if (b == LLM_BACKEND_CPU) return 1;
    const llm_plugin_api *api = llm_backend_plugin(b, NULL);
    return api ? api->device_count() : 0;
}

static uint64_t pages_bytes(int name) {
    long pages = sysconf(name), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
}

llm_status llm_backend_device_name(llm_backend b, int32_t device, char *buffer, size_t capacity, size_t *needed) {
    char name[256] = "";
    if (b == LLM_BACKEND_CPU) {
        if (device != 0) return LLM_ERR_INVALID_ARGUMENT;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        snprintf(name, sizeof name, "cpu (%ld cores, %s kernels)", n, llm_isa_name(llm_isa_best()));
    } else {
        const llm_plugin_api *api = llm_backend_plugin(b, NULL);
        if (!api || device < 0 || device >= api->device_count()) return LLM_ERR_INVALID_ARGUMENT;
        char err[256];
        uint64_t t, f;
        int st = api->device_info(device, name, sizeof name, &t, &f, err, sizeof err);
        if (st != LLM_OK) return LLM_ERR_BACKEND;
        name[sizeof name - 1] = 0;
    }
    return llm_copy_out(name, strlen(name), buffer, capacity, needed);
}

llm_status llm_backend_device_memory(llm_backend b, int32_t device, uint64_t *total_bytes, uint64_t *free_bytes) {
    uint64_t t = 0, f = 0;
    if (b == LLM_BACKEND_CPU) {
        if (device != 0) return LLM_ERR_INVALID_ARGUMENT;
        t = pages_bytes(_SC_PHYS_PAGES);
        f = pages_bytes(_SC_AVPHYS_PAGES);
    } else {
        const llm_plugin_api *api = llm_backend_plugin(b, NULL);
        if (!api || device < 0 || device >= api->device_count()) return LLM_ERR_INVALID_ARGUMENT;
        char name[8], err[256];
        if (api->device_info(device, name, sizeof name, &t, &f, err, sizeof err) != LLM_OK) return LLM_ERR_BACKEND;
    }
    if (total_bytes) *total_bytes = t;
    if (free_bytes) *free_bytes = f;
    return LLM_OK;
}
