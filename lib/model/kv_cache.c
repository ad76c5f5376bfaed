/* Per-session state: the KV cache, in pages of LLM_KV_PAGE positions (model_internal.h), and the
 * scratch buffers of the forward pass.
 *
 * Why pages: sessions of a context that start with the same prompt share that prompt's pages
 * (the context's prefix cache holds references to them), so a long system prompt is stored
 * once; and a session only holds memory for the positions it has used. A page is reference
 * counted; whoever writes into a page that someone else also holds copies it first (the writer
 * then owns a private copy), so sharing is invisible to the forward pass.
 *
 * Element types: F32 (the reference), F16 and Q8_0, written by the quantizer's row encoders
 * (lib/quantize) as each position is stored and read back by the attention kernel, which
 * converts a block of keys at a time. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "quantize/quantize.h"

struct llm_kv_page {
    atomic_int refs;
    llm_kv_domain *dom;
    size_t bytes;
    /* the data follows, 64-byte aligned */
};

#define PAGE_HEADER 64 /* bytes before a page's data: keeps it 64-byte aligned */

static unsigned char *page_data(const llm_kv_page *p) { return (unsigned char *)p + PAGE_HEADER; }

size_t llm_kv_page_bytes(const llm_kv_state *kv) {
    return (size_t)kv->n_layer * LLM_KV_PAGE * (kv->k_rb + kv->v_rb);
}

int32_t llm_kv_page_positions(void) { return LLM_KV_PAGE; }

static llm_kv_page *page_alloc(const llm_kv_state *kv) {
    const size_t bytes = llm_kv_page_bytes(kv);
    llm_kv_page *p = aligned_alloc(64, (PAGE_HEADER + bytes + 63) & ~(size_t)63);
    if (!p) return NULL;
    atomic_init(&p->refs, 1);
    p->dom = kv->dom;
    p->bytes = bytes;
    if (p->dom) atomic_fetch_add(&p->dom->bytes, (int64_t)bytes);
    return p;
}

static void page_unref(llm_kv_page *p) {
    if (!p) return;
    if (atomic_fetch_sub(&p->refs, 1) == 1) {
        if (p->dom) atomic_fetch_sub(&p->dom->bytes, (int64_t)p->bytes);
        free(p);
    }
}

static uint32_t dtype_of(int kv_type) {
    return kv_type == 1 ? LLM_DT_F16 : kv_type == 2 ? LLM_DT_Q8_0 : LLM_DT_F32;
}

llm_status llm_kv_new_typed(const llm_arch_model *m, int32_t n_ctx, int kv_type, llm_kv_domain *dom,
                            llm_kv_state **out, llm_err *err) {
    if (!out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_new: out is NULL");
    *out = NULL;
    if (!m) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_new: model is NULL");
    if (n_ctx < 1 || n_ctx > LLM_MAX_CTX)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "context size %d is out of range [1, %d]", n_ctx,
                           LLM_MAX_CTX);
    if (kv_type < 0 || kv_type > 2) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "unknown KV type %d", kv_type);
    const llm_hparams *hp = &m->hp;
    if (kv_type == 2 && (hp->head_dim_k % 32 || hp->head_dim_v % 32))
        return llm_err_set(err, LLM_ERR_UNSUPPORTED,
                           "a Q8_0 KV cache needs head dimensions that are multiples of 32 (this model: %d and %d)",
                           hp->head_dim_k, hp->head_dim_v);
    llm_kv_state *kv = calloc(1, sizeof *kv);
    if (!kv) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    kv->n_ctx = n_ctx;
    kv->n_layer = hp->n_layer;
    kv->k_row = (int64_t)hp->n_head_kv * hp->head_dim_k;
    kv->v_row = (int64_t)hp->n_head_kv * hp->head_dim_v;
    kv->type = kv_type;
    kv->dtype = dtype_of(kv_type);
    kv->k_rb = llm_dtype_row_bytes(kv->dtype, kv->k_row);
    kv->v_rb = llm_dtype_row_bytes(kv->dtype, kv->v_row);
    kv->dom = dom;
    kv->n_pages = (n_ctx + LLM_KV_PAGE - 1) / LLM_KV_PAGE;
    /* the page size must stay far from overflowing (the hyper-parameters are bounded, and a
     * page is what one position costs times LLM_KV_PAGE) */
    if (kv->k_rb == 0 || kv->v_rb == 0 || (kv->k_rb + kv->v_rb) > SIZE_MAX / LLM_KV_PAGE / (size_t)(hp->n_layer + 1)) {
        const long long k_row = (long long)kv->k_row;
        free(kv);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "KV cache rows of %lld elements are too large", k_row);
    }
    kv->pages = calloc((size_t)kv->n_pages, sizeof *kv->pages);
    kv->kptr = calloc((size_t)kv->n_pages, sizeof *kv->kptr);
    kv->vptr = calloc((size_t)kv->n_pages, sizeof *kv->vptr);
    if (!kv->pages || !kv->kptr || !kv->vptr) {
        llm_kv_free(kv);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for a KV cache of %d positions", n_ctx);
    }
    *out = kv;
    return LLM_OK;
}

llm_status llm_kv_new(const llm_arch_model *m, int32_t n_ctx, llm_kv_state **out, llm_err *err) {
    return llm_kv_new_typed(m, n_ctx, 0, NULL, out, err);
}

void llm_kv_free(llm_kv_state *kv) {
    if (!kv) return;
    for (int32_t i = 0; kv->pages && i < kv->n_pages; i++) page_unref(kv->pages[i]);
    free(kv->pages);
    free(kv->kptr);
    free(kv->vptr);
    free(kv->scratch);
    free(kv->fw.tokens);
    free(kv);
}

void llm_kv_truncate(llm_kv_state *kv, int32_t n_keep) {
    if (!kv) return;
    kv->fw.active = 0; /* a computation in flight is discarded: its positions may be gone */
    if (n_keep < 0) n_keep = 0;
    if (n_keep < kv->n_past) kv->n_past = n_keep;
    /* pages wholly past the kept positions go (a shared prefix's pages stay with their holders) */
    for (int32_t i = (kv->n_past + LLM_KV_PAGE - 1) / LLM_KV_PAGE; i < kv->n_pages; i++) {
        page_unref(kv->pages[i]);
        kv->pages[i] = NULL;
    }
}

int32_t llm_kv_n_past(const llm_kv_state *kv) { return kv ? kv->n_past : 0; }
int32_t llm_kv_n_ctx(const llm_kv_state *kv) { return kv ? kv->n_ctx : 0; }

/* Page pidx, allocated and owned by kv alone (copied when shared). */
static llm_status own_page(llm_kv_state *kv, int32_t pidx, llm_err *err) {
    llm_kv_page *p = kv->pages[pidx];
    if (p && atomic_load(&p->refs) == 1) return LLM_OK;
    llm_kv_page *fresh = page_alloc(kv);
    if (!fresh)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for a KV cache page (%zu KiB)",
                           llm_kv_page_bytes(kv) >> 10);
    if (p) {
        memcpy(page_data(fresh), page_data(p), p->bytes);
        page_unref(p);
    }
    kv->pages[pidx] = fresh;
    return LLM_OK;
}

llm_status llm_kv_reserve(llm_kv_state *kv, int32_t pos0, int32_t n, llm_err *err) {
    if (n <= 0) return LLM_OK;
    for (int32_t i = pos0 / LLM_KV_PAGE; i <= (pos0 + n - 1) / LLM_KV_PAGE; i++) {
        llm_status st = own_page(kv, i, err);
        if (st) return st;
    }
    return LLM_OK;
}

/* Byte offsets in a page of layer il's K rows and V rows (the page layout, model_internal.h). */
static size_t k_offset(const llm_kv_state *kv, int32_t il) { return (size_t)il * LLM_KV_PAGE * kv->k_rb; }
static size_t v_offset(const llm_kv_state *kv, int32_t il) {
    return (size_t)kv->n_layer * LLM_KV_PAGE * kv->k_rb + (size_t)il * LLM_KV_PAGE * kv->v_rb;
}

static unsigned char *row_k(const llm_kv_state *kv, int32_t il, int32_t pos) {
    return page_data(kv->pages[pos / LLM_KV_PAGE]) + k_offset(kv, il) + (size_t)(pos % LLM_KV_PAGE) * kv->k_rb;
}

static unsigned char *row_v(const llm_kv_state *kv, int32_t il, int32_t pos) {
    return page_data(kv->pages[pos / LLM_KV_PAGE]) + v_offset(kv, il) + (size_t)(pos % LLM_KV_PAGE) * kv->v_rb;
}

static void store_row(uint32_t dtype, unsigned char *dst, const float *src, int64_t n) {
    if (dtype == LLM_DT_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else llm_quantize_row(dtype, src, dst, n);
}

void llm_kv_store(llm_kv_state *kv, int32_t il, int32_t pos, const float *k, const float *v) {
    store_row(kv->dtype, row_k(kv, il, pos), k, kv->k_row);
    store_row(kv->dtype, row_v(kv, il, pos), v, kv->v_row);
}

void llm_kv_layer_pages(llm_kv_state *kv, int32_t il, int32_t n_pos) {
    const int32_t np = (n_pos + LLM_KV_PAGE - 1) / LLM_KV_PAGE;
    for (int32_t i = 0; i < np && i < kv->n_pages; i++) {
        if (!kv->pages[i]) {
            kv->kptr[i] = kv->vptr[i] = NULL;
            continue;
        }
        kv->kptr[i] = row_k(kv, il, i * LLM_KV_PAGE);
        kv->vptr[i] = row_v(kv, il, i * LLM_KV_PAGE);
    }
}

float *llm_kv_scratch(llm_kv_state *kv, size_t n) {
    if (n <= kv->scratch_floats) return kv->scratch;
    if (n > SIZE_MAX / sizeof(float)) return NULL;
    float *p = realloc(kv->scratch, n * sizeof(float));
    if (!p) return NULL;
    kv->scratch = p;
    kv->scratch_floats = n;
    return p;
}

/* ---- context shift ---- */

llm_status llm_kv_shift(const llm_arch_model *m, llm_kv_state *kv, int32_t n_keep, int32_t n_discard, llm_err *err) {
    if (!m || !kv || n_keep < 0 || n_discard < 1 || (int64_t)n_keep + n_discard > kv->n_past)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_shift: nothing to drop");
    kv->fw.active = 0;
    const int32_t n_new = kv->n_past - n_discard;
    llm_status st = llm_kv_reserve(kv, n_keep, n_new - n_keep, err);
    if (st) return st;
    const llm_hparams *hp = &m->hp;
    float *tmp = malloc((size_t)(kv->k_row > kv->v_row ? kv->k_row : kv->v_row) * sizeof(float));
    if (!tmp) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t il = 0; il < kv->n_layer; il++) {
        const llm_rope_params rope = llm_rope_for_ctx(&m->layers[il].rope, kv->n_ctx);
        /* ascending: the row written at p - n_discard was read earlier (or is dropped) */
        for (int32_t p = n_keep + n_discard; p < kv->n_past; p++) {
            const unsigned char *src = row_k(kv, il, p);
            if (kv->dtype == LLM_DT_F32) memcpy(tmp, src, kv->k_rb);
            else llm_dequantize_row(kv->dtype, src, tmp, kv->k_row);
            llm_rope_shift(tmp, hp->n_head_kv, hp->head_dim_k, -(int64_t)n_discard, &rope);
            store_row(kv->dtype, row_k(kv, il, p - n_discard), tmp, kv->k_row);
            memmove(row_v(kv, il, p - n_discard), row_v(kv, il, p), kv->v_rb);
        }
    }
    free(tmp);
    kv->n_past = n_new;
    llm_kv_truncate(kv, n_new); /* frees the pages past the end */
    return LLM_OK;
}

/* ---- shared prefixes ---- */

llm_status llm_kv_pages_ref(llm_kv_state *kv, int32_t n_pages, llm_kv_page ***out, llm_err *err) {
    *out = NULL;
    if (n_pages < 1 || (int64_t)n_pages * LLM_KV_PAGE > kv->n_past)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_pages_ref: %d pages are not all filled", n_pages);
    llm_kv_page **pp = malloc((size_t)n_pages * sizeof *pp);
    if (!pp) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t i = 0; i < n_pages; i++) {
        pp[i] = kv->pages[i];
        atomic_fetch_add(&pp[i]->refs, 1);
    }
    *out = pp;
    return LLM_OK;
}

void llm_kv_pages_release(llm_kv_page **pages, int32_t n_pages) {
    for (int32_t i = 0; pages && i < n_pages; i++) page_unref(pages[i]);
    free(pages);
}

void llm_kv_pages_attach(llm_kv_state *kv, llm_kv_page *const *pages, int32_t n_pages) {
    kv->fw.active = 0;
    for (int32_t i = 0; i < n_pages && i < kv->n_pages; i++) {
        if (kv->pages[i] == pages[i]) continue;
        atomic_fetch_add(&pages[i]->refs, 1);
        page_unref(kv->pages[i]);
        kv->pages[i] = pages[i];
    }
}

llm_status llm_kv_page_copy_rows(llm_kv_state *kv, int32_t pidx, const llm_kv_page *src, int32_t n_rows, llm_err *err) {
    if (pidx < 0 || pidx >= kv->n_pages || n_rows < 0 || n_rows > LLM_KV_PAGE)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_page_copy_rows: out of range");
    if (kv->pages[pidx] == src) return LLM_OK;
    llm_status st = own_page(kv, pidx, err);
    if (st) return st;
    kv->fw.active = 0;
    unsigned char *d = page_data(kv->pages[pidx]);
    const unsigned char *s = page_data(src);
    for (int32_t il = 0; il < kv->n_layer; il++) {
        memcpy(d + k_offset(kv, il), s + k_offset(kv, il), (size_t)n_rows * kv->k_rb);
        memcpy(d + v_offset(kv, il), s + v_offset(kv, il), (size_t)n_rows * kv->v_rb);
    }
    return LLM_OK;
}

/* ---- raw rows, for saved sessions ---- */

int llm_kv_elem_type(const llm_kv_state *kv) { return kv ? kv->type : 0; }

size_t llm_kv_row_bytes(const llm_kv_state *kv, int is_v) { return is_v ? kv->v_rb : kv->k_rb; }

llm_status llm_kv_read_rows(llm_kv_state *kv, int32_t il, int is_v, int32_t pos0, int32_t n, void *dst,
                            llm_err *err) {
    if (!kv || !dst || il < 0 || il >= kv->n_layer || pos0 < 0 || n < 0 || (int64_t)pos0 + n > kv->n_past)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_read_rows: rows out of range");
    const size_t rb = llm_kv_row_bytes(kv, is_v);
    for (int32_t i = 0; i < n; i++)
        memcpy((char *)dst + (size_t)i * rb, is_v ? row_v(kv, il, pos0 + i) : row_k(kv, il, pos0 + i), rb);
    return LLM_OK;
}

llm_status llm_kv_write_rows(llm_kv_state *kv, int32_t il, int is_v, int32_t pos0, int32_t n, const void *src,
                             llm_err *err) {
    if (!kv || !src || il < 0 || il >= kv->n_layer || pos0 < 0 || n < 0 || (int64_t)pos0 + n > kv->n_ctx)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_write_rows: rows out of range");
    kv->fw.active = 0;
    llm_status st = llm_kv_reserve(kv, pos0, n, err);
    if (st) return st;
    const size_t rb = llm_kv_row_bytes(kv, is_v);
    for (int32_t i = 0; i < n; i++)
        memcpy(is_v ? row_v(kv, il, pos0 + i) : row_k(kv, il, pos0 + i), (const char *)src + (size_t)i * rb, rb);
    return LLM_OK;
}

void llm_kv_set_n_past(llm_kv_state *kv, int32_t n) {
    if (!kv) return;
    kv->fw.active = 0;
    if (n < 0) n = 0;
    if (n > kv->n_ctx) n = kv->n_ctx;
    kv->n_past = n;
}

uint64_t llm_kv_bytes_per_token(const llm_hparams *hp, int kv_type) {
    const uint64_t per_layer = llm_dtype_row_bytes(dtype_of(kv_type), (int64_t)hp->n_head_kv * hp->head_dim_k) +
                               llm_dtype_row_bytes(dtype_of(kv_type), (int64_t)hp->n_head_kv * hp->head_dim_v);
    return per_layer * (uint64_t)hp->n_layer;
}
