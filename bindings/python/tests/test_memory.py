"""libllm.estimate_memory and the memory_limit option (LLM_OPT_MEMORY_LIMIT) in the Python binding,
on the real Gemma 3 270M. The estimate's accuracy against measured resident memory is checked by
tests/memory/measure_memory.c (ctest test_memory_estimate)."""
import pytest

import libllm


def test_estimate_fields(gemma_file):
    e = libllm.estimate_memory(gemma_file, n_ctx=1024)
    assert set(e) == {"weights_bytes", "weights_resident", "repacked_bytes", "model_overhead_bytes",
                      "kv_bytes_per_token", "kv_bytes_per_session", "scratch_bytes", "context_bytes", "total_bytes"}
    assert e["total_bytes"] == (e["weights_resident"] + e["repacked_bytes"] + e["model_overhead_bytes"] +
                                e["context_bytes"] + e["kv_bytes_per_session"] + e["scratch_bytes"])
    assert e["kv_bytes_per_session"] == e["kv_bytes_per_token"] * 1024
    # Gemma 3 270M: 18 layers, one KV head of 256 for keys and values, f32
    assert e["kv_bytes_per_token"] == 18 * 1 * (256 + 256) * 4
    # the options change what they concern
    f16 = libllm.estimate_memory(gemma_file, n_ctx=1024, kv_type=1)
    assert f16["kv_bytes_per_token"] * 2 == e["kv_bytes_per_token"]
    plain = libllm.estimate_memory(gemma_file, n_ctx=1024, repack=False)
    assert plain["repacked_bytes"] == 0 and plain["weights_resident"] == plain["weights_bytes"]
    assert libllm.estimate_memory(gemma_file, context_size=2048)["kv_bytes_per_session"] == 2 * e["kv_bytes_per_session"]


def test_estimate_errors(tmp_path):
    with pytest.raises(libllm.LlmIOError):
        libllm.estimate_memory(str(tmp_path / "missing.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model " * 100)
    with pytest.raises(libllm.FormatError):
        libllm.estimate_memory(str(bad))
    with pytest.raises(TypeError):
        libllm.estimate_memory(str(bad), no_such_option=1)


def test_memory_limit(gemma_file):
    e = libllm.estimate_memory(gemma_file, n_ctx=256)
    model_bytes = e["weights_resident"] + e["repacked_bytes"] + e["model_overhead_bytes"]
    with pytest.raises(libllm.LimitError, match="memory limit"):
        libllm.Model(gemma_file, memory_limit=model_bytes // 2)
    # room for the model but not for a session of 256 positions
    with libllm.Model(gemma_file, n_ctx=256, memory_limit=model_bytes + e["context_bytes"] + 1024) as m:
        with pytest.raises(libllm.LimitError, match="this session"):
            m.session()
    with libllm.Model(gemma_file, n_ctx=256, memory_limit=e["total_bytes"] * 2) as m:
        s = m.session(temperature=0)
        assert s.generate("The capital of France is", max_tokens=2)
        s.close()
