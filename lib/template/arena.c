/* A bump allocator: chunks from malloc, all freed at once, the total counted against a limit
 * (a render's max_memory). */
#include <stdlib.h>

#include "template/tmpl_internal.h"

struct tmpl_chunk {
    tmpl_chunk *next;
    size_t size, used;
    max_align_t data[];
};

#define CHUNK_MIN ((size_t)16 << 10)

void *arena_alloc(tmpl_arena *a, size_t n, bool *over_limit) {
    if (over_limit) *over_limit = false;
    size_t need = (n + 15) & ~(size_t)15;
    if (need < n) { /* wrapped */
        if (over_limit) *over_limit = true;
        return NULL;
    }
    if (need == 0) need = 16;
    tmpl_chunk *h = a->head;
    if (h && h->size - h->used >= need) {
        void *p = (char *)h->data + h->used;
        h->used += need;
        return p;
    }
    size_t size = need > CHUNK_MIN ? need : CHUNK_MIN;
    if (size > SIZE_MAX - sizeof(tmpl_chunk) || a->used + size + sizeof(tmpl_chunk) > a->limit ||
        a->used + size + sizeof(tmpl_chunk) < a->used) {
        if (over_limit) *over_limit = true;
        return NULL;
    }
    tmpl_chunk *ch = malloc(sizeof(tmpl_chunk) + size);
    if (!ch) return NULL;
    a->used += size + sizeof(tmpl_chunk);
    ch->size = size;
    ch->used = need;
    if (h && size > CHUNK_MIN && h->size - h->used > 1024) {
        /* a big one-off block: keep the current chunk in front for the small ones */
        ch->next = h->next;
        h->next = ch;
    } else {
        ch->next = h;
        a->head = ch;
    }
    return ch->data;
}

void arena_free_all(tmpl_arena *a) {
    tmpl_chunk *ch = a->head;
    while (ch) {
        tmpl_chunk *next = ch->next;
        free(ch);
        ch = next;
    }
    a->head = NULL;
    a->used = 0;
}
