"""The backend listing through the Python binding (libllm.backends), with the mock plugin of
tests/backend standing in for the CUDA one (LLM_BACKEND_PATH set by tests/backend.cmake)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))

import libllm  # noqa: E402


def test_backends_listed():
    bs = {b["name"]: b for b in libllm.backends()}
    assert set(bs) == {"cpu", "cuda"}
    assert bs["cpu"]["available"] and len(bs["cpu"]["devices"]) == 1
    assert bs["cpu"]["devices"][0]["total_bytes"] > 0
    cuda = bs["cuda"]
    assert cuda["available"], cuda["description"]
    assert "mock" in cuda["description"]
    assert cuda["devices"] == [{"name": "Mock GPU 0", "total_bytes": 65536 << 20, "free_bytes": 65536 << 20}]
    assert libllm.Backend.CUDA == 2


def test_session_reports_backend():
    model_path = os.environ["LLM_BACKEND_TEST_MODEL"]
    with libllm.Model(model_path) as model:
        session = model.session(temperature=0)
        assert session.backend == "cuda"
