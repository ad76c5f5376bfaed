// The public header must compile as C++ and link from C++ code unchanged.
#include "llm.h"

#include <cstdio>
#include <cstring>

int main() {
    llm_options *o = llm_options_new();
    llm_status st = llm_options_set_int(o, LLM_OPT_THREADS, 1);
    llm_model *m = nullptr;
    llm_status miss = llm_model_load_file("/nonexistent.gguf", o, &m);
    int ok = st == LLM_OK && miss == LLM_ERR_IO && m == nullptr && std::strlen(llm_last_error(o)) > 0 &&
             std::strcmp(llm_version(), LLM_VERSION_STRING) == 0;
    llm_options_free(o);
    std::printf("test_header_cpp: %d passed, %d failed\n", ok ? 1 : 0, ok ? 0 : 1);
    return ok ? 0 : 1;
}
