"""The backend listing and batched steps (libllm.backends, libllm.step_batch) through the Python
binding, with the mock plugin of tests/backend standing in for the CUDA one (LLM_BACKEND_PATH set
by tests/backend.cmake)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bindings", "python", "tests"))

import libllm  # noqa: E402
from batch_steps import alone_and_batched  # noqa: E402


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


def test_step_batch_on_the_plugin():
    """libllm.step_batch with sessions on the device plugin (the mock's session_forward_batch):
    the same steps as each session stepped alone."""
    model_path = os.environ["LLM_BACKEND_TEST_MODEL"]
    with libllm.Model(model_path) as model:
        first = model.session(temperature=0, max_sessions=3, max_tokens=7)
        ss = [first] + [model.session(temperature=0, share_context=first, max_tokens=m) for m in (4, 9)]
        assert all(s.backend == "cuda" for s in ss)
        prompts = [[1, 17, 42], [5, 6, 7, 8, 9, 10, 11], [99]]

        def start():
            for s, p in zip(ss, prompts):
                s.reset()
                s.feed(p)

        alone, together = alone_and_batched(ss, start, 10)
        assert together == alone
        assert [len(a) for a in alone] == [7, 4, 9]
        for s in ss:
            s.close()
