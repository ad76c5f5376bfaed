/* Byte-level BPE (GPT-2 family): the fragment is cut into words by the pre-tokenizer, each
 * word's bytes become their GPT-2 unicode symbols, and adjacent symbols are merged by the
 * merge list, lowest rank first (leftmost on ties). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/merge_heap.h"
#include "tokenizer/tok_internal.h"

/* GPT-2's reversible byte -> code point mapping: printable bytes map to themselves, the
 * other 68 (0x00-0x20, 0x7F-0xA0, 0xAD) to U+0100 upwards in byte order. */
uint32_t tok_bpe_byte_to_cp(unsigned char b) {
    if (b <= 0x20) return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
    if (b == 0xAD) return 0x100u + 67;
    return b;
}

int tok_bpe_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) return tok_bpe_byte_to_cp((unsigned char)cp) == cp ? (int)cp : -1;
    if (cp <= 0x120) return (int)(cp - 0x100);
    if (cp <= 0x142) return (int)(cp - 0x100 - 33 + 0x7F);
    if (cp == 0x143) return 0xAD;
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
    if (!tok->merges || l < 0 || r < 0) return 0;
    uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & tok->mmask;
    for (const tok_merge_slot *m; (m = &tok->merges[i])->res >= 0;) {
        if (m->key == key) {
            *rank = m->rank;
            *res = m->res;
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

/* The pieces of one fragment: the pre-tokenizer's steps are applied recursively, each to every
 * piece the previous one left (no allocation per piece), and each final piece is a word. */
typedef struct bpe_split {
    const llm_tokenizer *tok;
    const unsigned char *s; /* the fragment's bytes */
    const uint32_t *cps;    /* its code points */
    const size_t *offs;     /* byte offset of each code point, and of the end */
    uint32_t *bsyms;        /* GPT-2 byte symbol of each byte (when a step runs on bytes) */
    bpe_work *wk;
    tok_ids *out;
} bpe_split;

static int emit_word(bpe_split *sp, size_t wb, size_t we) {
    bpe_work *wk = sp->wk;
    size_t wl = we - wb;
    if (wl > wk->cap) {
        free(wk->syms);
        free(wk->sbuf);
        wk->cap = wl * 2;
        wk->syms = malloc(wk->cap * sizeof *wk->syms);
        wk->sbuf = malloc(wk->cap * 2 + 4);
        if (!wk->syms || !wk->sbuf) return -1;
    }
    return encode_word(sp->tok, sp->s + wb, wl, wk, sp->out);
}

/* Runs steps k.. on the piece [b, e): code point indexes, or byte offsets once `bytes`. */
static int split_piece(bpe_split *sp, int k, size_t b, size_t e, int bytes) {
    const tok_pretok *pre = sp->tok->pre;
    if (k == pre->n_steps) return bytes ? emit_word(sp, b, e) : emit_word(sp, sp->offs[b], sp->offs[e]);
    const tok_split_step *st = &pre->steps[k];
    if (st->on_bytes && !bytes) { /* HF's ByteLevel step was passed: continue on the bytes */
        b = sp->offs[b];
        e = sp->offs[e];
        bytes = 1;
    }
    const uint32_t *s = (bytes ? sp->bsyms : sp->cps) + b;
    size_t n = e - b, gap = 0, pos = 0;
    while (pos < n) {
        size_t end = st->match(s, n, pos);
        if (end <= pos || end > n) {
            pos++;
            continue;
        }
        if (gap < pos && split_piece(sp, k + 1, b + gap, b + pos, bytes)) return -1;
        if (split_piece(sp, k + 1, b + pos, b + end, bytes)) return -1;
        pos = gap = end;
    }
    if (gap < n && split_piece(sp, k + 1, b + gap, b + n, bytes)) return -1;
    return 0;
}

static int pretok_has_byte_steps(const tok_pretok *pre) {
    for (int k = 0; k < pre->n_steps; k++) {
        if (pre->steps[k].on_bytes) return 1;
    }
    return 0;
}

llm_status tok_bpe_encode(const llm_tokenizer *tok, const char *text, size_t len, tok_ids *out,
                          llm_err *err) {
    char *norm = NULL;
    size_t norm_len = 0;
    if (tok->pre->nfc) {
        if (tok_nfc(text, len, &norm, &norm_len))
            return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
        if (norm) {
            text = norm;
            len = norm_len;
        }
    }
    const unsigned char *s = (const unsigned char *)text;
    uint32_t *cps = malloc((len + 1) * sizeof *cps);
    size_t *offs = malloc((len + 1) * sizeof *offs);
    uint32_t *bsyms = NULL;
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
    if (pretok_has_byte_steps(tok->pre)) {
        bsyms = malloc((len + 1) * sizeof *bsyms);
        if (!bsyms) goto oom;
        for (size_t i = 0; i < len; i++) bsyms[i] = tok_bpe_byte_to_cp(s[i]);
    }
    bpe_split sp = {tok, s, cps, offs, bsyms, &wk, out};
    if (split_piece(&sp, 0, 0, n, 0)) goto oom;
    goto done;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
done:
    free(norm);
    free(cps);
    free(offs);
    free(bsyms);
    free(wk.syms);
    free(wk.sbuf);
    merge_heap_free(&wk.heap);
    return st;
}
