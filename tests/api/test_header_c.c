/* The public header compiles as strict C11 on its own (no hidden dependency on other headers). */
#include "llm.h"

#include <stdio.h>

int main(void) {
    int ok = llm_version_number() == LLM_VERSION_NUMBER;
    printf("test_header_c: %d passed, %d failed\n", ok, !ok);
    return !ok;
}
