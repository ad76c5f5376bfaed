/* The options object: typed values with bounds, shared by model, context and session creation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

typedef struct option_spec {
    llm_option key;
    int is_int;
    double min, max, def;
    const char *name;
} option_spec;

/* Bounds are generous but finite so that a typo cannot ask for absurd resources. */
static const option_spec k_specs[] = {
    {LLM_OPT_THREADS, 1, 0, 512, 0, "threads"},
    {LLM_OPT_CONTEXT_SIZE, 1, 0, 1 << 24, 0, "context_size"},
    {LLM_OPT_BACKEND, 1, LLM_BACKEND_AUTO, LLM_BACKEND_CUDA, LLM_BACKEND_AUTO, "backend"},
    {LLM_OPT_MAX_SESSIONS, 1, 1, 4096, 8, "max_sessions"},
    {LLM_OPT_PRECISION, 1, LLM_PRECISION_FAST, LLM_PRECISION_EXACT, LLM_PRECISION_FAST, "precision"},
    {LLM_OPT_KV_TYPE, 1, LLM_KV_F32, LLM_KV_Q8_0, LLM_KV_F32, "kv_type"},
    {LLM_OPT_MEMORY_LIMIT, 1, 0, 9007199254740991.0, 0, "memory_limit"},
    {LLM_OPT_PREFIX_CACHE, 1, -1, 9007199254740991.0, -1, "prefix_cache"},
    {LLM_OPT_CONTEXT_SHIFT, 1, LLM_SHIFT_NONE, LLM_SHIFT_RECOMPUTE, LLM_SHIFT_NONE, "context_shift"},
    {LLM_OPT_SHIFT_KEEP, 1, -1, 1 << 24, -1, "shift_keep"},
    {LLM_OPT_TEMPERATURE, 0, 0, 100, 0.8, "temperature"},
    {LLM_OPT_TOP_K, 1, 0, 1 << 30, 40, "top_k"},
    {LLM_OPT_TOP_P, 0, 0, 1, 0.95, "top_p"},
    {LLM_OPT_MIN_P, 0, 0, 1, 0.05, "min_p"},
    {LLM_OPT_REPEAT_PENALTY, 0, 0, 100, 1.0, "repeat_penalty"},
    {LLM_OPT_FREQUENCY_PENALTY, 0, -100, 100, 0, "frequency_penalty"},
    {LLM_OPT_PRESENCE_PENALTY, 0, -100, 100, 0, "presence_penalty"},
    {LLM_OPT_PENALTY_LAST_N, 1, 0, 1 << 24, 64, "penalty_last_n"},
    {LLM_OPT_SEED, 1, 0, 9007199254740991.0, 0xC0FFEE, "seed"},
    {LLM_OPT_MAX_TOKENS, 1, 0, 1 << 24, 0, "max_tokens"},
    {LLM_OPT_ALL_LOGITS, 1, 0, 1, 0, "all_logits"},
    /* Depth is capped well below what would exhaust a small thread stack (the interpreter
     * recurses once or a few times per level). */
    {LLM_OPT_TEMPLATE_MAX_STEPS, 1, 1, 1e9, 1000000, "template_max_steps"},
    {LLM_OPT_TEMPLATE_MAX_DEPTH, 1, 1, 256, 64, "template_max_depth"},
    {LLM_OPT_TEMPLATE_MAX_OUTPUT, 1, 1, 1 << 30, 4 << 20, "template_max_output"},
    {LLM_OPT_TEMPLATE_MAX_MEMORY, 1, 1 << 20, 4294967296.0, 64 << 20, "template_max_memory"},
    {LLM_OPT_TOP_LOGPROBS, 1, -1, 20, -1, "top_logprobs"},
    {LLM_OPT_USE_MMAP, 1, 0, 1, 1, "use_mmap"},
    {LLM_OPT_REPACK, 1, 0, 1, 1, "repack"},
};

static const option_spec *find_spec(llm_option key) {
    for (size_t i = 0; i < sizeof k_specs / sizeof k_specs[0]; i++)
        if (k_specs[i].key == key) return &k_specs[i];
    return NULL;
}

llm_options *llm_options_new(void) {
    llm_options *o = calloc(1, sizeof *o);
    if (o) o->h.magic = LLM_MAGIC_OPTIONS;
    return o;
}

void llm_options_free(llm_options *o) {
    if (!o) return;
    o->h.magic = 0;
    free(o);
}

llm_status llm_option_bounds(llm_option key, double *min_value, double *max_value) {
    const option_spec *s = find_spec(key);
    if (!s) return LLM_ERR_INVALID_ARGUMENT;
    if (min_value) *min_value = s->min;
    if (max_value) *max_value = s->max;
    return LLM_OK;
}

static llm_status set_value(llm_options *o, llm_option key, double v, int from_int) {
    if (!o || o->h.magic != LLM_MAGIC_OPTIONS) return LLM_ERR_INVALID_ARGUMENT;
    const option_spec *s = find_spec(key);
    if (!s) return llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "unknown option key %d", (int)key);
    if (!from_int && s->is_int)
        return llm_fail(&o->h, LLM_ERR_TYPE_MISMATCH, "option %s takes an integer", s->name);
    if (isnan(v) || v < s->min || v > s->max)
        return llm_fail(&o->h, LLM_ERR_INVALID_ARGUMENT, "option %s = %g is outside [%g, %g]", s->name,
                        v, s->min, s->max);
    o->is_set[key] = 1;
    o->value[key] = v;
    return LLM_OK;
}

llm_status llm_options_set_int(llm_options *o, llm_option key, int64_t value) {
    return set_value(o, key, (double)value, 1);
}

llm_status llm_options_set_float(llm_options *o, llm_option key, double value) {
    return set_value(o, key, value, 0);
}

double llm_options_value(const llm_options *o, llm_option key) {
    const option_spec *s = find_spec(key);
    if (!s) return 0;
    if (o && o->h.magic == LLM_MAGIC_OPTIONS && (unsigned)key < LLM_OPT_SLOTS && o->is_set[key])
        return o->value[key];
    return s->def;
}

llm_status llm_options_get_int(const llm_options *o, llm_option key, int64_t *value) {
    const option_spec *s = find_spec(key);
    if (!s || !value) return LLM_ERR_INVALID_ARGUMENT;
    if (!s->is_int) return LLM_ERR_TYPE_MISMATCH;
    *value = (int64_t)llm_options_value(o, key);
    return LLM_OK;
}

llm_status llm_options_get_float(const llm_options *o, llm_option key, double *value) {
    const option_spec *s = find_spec(key);
    if (!s || !value) return LLM_ERR_INVALID_ARGUMENT;
    *value = llm_options_value(o, key);
    return LLM_OK;
}

void llm_options_set_log(llm_options *o, llm_log_fn fn, void *user_data) {
    if (!o || o->h.magic != LLM_MAGIC_OPTIONS) return;
    o->log = fn;
    o->log_ud = user_data;
}

void llm_options_set_progress(llm_options *o, llm_progress_fn fn, void *user_data) {
    if (!o || o->h.magic != LLM_MAGIC_OPTIONS) return;
    o->progress = fn;
    o->progress_ud = user_data;
}

llm_status llm_option_check(llm_option key, double v, int is_int, llm_err *err) {
    /* an options object of its own, so that the bounds and messages are those of the setters */
    llm_options tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.h.magic = LLM_MAGIC_OPTIONS;
    llm_status st;
    if (is_int && !(v >= -9.2e18 && v <= 9.2e18)) /* NaN, or no int64 to convert to */
        st = llm_err_set(&tmp.h.err, LLM_ERR_INVALID_ARGUMENT, "option %d = %g is not an integer value", (int)key, v);
    else
        st = is_int ? llm_options_set_int(&tmp, key, (int64_t)v) : llm_options_set_float(&tmp, key, v);
    if (st != LLM_OK && err) *err = tmp.h.err;
    return st;
}
