/* SentencePiece-style encoding: the fragment's spaces become U+2581 (with one prepended when
 * asked), it is split into code points, and adjacent pieces are merged while their
 * concatenation is a token, best score first (leftmost on ties). Pieces left without a token
 * fall back to <0xXX> byte tokens, else to the unknown token. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/merge_heap.h"
#include "tokenizer/tok_internal.h"

typedef struct spm_sym {
    int32_t prev, next;
    uint32_t off, len; /* bytes in the normalized buffer; len 0 once merged away */
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right;
    uint32_t len; /* combined length when queued, to detect stale entries */
} spm_pair;

/* Best score first, leftmost on ties. */
static int pair_before(const void *pa, const void *pb) {
    const spm_pair *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

static int try_pair(const llm_tokenizer *tok, const char *buf, const spm_sym *syms, int32_t l,
                    int32_t r, merge_heap *h) {
    if (l < 0 || r < 0) return 0;
    uint32_t len = syms[l].len + syms[r].len;
    int32_t id = tok_lookup_piece(tok, buf + syms[l].off, len);
    if (id < 0) return 0;
    spm_pair p = {tok->scores[id], l, r, len};
    return merge_heap_push(h, &p, sizeof p, pair_before);
}

llm_status tok_spm_encode(const llm_tokenizer *tok, const char *text, size_t len, int add_prefix,
                          tok_ids *out, llm_err *err) {
    static const char k_sp[3] = {(char)0xE2, (char)0x96, (char)0x81}; /* U+2581 */
    size_t n_spaces = 0;
    for (size_t i = 0; i < len; i++) n_spaces += text[i] == ' ';
    size_t blen = len + 2 * n_spaces + (add_prefix ? 3 : 0);
    if (blen > UINT32_MAX / 2) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "text too long");
    char *buf = malloc(blen + 1);
    spm_sym *syms = malloc((blen + 1) * sizeof *syms);
    merge_heap h = {0}; /* of spm_pair */
    llm_status st = LLM_OK;
    if (!buf || !syms) goto oom;
    size_t b = 0;
    if (add_prefix) {
        memcpy(buf, k_sp, 3);
        b = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(buf + b, k_sp, 3);
            b += 3;
        } else {
            buf[b++] = text[i];
        }
    }
    int32_t ns = 0;
    for (size_t i = 0; i < blen;) {
        int l = tok_utf8_seq_len((unsigned char)buf[i]);
        if ((size_t)l > blen - i) l = (int)(blen - i);
        syms[ns].off = (uint32_t)i;
        syms[ns].len = (uint32_t)l;
        syms[ns].prev = ns - 1;
        syms[ns].next = (i + (size_t)l < blen) ? ns + 1 : -1;
        ns++;
        i += (size_t)l;
    }
    for (int32_t i = 0; i + 1 < ns; i++) {
        if (try_pair(tok, buf, syms, i, i + 1, &h)) goto oom;
    }
    while (h.n) {
        spm_pair p;
        merge_heap_pop(&h, &p, sizeof p, pair_before);
        spm_sym *l = &syms[p.left], *r = &syms[p.right];
        if (l->len == 0 || r->len == 0 || l->next != p.right || l->len + r->len != p.len) continue;
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = p.left;
        if (try_pair(tok, buf, syms, l->prev, p.left, &h)) goto oom;
        if (try_pair(tok, buf, syms, p.left, l->next, &h)) goto oom;
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = syms[i].next) {
        const spm_sym *s = &syms[i];
        int32_t id = tok_lookup_piece(tok, buf + s->off, s->len);
        if (id >= 0) {
            if (tok_ids_push(out, id)) goto oom;
            continue;
        }
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t bid = tok->byte_tok[(unsigned char)buf[s->off + k]];
            if (bid < 0) { /* no byte fallback: one unknown token for the piece */
                if (tok->unk >= 0 && tok_ids_push(out, tok->unk)) goto oom;
                break;
            }
            if (tok_ids_push(out, bid)) goto oom;
        }
    }
    goto done;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
done:
    free(buf);
    free(syms);
    merge_heap_free(&h);
    return st;
}
