/* The byte format of saved sessions (lib/api/api_state.c walks the session): a bounded
 * little-endian writer and reader, and the checksum and hash they use.
 *
 * A state is
 *     "LLMS"  u32 version  u64 payload_len  payload[payload_len]  u32 crc32
 * where the CRC-32 (IEEE, reflected, as zlib's crc32) covers every byte before it, and the payload
 * is a sequence of sections, each  u32 tag  u64 len  bytes[len]. Every integer is little-endian.
 * The reader never reads past its input: a short or over-long read sets its error flag and
 * yields zeros, so a caller checks the flag once at the end of a section. */
#ifndef LLM_STATE_IO_H
#define LLM_STATE_IO_H

#include <stddef.h>
#include <stdint.h>

#define LLM_STATE_MAGIC "LLMS"
#define LLM_STATE_HEADER 16 /* magic, version, payload length */
#define LLM_STATE_TRAILER 4 /* the checksum */

uint32_t llm_crc32(uint32_t crc, const void *data, size_t n);
/* FNV-1a, 64 bits, continued from h (start with LLM_FNV64_INIT). */
#define LLM_FNV64_INIT 0xcbf29ce484222325ull
uint64_t llm_fnv64(uint64_t h, const void *data, size_t n);

/* ---- writer: appends to a growable buffer (or only counts, when counting) ------------------- */
typedef struct llm_swriter {
    uint8_t *data;
    size_t len, cap;
    int counting; /* count the bytes only (data stays NULL) */
    int fixed;    /* data is the caller's buffer of cap bytes: never grown (oom when full) */
    int oom;      /* an allocation failed: the contents are incomplete */
} llm_swriter;

void llm_sw_bytes(llm_swriter *w, const void *p, size_t n);
void llm_sw_u32(llm_swriter *w, uint32_t v);
void llm_sw_i32(llm_swriter *w, int32_t v);
void llm_sw_u64(llm_swriter *w, uint64_t v);
void llm_sw_i64(llm_swriter *w, int64_t v);
void llm_sw_f32(llm_swriter *w, float v); /* its bits */
/* u64 length, then the bytes. */
void llm_sw_blob(llm_swriter *w, const void *p, size_t n);
/* Appends n bytes to be filled by the caller: their address, or NULL when counting or failed. */
uint8_t *llm_sw_reserve(llm_swriter *w, size_t n);
/* Opens a section: its tag and a length patched by llm_sw_end (returns the mark to pass). */
size_t llm_sw_begin(llm_swriter *w, uint32_t tag);
void llm_sw_end(llm_swriter *w, size_t mark);
/* Header with payload length 0: llm_sw_finish patches it and appends the checksum. */
void llm_sw_header(llm_swriter *w, uint32_t version);
void llm_sw_finish(llm_swriter *w);
void llm_sw_free(llm_swriter *w);

/* ---- reader ------------------------------------------------------------------------------- */
typedef struct llm_sreader {
    const uint8_t *p;
    size_t left;
    int bad; /* a read went past the end (or a bound failed): the input is malformed */
} llm_sreader;

const uint8_t *llm_sr_bytes(llm_sreader *r, size_t n); /* NULL (and bad) past the end */
uint32_t llm_sr_u32(llm_sreader *r);
int32_t llm_sr_i32(llm_sreader *r);
uint64_t llm_sr_u64(llm_sreader *r);
int64_t llm_sr_i64(llm_sreader *r);
float llm_sr_f32(llm_sreader *r);
/* A length-prefixed blob of at most max bytes: its bytes (valid while the input is) and *n. */
const uint8_t *llm_sr_blob(llm_sreader *r, size_t max, size_t *n);
/* A count that must be <= max and whose elements of elem_size bytes each must fit in what is left
 * (bad otherwise, and 0). */
uint64_t llm_sr_count(llm_sreader *r, uint64_t max, size_t elem_size);
/* Enters the next section, which must carry tag: *sec reads its bytes only. */
int llm_sr_section(llm_sreader *r, uint32_t tag, llm_sreader *sec);

/* Checks the envelope of a state (magic, length, checksum): 0 and the payload reader and version,
 * or -1 (malformed: truncated, wrong length, wrong checksum, not a state). */
int llm_state_open(const void *data, size_t size, uint32_t *version, llm_sreader *payload);

#endif
