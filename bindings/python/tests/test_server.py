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


def test_tools_reach_the_chat_template(fixtures_dir):
    """`tools` and `chat_template_kwargs` of a request reach the model's own template: a small
    random model carrying Qwen 2.5's template (which writes the tools into its system turn) counts
    more prompt tokens with them, exactly as many as the template's rendering has."""
    import libllm
    from conftest import make_model
    testdata = os.environ.get("LLM_TESTDATA", os.path.join(REPO, "..", "shared", "testdata"))
    qwen = open(os.path.join(testdata, "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja")).read()
    path = make_model(os.path.join(fixtures_dir, "tiny_qwen_tools.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "2048",
                      "--set", "tokenizer.chat_template=str:" + qwen)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    with libllm.Model(path) as m:
        # the tokenizer asks for BOS and the template does not write it: the session adds it
        want_plain = len(m.tokenize(m.apply_chat_template(msgs), add_bos=True, special=True))
        want_tools = len(m.tokenize(m.apply_chat_template(msgs, tools=tools), add_bos=True, special=True))
    assert want_tools > want_plain + 20
    p = subprocess.Popen([sys.executable, SERVER, "-m", path, "--host", "127.0.0.1", "--port", "0", "--n-ctx", "2048",
                          "--threads", "1", "--model-id", "tiny"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=child_env())
    try:
        url = p.stdout.readline().strip().split()[-1]
        c = openai.OpenAI(base_url=url + "/v1", api_key="none", timeout=120, max_retries=0)
        plain = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=1, temperature=0)
        with_tools = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=1, temperature=0, tools=tools,
                                               extra_body={"chat_template_kwargs": {"unused": True}})
        assert plain.usage.prompt_tokens == want_plain
        assert with_tools.usage.prompt_tokens == want_tools
        none = c.chat.completions.create(model="tiny", messages=msgs, max_tokens=1, temperature=0, tools=tools,
                                         tool_choice="none")
        assert none.usage.prompt_tokens == want_plain  # tool_choice "none": the tools are not shown
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="tiny", messages=msgs, max_tokens=1, extra_body={"tools": "x"})
    finally:
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
