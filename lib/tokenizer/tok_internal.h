/* Private structures shared by the tokenizer's source files. */
#ifndef LLM_TOK_INTERNAL_H
#define LLM_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* ---- growable id list ---- */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
} tok_ids;
int tok_ids_push(tok_ids *ids, int32_t id); /* 0 on success, -1 on out of memory */

/* ---- UTF-8 (utf8.c) ---- */
/* Returns 1 when s[0..n) is valid UTF-8 (no overlong forms, surrogates or values above
 * U+10FFFF); otherwise 0 with *bad_offset set to the offset of the first bad sequence. */
int tok_utf8_valid(const unsigned char *s, size_t n, size_t *bad_offset);
/* Length of the sequence starting with lead byte c (1 for invalid leads). */
int tok_utf8_seq_len(unsigned char c);
/* Decodes one code point from valid UTF-8; returns its byte length. */
int tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes cp into out (at least 4 bytes); returns the byte length. */
int tok_utf8_encode(uint32_t cp, char *out);

/* ---- hash helpers ---- */
uint64_t tok_hash_bytes(const char *s, size_t n);

/* ---- pre-tokenizers (pretokenize.c) ---- */
/* A matcher tries one split pattern at position i of a piece s[0..n) (the piece is the whole
 * haystack: lookaheads and $ see its end). Returns the end of the match (> i), or i when the
 * pattern does not match at i. */
typedef size_t (*tok_match_fn)(const uint32_t *s, size_t n, size_t i);
typedef struct tok_split_step {
    tok_match_fn match;
    int on_bytes; /* runs on the GPT-2 byte symbols of the piece (after HF's ByteLevel step) */
} tok_split_step;
enum { TOK_MAX_STEPS = 6 };
typedef struct tok_pretok {
    const char *name;
    tok_split_step steps[TOK_MAX_STEPS]; /* applied in order, each to every piece left */
    int n_steps;
    int ignore_merges; /* a word found whole in the vocab is taken as is */
    int add_bos_default;
    int nfc; /* the text is NFC-normalized first */
} tok_pretok;
/* NULL when the name is not known. */
const tok_pretok *tok_pretok_find(const char *name, size_t len);

/* ---- character classes (unicode_class.c) ---- */
int tok_is_space(uint32_t cp);  /* \s: the White_Space property */
int tok_is_letter(uint32_t cp); /* \p{L} */
int tok_is_number(uint32_t cp); /* \p{N} */
int tok_is_punct(uint32_t cp);  /* \p{P} */
int tok_is_ascii_or_unicode_punct(uint32_t cp); /* ASCII punctuation and symbols, or \p{P} */
int tok_is_mark_nonspacing(uint32_t cp);        /* \p{Mn} */
int tok_is_other_assigned(uint32_t cp);         /* \p{C} but not \p{Cn} */
int tok_is_deepseek_letter(uint32_t cp);        /* DeepSeek LLM's explicit letter ranges */
int tok_is_deepseek_cjk(uint32_t cp);           /* [一-龥ࠀ-一가-퟿] */

/* ---- normalization (normalize.c) ---- */
/* NFC of s[0..n) (valid UTF-8). 0 with *out NULL when s is already NFC by a quick check (no code
 * point at or above U+0300), else *out malloc'ed holding *out_len bytes; -1 when out of memory. */
int tok_nfc(const char *s, size_t n, char **out, size_t *out_len);

/* ---- the tokenizer ---- */
enum { TOK_KIND_SPM = 1, TOK_KIND_BPE = 2, TOK_KIND_WPM = 3 };

typedef struct tok_trie_node {
    int32_t child;   /* first child node, -1 if none */
    int32_t sibling; /* next sibling, -1 if none */
    int32_t token;   /* token ending here, -1 if none */
    unsigned char byte;
} tok_trie_node;

/* One slot of the merge table, all in one place so that a probe costs one cache line. */
typedef struct tok_merge_slot {
    uint64_t key; /* left id << 32 | right id */
    int32_t rank, res;
} tok_merge_slot;

typedef struct tok_map_slot {
    int32_t id;
    uint32_t tag; /* high half of the 64-bit hash */
} tok_map_slot;

struct llm_tokenizer {
    int kind;
    int32_t n_vocab;
    /* token texts as stored in the file, all in one arena */
    char *text;
    uint32_t *text_off, *text_len;
    /* decoded bytes of each token (pieces), in a second arena */
    char *piece;
    uint32_t *piece_off, *piece_len;
    float *scores;
    uint8_t *types;
    /* text -> id, open addressing (id -1: empty). Each slot keeps 32 more bits of the text's
     * hash, so that a probe that misses (most of them: SentencePiece tries every adjacent pair)
     * is settled in the slot without reading the token arrays. */
    tok_map_slot *map;
    size_t map_mask;
    /* BPE merges: (left id, right id) -> rank and result id */
    tok_merge_slot *merges; /* open addressing; res -1: empty */
    size_t mmask;
    int32_t byte_tok[256]; /* SPM: <0xXX> token; BPE: token of the byte's symbol; -1 if none */
    int32_t bos, eos, unk, eot, eom;
    int add_bos, add_eos, add_space_prefix;
    const tok_pretok *pre;
    /* special/user-defined token matcher */
    tok_trie_node *trie;
    size_t trie_n, trie_cap;
    int32_t root[256]; /* first trie node per first byte, -1 if none */
    int32_t *eog;
    size_t n_eog;
};

/* Id of the token whose text is exactly s[0..n), or -1. */
int32_t tok_lookup(const llm_tokenizer *tok, const char *s, size_t n);
/* Same, restricted to tokens that text may be segmented into (normal and user-defined). */
int32_t tok_lookup_piece(const llm_tokenizer *tok, const char *s, size_t n);

/* Encoders of one raw-text fragment (valid UTF-8). */
llm_status tok_spm_encode(const llm_tokenizer *tok, const char *text, size_t len, int add_prefix,
                          tok_ids *out, llm_err *err);
llm_status tok_bpe_encode(const llm_tokenizer *tok, const char *text, size_t len, tok_ids *out,
                          llm_err *err);
llm_status tok_wpm_encode(const llm_tokenizer *tok, const char *text, size_t len, tok_ids *out,
                          llm_err *err);
/* BPE byte <-> unicode symbol mapping of GPT-2. */
uint32_t tok_bpe_byte_to_cp(unsigned char b);
int tok_bpe_cp_to_byte(uint32_t cp); /* -1 when cp is not a byte symbol */

#endif
