/* WordPiece (BERT): the fragment is normalized as HF's BertNormalizer does with lowercase on
 * (control characters dropped, whitespace made a space, CJK ideographs set apart by spaces,
 * accents stripped by NFD without nonspacing marks, then lowercased), split into words at
 * whitespace with each punctuation character a word of its own (BertPreTokenizer), and each
 * word is cut greedily into the longest vocabulary entries from its left (WordPiece). A word with
 * a part that no entry covers, or longer than 100 code points, is one unknown token.
 *
 * GGUF files store the vocabulary with the "phantom space" convention of llama.cpp's converter:
 * a word-initial entry "x" as "\u2581x" and a continuation "##x" as "x". */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer/tok_internal.h"

enum { WPM_MAX_WORD_CHARS = 100 }; /* HF's max_input_chars_per_word */

typedef struct cp_buf {
    uint32_t *v;
    size_t n, cap;
} cp_buf;

static int cp_push(cp_buf *b, uint32_t c) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 256;
        uint32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) return -1;
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = c;
    return 0;
}

static int is_cjk_ideograph(uint32_t c) { /* the ranges BERT pads with spaces */
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int normalize(const unsigned char *s, size_t len, cp_buf *out) {
    for (size_t i = 0; i < len;) {
        uint32_t c;
        i += (size_t)tok_utf8_decode(s + i, len - i, &c);
        /* dropped first: NUL, U+FFFD and Cc/Cf/Co except \t \n \r (so U+0085, a control
         * character, goes although it is White_Space); unassigned code points stay */
        int tnr = c == '\t' || c == '\n' || c == '\r';
        if (c == 0 || c == 0xFFFD || (!tnr && tok_is_other_assigned(c))) continue;
        if (tnr || tok_is_space(c)) {
            if (cp_push(out, ' ')) return -1;
            continue;
        }
        if (is_cjk_ideograph(c)) {
            if (cp_push(out, ' ') || cp_push(out, c) || cp_push(out, ' ')) return -1;
            continue;
        }
        if (c < 0x80) {
            if (cp_push(out, (c >= 'A' && c <= 'Z') ? c + 32 : c)) return -1;
            continue;
        }
        utf8proc_int32_t d[32];
        int last_boundclass = 0;
        utf8proc_ssize_t nd = utf8proc_decompose_char((utf8proc_int32_t)c, d, 32, UTF8PROC_DECOMPOSE, &last_boundclass);
        if (nd < 0 || nd > 32) { /* cannot happen for a valid code point; keep it as is */
            d[0] = (utf8proc_int32_t)c;
            nd = 1;
        }
        for (utf8proc_ssize_t k = 0; k < nd; k++) {
            uint32_t e = (uint32_t)d[k];
            if (tok_is_mark_nonspacing(e)) continue;
            /* simple lowercase mapping: the one full mapping longer than a code point
             * (U+0130) is gone already, decomposed into I and a nonspacing mark */
            if (cp_push(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)e))) return -1;
        }
    }
    return 0;
}

/* Greedy longest-first cut of one word (code points w[0..n)); 0, or -1 when out of memory. */
static int encode_word(const llm_tokenizer *tok, const uint32_t *w, size_t n, char *buf, size_t *boff,
                       tok_ids *out) {
    if (n > WPM_MAX_WORD_CHARS) return tok->unk >= 0 ? tok_ids_push(out, tok->unk) : 0;
    /* buf = U+2581 then the word's UTF-8; boff[k] = byte offset of code point k after the prefix */
    memcpy(buf, "\xE2\x96\x81", 3);
    size_t o = 3;
    for (size_t k = 0; k < n; k++) {
        boff[k] = o - 3;
        o += (size_t)tok_utf8_encode(w[k], buf + o);
    }
    boff[n] = o - 3;
    size_t mark = out->n;
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end = n;
        for (; end > start; end--) {
            id = start == 0 ? tok_lookup_piece(tok, buf, 3 + boff[end])
                            : tok_lookup_piece(tok, buf + 3 + boff[start], boff[end] - boff[start]);
            if (id >= 0) break;
        }
        if (id < 0) { /* this part has no entry: the whole word is unknown */
            out->n = mark;
            return tok->unk >= 0 ? tok_ids_push(out, tok->unk) : 0;
        }
        if (tok_ids_push(out, id)) return -1;
        start = end;
    }
    return 0;
}

llm_status tok_wpm_encode(const llm_tokenizer *tok, const char *text, size_t len, tok_ids *out, llm_err *err) {
    cp_buf nc = {0};
    char *buf = malloc(3 + 4 * WPM_MAX_WORD_CHARS);
    size_t *boff = malloc((WPM_MAX_WORD_CHARS + 1) * sizeof *boff);
    llm_status st = LLM_OK;
    if (!buf || !boff || normalize((const unsigned char *)text, len, &nc)) goto oom;
    for (size_t i = 0; i < nc.n;) {
        uint32_t c = nc.v[i];
        if (c == ' ') {
            i++;
            continue;
        }
        size_t e = i + 1;
        if (!tok_is_ascii_or_unicode_punct(c)) {
            while (e < nc.n && nc.v[e] != ' ' && !tok_is_ascii_or_unicode_punct(nc.v[e])) e++;
        }
        if (encode_word(tok, nc.v + i, e - i, buf, boff, out)) goto oom;
        i = e;
    }
    goto done;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
done:
    free(nc.v);
    free(buf);
    free(boff);
    return st;
}
