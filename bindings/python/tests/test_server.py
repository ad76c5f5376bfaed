"""examples/server.py: the OpenAI-compatible server, driven by the official `openai` client (plain
and streaming), by curl, and by 3 concurrent clients. Loopback only, bounded requests/timeouts."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from conftest import REPO, child_env

openai = pytest.importorskip("openai", reason="pip install openai (tests/requirements.txt)")

SERVER = os.path.join(REPO, "examples", "server.py")


@pytest.fixture(scope="module")
def server(gemma_file):
    p = subprocess.Popen([sys.executable, SERVER, "-m", gemma_file, "--host", "127.0.0.1", "--port", "0",
                          "--n-ctx", "256", "--threads", "1", "--model-id", "gemma-test", "--max-tokens-limit", "32"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        line = p.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, p.stderr.read() if p.poll() else "")
        yield line.split()[-1]
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            pytest.fail("the server did not stop on SIGTERM")
        assert "stopped" in out, err
        assert "Traceback" not in err, err


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="none", timeout=120, max_retries=0)


def test_models(client):
    models = client.models.list()
    assert [m.id for m in models.data] == ["gemma-test"]
    assert client.models.retrieve("gemma-test").owned_by == "libllm"


def test_completion_plain_and_streaming(client):
    r = client.completions.create(model="gemma-test", prompt="The capital of France is", max_tokens=6, temperature=0)
    assert r.object == "text_completion" and r.model == "gemma-test" and r.id.startswith("cmpl-")
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 6
    assert r.usage.total_tokens == r.usage.prompt_tokens + 6
    stream = client.completions.create(model="gemma-test", prompt="The capital of France is", max_tokens=6,
                                       temperature=0, stream=True)
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    assert chunks[-1].choices[0].finish_reason == "length"


def test_chat_plain_and_streaming(client):
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    r = client.chat.completions.create(model="gemma-test", messages=msgs, max_tokens=6, temperature=0)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert isinstance(r.choices[0].message.content, str) and r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5
    chunks = list(client.chat.completions.create(model="gemma-test", messages=msgs, max_tokens=6, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens


def test_errors_through_client(client):
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gemma-test", messages=[{"role": "user", "content": "word " * 400}],
                                       max_tokens=2)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gemma-test", messages=[{"role": "wizard", "content": "x"}],
                                       max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("other-model")


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_curl(server):
    def curl(*args):
        return subprocess.run(["curl", "-sS", "--max-time", "120", *args], capture_output=True, text=True,
                              timeout=150)
    r = curl(server + "/v1/models")
    assert r.returncode == 0 and json.loads(r.stdout)["data"][0]["id"] == "gemma-test"
    body = json.dumps({"model": "gemma-test", "prompt": "Hello", "max_tokens": 3, "temperature": 0})
    r = curl("-H", "Content-Type: application/json", "-d", body, server + "/v1/completions")
    res = json.loads(r.stdout)
    assert res["object"] == "text_completion" and res["usage"]["completion_tokens"] == 3
    body = json.dumps({"model": "gemma-test", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
                       "temperature": 0, "stream": True})
    r = curl("-N", "-H", "Content-Type: application/json", "-d", body, server + "/v1/chat/completions")
    events = [e for e in r.stdout.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    assert chunks[0]["object"] == "chat.completion.chunk" and chunks[-1]["choices"][0]["finish_reason"]
    r = curl("-w", "%{http_code}", "-o", "/dev/null", "-H", "Content-Type: application/json", "-d", "{not json",
             server + "/v1/chat/completions")
    assert r.stdout == "400"
    r = curl("-w", "%{http_code}", "-o", "/dev/null", server + "/nowhere")
    assert r.stdout == "404"


def test_three_concurrent_clients(server, client):
    prompts = ["The capital of France is", "Water is made of", "The sun is a"]
    want = {p: client.completions.create(model="gemma-test", prompt=p, max_tokens=4, temperature=0).choices[0].text
            for p in prompts}
    got, errors = {}, []

    def worker(i, p):
        try:
            c = openai.OpenAI(base_url=server + "/v1", api_key="none", timeout=120, max_retries=0)
            if i == 0:  # one of them streams
                chunks = c.completions.create(model="gemma-test", prompt=p, max_tokens=4, temperature=0, stream=True)
                got[p] = "".join(ch.choices[0].text for ch in chunks)
            else:
                got[p] = c.completions.create(model="gemma-test", prompt=p, max_tokens=4,
                                              temperature=0).choices[0].text
        except BaseException as e:
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(i, p)) for i, p in enumerate(prompts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    assert got == want
