/* The backend registry of the core: finds, loads and checks device plugins (backend_plugin.h),
 * and turns an llm_arch_model into the plugin's model view. Used by lib/api/ only.
 *
 * State: one process-wide registry, filled lazily on first use under a pthread_once and never
 * changed or unloaded afterwards (a plugin's code may be running in any session; unloading it
 * safely would need reference counting across every handle for no gain). This is the only
 * global state of the library. The environment variable LLM_BACKEND_PATH is read once, then. */
#ifndef LLM_BACKEND_H
#define LLM_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend_plugin.h"
#include "llm.h"
#include "model/model.h"
#include "util/common.h"

/* File name of the CUDA plugin, looked for next to libllm.so. */
#define LLM_CUDA_PLUGIN_FILE "libllm-cuda.so"

/* The plugin serving `backend` (LLM_BACKEND_CUDA in this version), loaded and initialised, or
 * NULL with *why (if why is not NULL) pointing to the static reason it is unavailable. Loads the
 * registry on first call. Thread-safe. */
const llm_plugin_api *llm_backend_plugin(llm_backend backend, const char **why);
/* Where the plugin of `backend` was loaded from ("" if not loaded). */
const char *llm_backend_plugin_path(llm_backend backend);

/* A model view with the storage it points into (the layers array). */
typedef struct llm_backend_view {
    llm_plugin_model_view view;
    llm_plugin_layer *layers;
    uint64_t weight_bytes; /* bytes of every tensor the plugin will copy */
} llm_backend_view;

/* Builds the view of m for `api`: LLM_ERR_UNSUPPORTED with the reason in err when the model's
 * architecture is not whitelisted, or it uses a feature or a tensor type that api does not
 * declare. The view points into m (valid while m lives). */
llm_status llm_backend_view_build(const llm_arch_model *m, const llm_plugin_api *api, llm_backend_view *out,
                                  llm_err *err);
void llm_backend_view_free(llm_backend_view *v);

#endif
