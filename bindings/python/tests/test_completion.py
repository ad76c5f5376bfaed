"""OpenAI-shaped results of Model.create_completion / create_chat_completion, and concurrency."""
import threading

import pytest

import libllm


def check_usage(u):
    assert set(u) == {"prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details"}
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["prompt_tokens"] > 0
    # OpenAI's prompt caching field: the prompt tokens served by the context's prefix cache
    assert 0 <= u["prompt_tokens_details"]["cached_tokens"] <= u["prompt_tokens"]


def test_completion_shape(gemma):
    r = gemma.create_completion("The capital of France is", max_tokens=6, temperature=0)
    assert set(r) == {"id", "object", "created", "model", "choices", "usage"}
    assert r["object"] == "text_completion" and r["id"].startswith("cmpl-") and isinstance(r["created"], int)
    assert r["model"] == gemma.model_id
    (c,) = r["choices"]
    assert c["index"] == 0 and isinstance(c["text"], str) and c["finish_reason"] == "length"
    check_usage(r["usage"])
    assert r["usage"]["completion_tokens"] == 6
    assert r["usage"]["prompt_tokens"] == len(gemma.tokenize("The capital of France is"))
    # same as a session's greedy generation; streaming gives the same text
    with gemma.session(temperature=0) as s:
        assert s.generate("The capital of France is", max_tokens=6) == c["text"]
    chunks = list(gemma.create_completion("The capital of France is", max_tokens=6, temperature=0, stream=True))
    assert all(ch["object"] == "text_completion" and ch["id"] == chunks[0]["id"] for ch in chunks)
    assert "".join(ch["choices"][0]["text"] for ch in chunks) == c["text"]
    assert [ch["choices"][0]["finish_reason"] for ch in chunks][-1] == "length"
    assert all(ch["choices"][0]["finish_reason"] is None for ch in chunks[:-1])
    r2 = gemma("The capital of France is", max_tokens=6, temperature=0, stop=[c["text"][3:6]] if len(c["text"]) > 6
               else None, echo=True)
    assert r2["choices"][0]["text"].startswith("The capital of France is")


def test_chat_completion_shape(gemma):
    msgs = [{"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"}]
    r = gemma.create_chat_completion(msgs, max_tokens=6, temperature=0)
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    (c,) = r["choices"]
    assert c["message"]["role"] == "assistant" and isinstance(c["message"]["content"], str)
    assert c["finish_reason"] in ("stop", "length")
    check_usage(r["usage"])
    rendered = gemma.chat_render(msgs)
    assert r["usage"]["prompt_tokens"] == len(gemma.tokenize(rendered, add_bos=False, special=True))
    chunks = list(gemma.create_chat_completion(msgs, max_tokens=6, temperature=0, stream=True,
                                               stream_options={"include_usage": True}))
    assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    body = [ch for ch in chunks if ch["choices"]]
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in body) == c["message"]["content"]
    assert body[-1]["choices"][0]["finish_reason"] == c["finish_reason"] and body[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == r["usage"]


def test_bad_requests(tiny_path):
    with libllm.Model(tiny_path) as m:
        with pytest.raises(ValueError):
            m.create_chat_completion([{"role": "robot", "content": "x"}], max_tokens=2)
        with pytest.raises(ValueError):
            m.create_chat_completion([], max_tokens=2)
        with pytest.raises(TypeError):
            m.create_completion("x", max_tokens=2, no_such_argument=1)
        with pytest.raises(ValueError):
            m.create_completion("x", max_tokens=2, n=3)
        with pytest.raises(libllm.ContextFullError):
            m.create_completion("word " * 400, max_tokens=2)
        assert m.create_completion("x", max_tokens=2, model="ignored", user="u")["choices"][0]["text"] is not None


def test_concurrent_completions_from_threads(tiny_path):
    with libllm.Model(tiny_path) as m:
        want = {p: m.create_chat_completion([{"role": "user", "content": p}], max_tokens=8, temperature=0)
                ["choices"][0]["message"]["content"] for p in ("a", "b", "c", "d")}
        got, errors = {}, []

        def worker(p):
            try:
                for _ in range(3):
                    r = m.create_chat_completion([{"role": "user", "content": p}], max_tokens=8, temperature=0)
                    assert r["choices"][0]["message"]["content"] == want[p]
                got[p] = True
            except BaseException as e:
                errors.append(e)
        threads = [threading.Thread(target=worker, args=(p,)) for p in want]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors and len(got) == 4
        assert len(m._pool) <= 4
