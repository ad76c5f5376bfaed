/* Tokenizer entry points: special-token splitting, dispatch to the model's encoder, pieces,
 * decoding and the accessors. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

int32_t llm_tokenizer_n_vocab(const llm_tokenizer *tok) { return tok ? tok->n_vocab : 0; }
int32_t llm_tokenizer_bos(const llm_tokenizer *tok) { return tok ? tok->bos : -1; }
int32_t llm_tokenizer_eos(const llm_tokenizer *tok) { return tok ? tok->eos : -1; }
int llm_tokenizer_add_bos(const llm_tokenizer *tok) { return tok ? tok->add_bos : 0; }
int llm_tokenizer_add_eos(const llm_tokenizer *tok) { return tok ? tok->add_eos : 0; }

int llm_tokenizer_is_eog(const llm_tokenizer *tok, int32_t id) {
    if (!tok || id < 0) return 0;
    for (size_t i = 0; i < tok->n_eog; i++) {
        if (tok->eog[i] == id) return 1;
    }
    return 0;
}

int llm_tokenizer_token_type(const llm_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_vocab) return 0;
    return tok->types[id];
}

int32_t llm_tokenizer_find(const llm_tokenizer *tok, const char *text, size_t len) {
    if (!tok || (!text && len)) return -1;
    return tok_lookup(tok, text ? text : "", len);
}

/* One unit of text for the special-token matcher: a byte, except that SentencePiece-style
 * tokenizers read U+2581 as a space (the trie holds their tokens with spaces), so that a
 * whitespace-run token matches runs of spaces and of U+2581 alike, as the reference does once
 * spaces are normalized. */
static unsigned char next_unit(const llm_tokenizer *tok, const unsigned char *s, size_t n, size_t i,
                               size_t *adv) {
    if (tok->kind == TOK_KIND_SPM && s[i] == 0xE2 && i + 3 <= n && s[i + 1] == 0x96 && s[i + 2] == 0x81) {
        *adv = 3;
        return ' ';
    }
    *adv = 1;
    return s[i];
}

/* Longest special token starting at s[0..n): its id and byte length, or -1. Control and
 * unknown tokens count only when parse_special; user-defined tokens always do. */
static int32_t match_special(const llm_tokenizer *tok, const unsigned char *s, size_t n,
                             int parse_special, size_t *mlen) {
    size_t adv;
    int32_t node = tok->root[next_unit(tok, s, n, 0, &adv)];
    int32_t best = -1;
    for (size_t i = adv; node >= 0;) {
        int32_t id = tok->trie[node].token;
        if (id >= 0 && (parse_special || tok->types[id] == LLM_TOKTYPE_USER_DEFINED)) {
            best = id;
            *mlen = i;
        }
        if (i >= n) break;
        unsigned char b = next_unit(tok, s, n, i, &adv);
        int32_t c = tok->trie[node].child;
        while (c >= 0 && tok->trie[c].byte != b) c = tok->trie[c].sibling;
        node = c;
        i += adv;
    }
    return best;
}

static llm_status encode_fragment(const llm_tokenizer *tok, const char *text, size_t len, int after_special,
                                  tok_ids *out, llm_err *err) {
    if (len == 0) return LLM_OK;
    if (tok->kind == TOK_KIND_SPM)
        return tok_spm_encode(tok, text, len, tok->add_space_prefix && after_special, out, err);
    if (tok->kind == TOK_KIND_WPM) return tok_wpm_encode(tok, text, len, out, err);
    return tok_bpe_encode(tok, text, len, out, err);
}

llm_status llm_tokenizer_encode(const llm_tokenizer *tok, const char *text, size_t len, int add_bos,
                                int parse_special, int32_t **tokens, size_t *n_tokens, llm_err *err) {
    if (!tok || !tokens || !n_tokens || (!text && len))
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL argument to llm_tokenizer_encode");
    *tokens = NULL;
    *n_tokens = 0;
    size_t bad;
    if (len && !tok_utf8_valid((const unsigned char *)text, len, &bad))
        return llm_err_set(err, LLM_ERR_INVALID_UTF8, "invalid UTF-8 at byte offset %zu", bad);
    tok_ids out = {0};
    llm_status st = LLM_OK;
    if (add_bos && tok->add_bos && tok->bos >= 0 && tok_ids_push(&out, tok->bos)) goto oom;
    const unsigned char *u = (const unsigned char *)text;
    size_t start = 0;
    int after_special = 1;
    if (tok->trie_n) {
        for (size_t i = 0; i < len;) {
            size_t ml = 0;
            int32_t id = match_special(tok, u + i, len - i, parse_special, &ml);
            if (id < 0) {
                i++;
                continue;
            }
            st = encode_fragment(tok, text + start, i - start, after_special, &out, err);
            if (st != LLM_OK) goto done;
            if (tok_ids_push(&out, id)) goto oom;
            after_special = 1;
            i += ml;
            start = i;
        }
    }
    if (start < len) {
        st = encode_fragment(tok, text + start, len - start, after_special, &out, err);
        if (st != LLM_OK) goto done;
    }
    if (add_bos && tok->add_eos && tok->eos >= 0 && tok_ids_push(&out, tok->eos)) goto oom;
    *tokens = out.v;
    *n_tokens = out.n;
    if (!out.v) { /* an empty result is still a valid allocation */
        *tokens = malloc(sizeof(int32_t));
        if (!*tokens) goto oom;
    }
    return LLM_OK;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while tokenizing");
done:
    free(out.v);
    return st;
}

const char *llm_tokenizer_piece(const llm_tokenizer *tok, int32_t id, int special, size_t *len) {
    if (!tok || id < 0 || id >= tok->n_vocab) {
        if (len) *len = 0;
        return NULL;
    }
    int t = tok->types[id];
    size_t n = tok->piece_len[id];
    if (!special && (t == LLM_TOKTYPE_CONTROL || t == LLM_TOKTYPE_UNKNOWN || t == LLM_TOKTYPE_UNUSED)) n = 0;
    if (len) *len = n;
    return tok->piece + tok->piece_off[id];
}

llm_status llm_tokenizer_decode(const llm_tokenizer *tok, const int32_t *tokens, size_t n, int special,
                                char **out, size_t *out_len, llm_err *err) {
    if (!tok || !out || (!tokens && n))
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL argument to llm_tokenizer_decode");
    *out = NULL;
    if (out_len) *out_len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        if (!llm_tokenizer_piece(tok, tokens[i], special, &l))
            return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "token id %d out of range [0, %d)", tokens[i],
                               tok->n_vocab);
        total += l;
    }
    char *buf = malloc(total + 1);
    if (!buf) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory while decoding");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = llm_tokenizer_piece(tok, tokens[i], special, &l);
        memcpy(buf + o, p, l);
        o += l;
    }
    /* SentencePiece-style: the space that add_space_prefix put in front is dropped again (WordPiece:
     * the phantom space of the first word) */
    if ((tok->kind == TOK_KIND_SPM || tok->kind == TOK_KIND_WPM) && tok->add_space_prefix && o > 0 && buf[0] == ' ') {
        memmove(buf, buf + 1, o - 1);
        o--;
    }
    buf[o] = '\0';
    *out = buf;
    if (out_len) *out_len = o;
    return LLM_OK;
}
