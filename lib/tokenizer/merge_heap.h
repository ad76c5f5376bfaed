/* The priority queue of the merge loops (BPE and SentencePiece): a binary min-heap of fixed-size
 * elements under a caller's "pops first" predicate. The sift functions are static inline and take
 * the element size and the predicate as arguments, so that at each call site (one per tokenizer)
 * they become typed code with the predicate inlined; only the growth is out of line. */
#ifndef LLM_TOKENIZER_MERGE_HEAP_H
#define LLM_TOKENIZER_MERGE_HEAP_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Whether a pops before b. */
typedef int (*merge_heap_before_fn)(const void *a, const void *b);

typedef struct merge_heap {
    unsigned char *v; /* n elements, room for cap */
    size_t n, cap;
} merge_heap;

/* Makes room for one more element of `size` bytes (doubling, 64 at first); 0 or -1 when out of
 * memory, the heap unchanged. */
int merge_heap_grow(merge_heap *h, size_t size);

static inline void merge_heap_free(merge_heap *h) {
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

/* Adds a copy of *e: 0, or -1 when out of memory. (The sift loops work on local copies of v and
 * n: their byte copies may alias anything, *h included, which would force reloads.) */
static inline int merge_heap_push(merge_heap *h, const void *e, size_t size, merge_heap_before_fn before) {
    if (h->n == h->cap && merge_heap_grow(h, size)) return -1;
    unsigned char *v = h->v;
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(e, v + parent * size)) break;
        memcpy(v + i * size, v + parent * size, size);
        i = parent;
    }
    memcpy(v + i * size, e, size);
    return 0;
}

/* Removes the first element (the heap must not be empty) into *top: the hole left at the top
 * sinks to where the last element belongs. */
static inline void merge_heap_pop(merge_heap *h, void *top, size_t size, merge_heap_before_fn before) {
    unsigned char *v = h->v;
    const size_t n = --h->n;
    const unsigned char *last = v + n * size; /* stays in its slot, now past the end */
    memcpy(top, v, size);
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(v + (c + 1) * size, v + c * size)) c++;
        if (!before(v + c * size, last)) break;
        memcpy(v + i * size, v + c * size, size);
        i = c;
    }
    if (n) memcpy(v + i * size, last, size);
}

#endif
