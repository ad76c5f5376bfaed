/* Building the tokenizer from GGUF metadata: token table, lookup maps, merges, pieces,
 * special-token matcher and end-of-generation set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tok_internal.h"

uint64_t tok_hash_bytes(const char *s, size_t n) {
    /* FNV-1a over 8-byte words (then the tail byte by byte), finished by a multiply-xorshift:
     * token texts are short, and this is on the encoder's hot path */
    uint64_t h = 0xcbf29ce484222325ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
        h ^= h >> 32;
    }
    for (; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 31);
}

int tok_ids_push(tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t nc = ids->cap ? ids->cap * 2 : 64;
        int32_t *nv = realloc(ids->v, nc * sizeof *nv);
        if (!nv) return -1;
        ids->v = nv;
        ids->cap = nc;
    }
    ids->v[ids->n++] = id;
    return 0;
}

int32_t tok_lookup(const llm_tokenizer *tok, const char *s, size_t n) {
    uint64_t h = tok_hash_bytes(s, n);
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = (size_t)h & tok->map_mask;
    for (;;) {
        const tok_map_slot *sl = &tok->map[i];
        if (sl->id < 0) return -1;
        if (sl->tag == tag && tok->text_len[sl->id] == n && memcmp(tok->text + tok->text_off[sl->id], s, n) == 0)
            return sl->id;
        i = (i + 1) & tok->map_mask;
    }
}

int32_t tok_lookup_piece(const llm_tokenizer *tok, const char *s, size_t n) {
    int32_t id = tok_lookup(tok, s, n);
    if (id < 0) return -1;
    int t = tok->types[id];
    return (t == LLM_TOKTYPE_NORMAL || t == LLM_TOKTYPE_USER_DEFINED) ? id : -1;
}

static int32_t opt_id(const gguf_file *f, const char *key, int32_t n_vocab, int32_t fallback) {
    int64_t v;
    if (gguf_get_int(f, key, &v) != LLM_OK) return fallback;
    return (v >= 0 && v < n_vocab) ? (int32_t)v : -1;
}

static int opt_bool(const gguf_file *f, const char *key, int fallback) {
    int64_t v;
    if (gguf_get_int(f, key, &v) != LLM_OK) return fallback;
    return v != 0;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* ---- special-token trie ---- */
static int trie_new_node(llm_tokenizer *tok, unsigned char byte) {
    if (tok->trie_n == tok->trie_cap) {
        size_t nc = tok->trie_cap ? tok->trie_cap * 2 : 1024;
        tok_trie_node *nv = realloc(tok->trie, nc * sizeof *nv);
        if (!nv) return -1;
        tok->trie = nv;
        tok->trie_cap = nc;
    }
    tok_trie_node *nd = &tok->trie[tok->trie_n];
    nd->child = nd->sibling = nd->token = -1;
    nd->byte = byte;
    return (int)tok->trie_n++;
}

static int trie_insert(llm_tokenizer *tok, const char *s, size_t n, int32_t id) {
    const unsigned char *u = (const unsigned char *)s;
    int32_t node = tok->root[u[0]];
    if (node < 0) {
        node = trie_new_node(tok, u[0]);
        if (node < 0) return -1;
        tok->root[u[0]] = node;
    }
    for (size_t i = 1; i < n; i++) {
        int32_t c = tok->trie[node].child;
        while (c >= 0 && tok->trie[c].byte != u[i]) c = tok->trie[c].sibling;
        if (c < 0) {
            c = trie_new_node(tok, u[i]);
            if (c < 0) return -1;
            tok->trie[c].sibling = tok->trie[node].child;
            tok->trie[node].child = c;
        }
        node = c;
    }
    if (tok->trie[node].token < 0) tok->trie[node].token = id;
    return 0;
}

/* ---- pieces ---- */
static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static size_t piece_of(const llm_tokenizer *tok, int32_t id, char *out) {
    const char *t = tok->text + tok->text_off[id];
    size_t n = tok->text_len[id];
    int type = tok->types[id];
    if (tok->kind == TOK_KIND_SPM) {
        int hi, lo;
        if (type == LLM_TOKTYPE_BYTE && n == 6 && memcmp(t, "<0x", 3) == 0 && t[5] == '>' &&
            (hi = hex_val(t[3])) >= 0 && (lo = hex_val(t[4])) >= 0) {
            out[0] = (char)(hi * 16 + lo);
            return 1;
        }
        if (type == LLM_TOKTYPE_CONTROL || type == LLM_TOKTYPE_UNKNOWN || type == LLM_TOKTYPE_UNUSED) {
            memcpy(out, t, n);
            return n;
        }
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            if (i + 3 <= n && memcmp(t + i, "\xE2\x96\x81", 3) == 0) {
                out[o++] = ' ';
                i += 3;
            } else {
                out[o++] = t[i++];
            }
        }
        return o;
    }
    if (type != LLM_TOKTYPE_NORMAL && type != LLM_TOKTYPE_BYTE) {
        memcpy(out, t, n);
        return n;
    }
    if (tok->kind == TOK_KIND_WPM) { /* phantom space: "\u2581x" starts a word */
        if (n >= 3 && memcmp(t, "\xE2\x96\x81", 3) == 0) {
            out[0] = ' ';
            memcpy(out + 1, t + 3, n - 3);
            return n - 2;
        }
        memcpy(out, t, n);
        return n;
    }
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = tok_utf8_decode((const unsigned char *)t + i, n - i, &cp);
        int b = tok_bpe_cp_to_byte(cp);
        if (b >= 0) {
            out[o++] = (char)b;
        } else {
            memcpy(out + o, t + i, (size_t)l);
            o += (size_t)l;
        }
        i += (size_t)l;
    }
    return o;
}

static int is_eog_text(const char *s, size_t n) {
    static const char *const names[] = {"<end_of_turn>", "<|eot_id|>", "<|end_of_text|>", "<|im_end|>",
                                        "<|endoftext|>", "</s>", "<|end|>", "<|eom_id|>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) return 1;
    }
    return 0;
}

static llm_status add_eog(llm_tokenizer *tok, int32_t id) {
    if (id < 0) return LLM_OK;
    for (size_t i = 0; i < tok->n_eog; i++) {
        if (tok->eog[i] == id) return LLM_OK;
    }
    int32_t *nv = realloc(tok->eog, (tok->n_eog + 1) * sizeof *nv);
    if (!nv) return LLM_ERR_OUT_OF_MEMORY;
    tok->eog = nv;
    tok->eog[tok->n_eog++] = id;
    return LLM_OK;
}

static llm_status load_merges(llm_tokenizer *tok, const gguf_file *f, llm_err *err) {
    const gguf_value *arr;
    if (gguf_get_arr(f, "tokenizer.ggml.merges", &arr) != LLM_OK) {
        return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.merges is missing for a gpt2 tokenizer");
    }
    uint64_t n = arr->v.arr.count;
    if (n > (uint64_t)INT32_MAX) return llm_err_set(err, LLM_ERR_FORMAT, "too many merges");
    size_t cap = pow2_at_least((size_t)n * 2 + 1);
    tok->merges = malloc(cap * sizeof *tok->merges);
    char *buf = NULL;
    size_t bcap = 0;
    if (!tok->merges) goto oom;
    for (size_t i = 0; i < cap; i++) tok->merges[i].res = -1;
    tok->mmask = cap - 1;
    for (uint64_t r = 0; r < n; r++) {
        gguf_str s;
        if (gguf_arr_str(arr, r, &s) != LLM_OK) {
            free(buf);
            return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.merges[%llu] is not a string",
                               (unsigned long long)r);
        }
        size_t sp = 1;
        while (sp < s.len && s.ptr[sp] != ' ') sp++;
        if (s.len < 3 || sp >= s.len - 1) continue; /* malformed entry: ignored */
        int32_t l = tok_lookup(tok, s.ptr, sp);
        int32_t rr = tok_lookup(tok, s.ptr + sp + 1, (size_t)s.len - sp - 1);
        if (l < 0 || rr < 0) continue;
        size_t cl = (size_t)s.len - 1;
        if (cl > bcap) {
            free(buf);
            bcap = cl * 2;
            buf = malloc(bcap);
            if (!buf) goto oom;
        }
        memcpy(buf, s.ptr, sp);
        memcpy(buf + sp, s.ptr + sp + 1, cl - sp);
        int32_t res = tok_lookup(tok, buf, cl);
        if (res < 0) continue;
        uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)rr;
        size_t i = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 17) & tok->mmask;
        tok_merge_slot *m = &tok->merges[i];
        while (m->res >= 0 && m->key != key) {
            i = (i + 1) & tok->mmask;
            m = &tok->merges[i];
        }
        if (m->res >= 0) continue; /* duplicate pair: the first rank wins */
        m->key = key;
        m->rank = (int32_t)r;
        m->res = res;
    }
    free(buf);
    return LLM_OK;
oom:
    free(buf);
    return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory loading merges");
}

llm_status llm_tokenizer_new(const gguf_file *f, llm_tokenizer **out, llm_err *err) {
    if (!out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL output");
    *out = NULL;
    if (!f) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "NULL gguf file");
    gguf_str model;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model) != LLM_OK)
        return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.model is missing");
    int kind;
    if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) {
        kind = TOK_KIND_SPM;
    } else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) {
        kind = TOK_KIND_BPE;
    } else if (model.len == 4 && memcmp(model.ptr, "bert", 4) == 0) {
        /* WordPiece has one pre-tokenizer (BertPreTokenizer): tokenizer.ggml.pre only names
         * the model family there and is not checked */
        kind = TOK_KIND_WPM;
    } else {
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "unsupported tokenizer model '%.*s'",
                           (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    const tok_pretok *pre = NULL;
    if (kind == TOK_KIND_BPE) {
        gguf_str pname = {"default", 7};
        (void)gguf_get_str(f, "tokenizer.ggml.pre", &pname);
        pre = tok_pretok_find(pname.ptr, (size_t)pname.len);
        if (!pre)
            return llm_err_set(err, LLM_ERR_UNSUPPORTED, "unsupported pre-tokenizer '%.*s'",
                               (int)(pname.len > 64 ? 64 : pname.len), pname.ptr);
    }
    const gguf_value *toks;
    if (gguf_get_arr(f, "tokenizer.ggml.tokens", &toks) != LLM_OK || toks->v.arr.elem_type != GGUF_STRING)
        return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens is missing or not a string array");
    uint64_t nv64 = toks->v.arr.count;
    if (nv64 == 0 || nv64 > (uint64_t)INT32_MAX / 2)
        return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries", (unsigned long long)nv64);
    int32_t nv = (int32_t)nv64;
    const gguf_value *scores = NULL, *types = NULL;
    if (gguf_get_arr(f, "tokenizer.ggml.scores", &scores) == LLM_OK && scores->v.arr.count != nv64)
        return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.scores has %llu entries, tokens %d",
                           (unsigned long long)scores->v.arr.count, nv);
    if (gguf_get_arr(f, "tokenizer.ggml.token_type", &types) == LLM_OK && types->v.arr.count != nv64)
        return llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.token_type has %llu entries, tokens %d",
                           (unsigned long long)types->v.arr.count, nv);

    llm_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    tok->kind = kind;
    tok->pre = pre;
    tok->n_vocab = nv;
    memset(tok->root, 0xff, sizeof tok->root);
    memset(tok->byte_tok, 0xff, sizeof tok->byte_tok);
    llm_status st;
    size_t total = 0;
    for (int32_t i = 0; i < nv; i++) {
        gguf_str s;
        if (gguf_arr_str(toks, (uint64_t)i, &s) != LLM_OK) {
            st = llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.tokens[%d] unreadable", i);
            goto fail;
        }
        total += (size_t)s.len;
        if (total > UINT32_MAX / 4) {
            st = llm_err_set(err, LLM_ERR_FORMAT, "token texts too large");
            goto fail;
        }
    }
    tok->text = malloc(total + 1);
    tok->piece = malloc(total + 1);
    tok->text_off = malloc((size_t)nv * sizeof(uint32_t));
    tok->text_len = malloc((size_t)nv * sizeof(uint32_t));
    tok->piece_off = malloc((size_t)nv * sizeof(uint32_t));
    tok->piece_len = malloc((size_t)nv * sizeof(uint32_t));
    tok->scores = malloc((size_t)nv * sizeof(float));
    tok->types = malloc((size_t)nv);
    size_t mcap = pow2_at_least((size_t)nv * 2);
    tok->map = malloc(mcap * sizeof *tok->map);
    if (!tok->text || !tok->piece || !tok->text_off || !tok->text_len || !tok->piece_off ||
        !tok->piece_len || !tok->scores || !tok->types || !tok->map)
        goto oom;
    tok->map_mask = mcap - 1;
    memset(tok->map, 0xff, mcap * sizeof *tok->map);
    size_t off = 0;
    for (int32_t i = 0; i < nv; i++) {
        gguf_str s;
        gguf_arr_str(toks, (uint64_t)i, &s);
        memcpy(tok->text + off, s.ptr, (size_t)s.len);
        tok->text_off[i] = (uint32_t)off;
        tok->text_len[i] = (uint32_t)s.len;
        off += (size_t)s.len;
        double sc = 0.0;
        int64_t ty = LLM_TOKTYPE_NORMAL;
        if (scores && gguf_arr_float(scores, (uint64_t)i, &sc) != LLM_OK) {
            st = llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.scores[%d] unreadable", i);
            goto fail;
        }
        if (types && gguf_arr_int(types, (uint64_t)i, &ty) != LLM_OK) {
            st = llm_err_set(err, LLM_ERR_FORMAT, "tokenizer.ggml.token_type[%d] unreadable", i);
            goto fail;
        }
        tok->scores[i] = (float)sc;
        tok->types[i] = (uint8_t)((ty >= 1 && ty <= 6) ? ty : LLM_TOKTYPE_NORMAL);
        /* insert; on duplicate texts the first id wins */
        uint64_t hv = tok_hash_bytes(s.ptr, (size_t)s.len);
        size_t h = (size_t)hv & tok->map_mask;
        for (;;) {
            int32_t o = tok->map[h].id;
            if (o < 0) {
                tok->map[h].id = i;
                tok->map[h].tag = (uint32_t)(hv >> 32);
                break;
            }
            if (tok->text_len[o] == s.len && memcmp(tok->text + tok->text_off[o], s.ptr, (size_t)s.len) == 0)
                break;
            h = (h + 1) & tok->map_mask;
        }
    }
    /* byte tokens */
    for (int b = 0; b < 256; b++) {
        char name[8];
        if (kind == TOK_KIND_SPM) {
            snprintf(name, sizeof name, "<0x%02X>", b);
            tok->byte_tok[b] = tok_lookup(tok, name, 6);
        } else {
            int l = tok_utf8_encode(tok_bpe_byte_to_cp((unsigned char)b), name);
            tok->byte_tok[b] = tok_lookup(tok, name, (size_t)l);
        }
    }
    /* pieces: never longer than the text */
    off = 0;
    for (int32_t i = 0; i < nv; i++) {
        size_t n = piece_of(tok, i, tok->piece + off);
        tok->piece_off[i] = (uint32_t)off;
        tok->piece_len[i] = (uint32_t)n;
        off += n;
    }
    /* special tokens (SentencePiece-style: with U+2581 read as a space, see tokenizer.c) */
    {
        char *canon = malloc(total + 1);
        if (!canon) goto oom;
        for (int32_t i = 0; i < nv; i++) {
            int t = tok->types[i];
            if ((t != LLM_TOKTYPE_CONTROL && t != LLM_TOKTYPE_USER_DEFINED && t != LLM_TOKTYPE_UNKNOWN) ||
                tok->text_len[i] == 0)
                continue;
            const char *src = tok->text + tok->text_off[i];
            size_t n = tok->text_len[i], cl = 0;
            for (size_t k = 0; k < n;) {
                if (kind == TOK_KIND_SPM && k + 3 <= n && memcmp(src + k, "\xE2\x96\x81", 3) == 0) {
                    canon[cl++] = ' ';
                    k += 3;
                } else {
                    canon[cl++] = src[k++];
                }
            }
            if (trie_insert(tok, canon, cl, i)) {
                free(canon);
                goto oom;
            }
        }
        free(canon);
    }
    if (kind == TOK_KIND_BPE) {
        st = load_merges(tok, f, err);
        if (st != LLM_OK) goto fail;
    }
    /* ids and flags */
    if (kind == TOK_KIND_SPM) {
        tok->bos = opt_id(f, "tokenizer.ggml.bos_token_id", nv, tok_lookup(tok, "<s>", 3));
        tok->eos = opt_id(f, "tokenizer.ggml.eos_token_id", nv, tok_lookup(tok, "</s>", 4));
        tok->unk = opt_id(f, "tokenizer.ggml.unknown_token_id", nv, tok_lookup(tok, "<unk>", 5));
        tok->add_bos = opt_bool(f, "tokenizer.ggml.add_bos_token", 1);
        tok->add_space_prefix = opt_bool(f, "tokenizer.ggml.add_space_prefix", 1);
    } else if (kind == TOK_KIND_WPM) {
        /* BERT: [CLS] text [SEP] */
        tok->bos = opt_id(f, "tokenizer.ggml.cls_token_id", nv,
                          opt_id(f, "tokenizer.ggml.bos_token_id", nv, tok_lookup(tok, "[CLS]", 5)));
        tok->eos = opt_id(f, "tokenizer.ggml.seperator_token_id", nv,
                          opt_id(f, "tokenizer.ggml.eos_token_id", nv, tok_lookup(tok, "[SEP]", 5)));
        tok->unk = opt_id(f, "tokenizer.ggml.unknown_token_id", nv, tok_lookup(tok, "[UNK]", 5));
        tok->add_bos = opt_bool(f, "tokenizer.ggml.add_bos_token", 1);
        tok->add_space_prefix = 1; /* decode drops the first word's phantom space */
    } else {
        int32_t eot = tok_lookup(tok, "<|endoftext|>", 13);
        tok->bos = opt_id(f, "tokenizer.ggml.bos_token_id", nv, eot);
        tok->eos = opt_id(f, "tokenizer.ggml.eos_token_id", nv, eot);
        tok->unk = opt_id(f, "tokenizer.ggml.unknown_token_id", nv, -1);
        tok->add_bos = opt_bool(f, "tokenizer.ggml.add_bos_token", pre->add_bos_default);
        tok->add_space_prefix = 0;
    }
    tok->add_eos = opt_bool(f, "tokenizer.ggml.add_eos_token", kind == TOK_KIND_WPM);
    tok->eot = opt_id(f, "tokenizer.ggml.eot_token_id", nv, -1);
    tok->eom = opt_id(f, "tokenizer.ggml.eom_token_id", nv, -1);
    if (add_eog(tok, tok->eos) || add_eog(tok, tok->eot) || add_eog(tok, tok->eom)) goto oom;
    for (int32_t i = 0; i < nv; i++) {
        if (is_eog_text(tok->text + tok->text_off[i], tok->text_len[i]) && add_eog(tok, i)) goto oom;
    }
    *out = tok;
    return LLM_OK;
oom:
    st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory building the tokenizer");
fail:
    llm_tokenizer_free(tok);
    return st;
}

void llm_tokenizer_free(llm_tokenizer *tok) {
    if (!tok) return;
    free(tok->text);
    free(tok->text_off);
    free(tok->text_len);
    free(tok->piece);
    free(tok->piece_off);
    free(tok->piece_len);
    free(tok->scores);
    free(tok->types);
    free(tok->map);
    free(tok->merges);
    free(tok->trie);
    free(tok->eog);
    free(tok);
}
