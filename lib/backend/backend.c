/* The plugin registry: finds libllm-cuda.so, dlopen()s it and checks its ABI, once per process.
 *
 * Where the plugin is looked for, in order:
 *   1. LLM_BACKEND_PATH, when set and not empty: a plugin file, or a directory holding
 *      libllm-cuda.so. It is an explicit choice, so nothing else is tried when it fails (a
 *      fallback would hide the mistake).
 *   2. The directory of the loaded libllm.so (dladdr on one of its own functions), so that an
 *      installed or a freshly built library finds the plugin built beside it, with no search path
 *      to configure. When the core is linked statically into a program, that is the program's
 *      directory.
 * Every failure is recorded as the reason the backend is unavailable (llm_backend_describe and
 * the context's log line show it); nothing here can crash or stop the process. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"

#define PATH_CAP 1024
#define REASON_CAP 2048

typedef struct plugin_slot {
    const llm_plugin_api *api; /* non-NULL once loaded, checked and initialised */
    void *handle;
    char path[PATH_CAP];
    char reason[REASON_CAP];
} plugin_slot;

/* The registry (see backend.h): written only inside load_all, which pthread_once runs exactly
 * once; read-only afterwards, so readers need no lock. */
static plugin_slot g_cuda;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Chooses the file to load; 0 with slot->reason set when there is none. */
static int locate(plugin_slot *slot, const char *file_name) {
    const char *env = getenv("LLM_BACKEND_PATH");
    if (env && *env) {
        if (is_dir(env)) snprintf(slot->path, PATH_CAP, "%s/%s", env, file_name);
        else snprintf(slot->path, PATH_CAP, "%s", env);
        if (!exists(slot->path)) {
            snprintf(slot->reason, REASON_CAP, "LLM_BACKEND_PATH=%s: %s does not exist", env, slot->path);
            return 0;
        }
        return 1;
    }
    Dl_info info;
    memset(&info, 0, sizeof info);
    if (!dladdr((void *)(uintptr_t)&llm_version, &info) || !info.dli_fname) {
        snprintf(slot->reason, REASON_CAP, "cannot tell where libllm is loaded from, and LLM_BACKEND_PATH is not set");
        return 0;
    }
    const char *slash = strrchr(info.dli_fname, '/');
    if (slash) snprintf(slot->path, PATH_CAP, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, file_name);
    else snprintf(slot->path, PATH_CAP, "%s", file_name);
    if (!exists(slot->path)) {
        snprintf(slot->reason, REASON_CAP, "%s not found next to %s (set LLM_BACKEND_PATH to its file or directory)",
                 file_name, info.dli_fname);
        return 0;
    }
    return 1;
}

/* Loads and checks the plugin at slot->path; 0 with slot->reason set on failure. A library,
 * once opened, is never closed: its constructors may have registered exit handlers (the CUDA
 * runtime does) that would then point into unmapped code. */
static int load(plugin_slot *slot, const char *backend_name) {
    dlerror();
    void *h = dlopen(slot->path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(slot->reason, REASON_CAP, "cannot load %s: %s", slot->path, e ? e : "unknown dlopen error");
        return 0;
    }
    slot->handle = h;
    void *sym = dlsym(h, LLM_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        snprintf(slot->reason, REASON_CAP, "%s is not a libllm backend plugin (no symbol %s)", slot->path,
                 LLM_PLUGIN_ENTRY_SYMBOL);
        return 0;
    }
    llm_plugin_entry_fn entry;
    memcpy(&entry, &sym, sizeof entry); /* object to function pointer: the POSIX-sanctioned way */
    const llm_plugin_api *api = entry(LLM_PLUGIN_ABI_VERSION);
    if (!api) {
        snprintf(slot->reason, REASON_CAP, "%s supports no plugin ABI this libllm knows (version %u)", slot->path,
                 LLM_PLUGIN_ABI_VERSION);
        return 0;
    }
    if (api->abi_version != LLM_PLUGIN_ABI_VERSION) {
        snprintf(slot->reason, REASON_CAP, "%s was built for plugin ABI version %u; this libllm needs version %u",
                 slot->path, api->abi_version, LLM_PLUGIN_ABI_VERSION);
        return 0;
    }
    if (api->struct_size < LLM_PLUGIN_API_MIN_SIZE) {
        snprintf(slot->reason, REASON_CAP, "%s: plugin table of %u bytes, this libllm needs %zu (plugin too old)",
                 slot->path, api->struct_size, (size_t)LLM_PLUGIN_API_MIN_SIZE);
        return 0;
    }
    if (!api->name || strcmp(api->name, backend_name) != 0) {
        snprintf(slot->reason, REASON_CAP, "%s is a plugin for backend '%s', not '%s'", slot->path,
                 api->name ? api->name : "(null)", backend_name);
        return 0;
    }
    if (!api->init || !api->device_count || !api->device_info || !api->model_upload || !api->model_free ||
        !api->session_new || !api->session_free || !api->session_forward) {
        snprintf(slot->reason, REASON_CAP, "%s: the plugin table lacks required functions", slot->path);
        return 0;
    }
    char err[512] = "";
    int st = api->init(err, sizeof err);
    err[sizeof err - 1] = 0;
    if (st != LLM_OK) {
        snprintf(slot->reason, REASON_CAP, "%s: %s", slot->path, err[0] ? err : "initialisation failed");
        return 0;
    }
    if (api->device_count() < 1) {
        snprintf(slot->reason, REASON_CAP, "%s: no device", slot->path);
        return 0;
    }
    slot->api = api;
    snprintf(slot->reason, REASON_CAP, "loaded from %s (%s)", slot->path, api->description ? api->description : "");
    return 1;
}

static void load_all(void) {
    if (locate(&g_cuda, LLM_CUDA_PLUGIN_FILE)) load(&g_cuda, "cuda");
}

const llm_plugin_api *llm_backend_plugin(llm_backend backend, const char **why) {
    if (backend != LLM_BACKEND_CUDA) {
        if (why) *why = "not a plugin backend";
        return NULL;
    }
    pthread_once(&g_once, load_all);
    if (why) *why = g_cuda.reason;
    return g_cuda.api;
}

const char *llm_backend_plugin_path(llm_backend backend) {
    if (backend != LLM_BACKEND_CUDA) return "";
    pthread_once(&g_once, load_all);
    return g_cuda.api ? g_cuda.path : "";
}
