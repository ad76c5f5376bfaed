/* Growth of the merge heap (merge_heap.h). */
#include <stdlib.h>

#include "tokenizer/merge_heap.h"

int merge_heap_grow(merge_heap *h, size_t size) {
    size_t nc = h->cap ? h->cap * 2 : 64;
    unsigned char *nv = realloc(h->v, nc * size);
    if (!nv) return -1;
    h->v = nv;
    h->cap = nc;
    return 0;
}
