/* Byte-level BPE (GPT-2 family): the fragment is cut into words by the pre-tokenizer, each
 * word's bytes become their GPT-2 unicode symbols, and adjacent symbols are merged by the
 * merge list, lowest rank first (leftmost on ties). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/merge_heap.h"
#include "tokenizer/tok_internal.h"

/* GPT-2's reversible byte -> code point mapping: printable bytes map to themselves, the
 * other 68 to U+0100 upwards in byte order. */
uint32_t tok_bpe_byte_to_cp(unsigned char b) {
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE)) return b;
    uint32_t k = 0;
    for (unsigned c = 0; c < b; c++) {
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE))) k++;
    }
    return 0x100 + k;
}

int tok_bpe_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) {
        unsigned char b = (unsigned char)cp;
        return tok_bpe_byte_to_cp(b) == cp ? (int)cp : -1;
    }
    if (cp >= 0x100 + 68) return -1;
    uint32_t k = 0;
    for (unsigned c = 0; c < 256; c++) {
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE))) {
            if (0x100 + k == cp) return (int)c;
            k++;
        }
    }
    return -1;
}

typedef struct bpe_sym {
    int32_t prev, next, id;
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank, left, right, lid, rid, res;
} bpe_pair;

/* Lowest rank first, leftmost on ties. */
static int pair_before(const void *pa, const void *pb) {
    const bpe_pair *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank < b->rank;
    return a->left < b->left;
}

static int find_merge(const llm_tokenizer *tok, int32_t l, int32_t r, int32_t *rank, int32_t *res) {
    if (!tok->mkey || l < 0 || r < 0) return 0;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & tok->mmask;
    while (tok->mres[i] >= 0) {
        if (tok->mkey[i] == key) {
            *rank = tok->mrank[i];
            *res = tok->mres[i];
            return 1;
        }
        i = (i + 1) & tok->mmask;
    }
    return 0;
}

static int try_pair(const llm_tokenizer *tok, const bpe_sym *syms, int32_t l, int32_t r, merge_heap *h) {
    if (l < 0 || r < 0) return 0;
    bpe_pair p;
    if (!find_merge(tok, syms[l].id, syms[r].id, &p.rank, &p.res)) return 0;
    p.left = l;
    p.right = r;
    p.lid = syms[l].id;
    p.rid = syms[r].id;
    return merge_heap_push(h, &p, sizeof p, pair_before);
}

typedef struct bpe_work {
    bpe_sym *syms;
    size_t cap;
    char *sbuf; /* byte-level symbol text of a word */
    size_t scap;
    merge_heap heap; /* of bpe_pair */
} bpe_work;

static int encode_word(const llm_tokenizer *tok, const unsigned char *w, size_t n, bpe_work *wk,
                       tok_ids *out) {
    if (tok->pre->ignore_merges) {
        size_t sl = 0;
        for (size_t i = 0; i < n; i++) sl += (size_t)tok_utf8_encode(tok_bpe_byte_to_cp(w[i]), wk->sbuf + sl);
        int32_t id = tok_lookup_piece(tok, wk->sbuf, sl);
        if (id >= 0) return tok_ids_push(out, id);
    }
    int32_t ns = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = tok->byte_tok[w[i]];
        if (id < 0) continue; /* byte without a symbol token: nothing can represent it */
        wk->syms[ns].id = id;
        wk->syms[ns].prev = ns - 1;
        wk->syms[ns].next = -1;
        if (ns > 0) wk->syms[ns - 1].next = ns;
        ns++;
    }
    wk->heap.n = 0;
    for (int32_t i = 0; i + 1 < ns; i++) {
        if (try_pair(tok, wk->syms, i, i + 1, &wk->heap)) return -1;
    }
    while (wk->heap.n) {
        bpe_pair p;
        merge_heap_pop(&wk->heap, &p, sizeof p, pair_before);
        bpe_sym *l = &wk->syms[p.left], *r = &wk->syms[p.right];
        if (l->id != p.lid || r->id != p.rid || l->next != p.right) continue;
        l->id = p.res;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) wk->syms[r->next].prev = p.left;
        if (try_pair(tok, wk->syms, l->prev, p.left, &wk->heap)) return -1;
        if (try_pair(tok, wk->syms, p.left, l->next, &wk->heap)) return -1;
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = wk->syms[i].next) {
        if (tok_ids_push(out, wk->syms[i].id)) return -1;
    }
    return 0;
}

llm_status tok_bpe_encode(const llm_tokenizer *tok, const char *text, size_t len, tok_ids *out,
                          llm_err *err) {
    const unsigned char *s = (const unsigned char *)text;
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    size_t *offs = malloc((len + 1) * sizeof *offs);
    bpe_work wk = {0};
    llm_status st = LLM_OK;
    if (!cps || !offs) goto oom;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        offs[n] = i;
        i += (size_t)tok_utf8_decode(s + i, len - i, &cps[n]);
        n++;
    }
    offs[n] = len;
    for (size_t pos = 0; pos < n;) {
        size_t end = tok->pre->next(cps, n, pos);
        if (end <= pos || end > n) end = pos + 1; /* defensive: always progress */
        size_t wb = offs[pos], we = offs[end];
        size_t wl = we - wb;
        if (wl > wk.cap) {
            free(wk.syms);
            free(wk.sbuf);
            wk.cap = wl * 2;
            wk.syms = malloc(wk.cap * sizeof *wk.syms);
            wk.sbuf = malloc(wk.cap * 2 + 4);
            if (!wk.syms || !wk.sbuf) goto oom;
        }
        if (encode_word(tok, s + wb, wl, &wk, out)) goto oom;
        pos = end;
    }
    goto done;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
done:
    free(cps);
    free(offs);
    free(wk.syms);
    free(wk.sbuf);
    merge_heap_free(&wk.heap);
    return st;
}
