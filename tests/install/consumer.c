/* A program built against an installed libllm, through pkg-config and through CMake's package. */
#include <llm.h>
#include <stdio.h>
#include <string.h>

int main(void) {
    int ok = strcmp(llm_version(), LLM_VERSION_STRING) == 0;
    printf("consumer: libllm %s: %d passed, %d failed\n", llm_version(), ok, !ok);
    return !ok;
}
