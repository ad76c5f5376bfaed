/* Tokenizers built from GGUF metadata (tokenizer.ggml.*): SentencePiece-style ("llama", with
 * byte fallback), byte-level BPE ("gpt2", with the pre-tokenizer named by tokenizer.ggml.pre:
 * gpt-2/default, llama-bpe/llama3, qwen2, deepseek-r1-qwen, mpt, gpt-neox, starcoder, refact, smollm,
 * falcon, deepseek-coder, deepseek-llm; see pretokenize.c) and WordPiece ("bert", BERT's
 * normalizer and pre-tokenizer). Immutable after creation; all functions are thread-safe. */
#ifndef LLM_TOKENIZER_H
#define LLM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "util/common.h"

typedef struct llm_tokenizer llm_tokenizer;

/* Token attributes (from tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control,
 * 4 user-defined, 5 unused, 6 byte). */
enum {
    LLM_TOKTYPE_NORMAL = 1, LLM_TOKTYPE_UNKNOWN = 2, LLM_TOKTYPE_CONTROL = 3,
    LLM_TOKTYPE_USER_DEFINED = 4, LLM_TOKTYPE_UNUSED = 5, LLM_TOKTYPE_BYTE = 6
};

/* Builds the tokenizer from the file's metadata. LLM_ERR_UNSUPPORTED for an unknown
 * tokenizer.ggml.model or (for "gpt2") tokenizer.ggml.pre; LLM_ERR_FORMAT for inconsistent
 * arrays. A "gpt2" file without tokenizer.ggml.pre gets GPT-2's pre-tokenizer. */
llm_status llm_tokenizer_new(const gguf_file *f, llm_tokenizer **out, llm_err *err);
void llm_tokenizer_free(llm_tokenizer *tok);

int32_t llm_tokenizer_n_vocab(const llm_tokenizer *tok);
int32_t llm_tokenizer_bos(const llm_tokenizer *tok);  /* -1 if none */
int32_t llm_tokenizer_eos(const llm_tokenizer *tok);  /* -1 if none */
int llm_tokenizer_add_bos(const llm_tokenizer *tok);  /* tokenizer.ggml.add_bos_token (or default) */
int llm_tokenizer_add_eos(const llm_tokenizer *tok);
/* End of generation: eos, eot, <end_of_turn>, <|eot_id|>, <|im_end|>, ... */
int llm_tokenizer_is_eog(const llm_tokenizer *tok, int32_t id);
int llm_tokenizer_token_type(const llm_tokenizer *tok, int32_t id);
/* Exact-text lookup of a token (e.g. "<start_of_turn>"); -1 when absent. */
int32_t llm_tokenizer_find(const llm_tokenizer *tok, const char *text, size_t len);

/* Encode text (len bytes, valid UTF-8 required: LLM_ERR_INVALID_UTF8 otherwise).
 * add_bos: prepend BOS / append EOS as the tokenizer's metadata asks.
 * parse_special: control and user-defined tokens written in the text become those tokens.
 * *tokens is malloc'ed (caller frees), *n_tokens its length. */
llm_status llm_tokenizer_encode(const llm_tokenizer *tok, const char *text, size_t len, int add_bos,
                                int parse_special, int32_t **tokens, size_t *n_tokens, llm_err *err);

/* Bytes a token stands for when decoded (SentencePiece "▁" → space, byte tokens <0xAB> → the
 * byte, byte-level BPE symbols → their bytes). Control tokens give their text only when
 * `special` is set, else empty. Returns a pointer into the tokenizer (valid for its lifetime) and
 * its length via *len; NULL for an out-of-range id. */
const char *llm_tokenizer_piece(const llm_tokenizer *tok, int32_t id, int special, size_t *len);

/* Decode a token sequence into bytes (a leading space added by SentencePiece-style
 * tokenizers after BOS is removed as the reference tokenizers do). *out is malloc'ed and
 * NUL-terminated. */
llm_status llm_tokenizer_decode(const llm_tokenizer *tok, const int32_t *tokens, size_t n, int special,
                                char **out, size_t *out_len, llm_err *err);

#endif
