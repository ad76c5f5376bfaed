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

from conftest import REPO, child_env, running_server

openai = pytest.importorskip("openai", reason="pip install openai (tests/requirements.txt)")

SERVER = os.path.join(REPO, "examples", "server.py")


@pytest.fixture(scope="module")
def server(gemma_file):
    with running_server(gemma_file, "--n-ctx", "256", "--threads", "1", "--model-id", "gemma-test", "--max-tokens-limit", "32") as url:
        yield url


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


def test_shared_system_prompt_is_cached(client):
    """Requests that start with the same system prompt reuse its KV cache (OpenAI's
    usage.prompt_tokens_details.cached_tokens counts the prompt tokens served from it)."""
    system = "You answer questions about a shop. " + " ".join(f"Item {i} is in aisle {i % 4 + 1}." for i in range(1, 16))
    cached = []
    for q in ("Where is item 3?", "Where is item 9?"):
        r = client.chat.completions.create(model="gemma-test", temperature=0, max_tokens=3,
                                           messages=[{"role": "system", "content": system},
                                                     {"role": "user", "content": q}])
        cached.append(r.usage.prompt_tokens_details.cached_tokens)
        assert cached[-1] <= r.usage.prompt_tokens
    assert cached[1] >= 64, cached


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


# -- controllable output through the server ---------------------------------------------------------
WEATHER = {"type": "object",
           "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"enum": ["c", "f"]},
                          "days": {"type": "integer", "minimum": 1, "maximum": 7}},
           "required": ["city"], "additionalProperties": False}
PING = {"type": "object", "properties": {}, "additionalProperties": False}
SERVER_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                                  "parameters": WEATHER}},
                {"type": "function", "function": {"name": "ping", "description": "Check", "parameters": PING}}]
SERVER_SCHEMAS = {"get_weather": WEATHER, "ping": PING}
PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8},
                                           "age": {"type": "integer", "minimum": 0, "maximum": 120}},
          "required": ["name", "age"], "additionalProperties": False}


def _jsonschema():
    try:
        import jsonschema
    except ImportError:
        pytest.fail("jsonschema is missing: pip install jsonschema (tests/requirements.txt)")
    return jsonschema


@pytest.fixture(scope="module")
def tiny_server(fixtures_dir):
    """The server on a small random model carrying Qwen 2.5's template (Hermes-style tool calls)."""
    from conftest import make_model
    testdata = os.environ.get("LLM_TESTDATA", os.path.join(REPO, "..", "shared", "testdata"))
    qwen = open(os.path.join(testdata, "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja")).read()
    path = make_model(os.path.join(fixtures_dir, "tiny_qwen_tools.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "2048",
                      "--set", "tokenizer.chat_template=str:" + qwen)
    p = subprocess.Popen([sys.executable, SERVER, "-m", path, "--host", "127.0.0.1", "--port", "0", "--n-ctx", "2048",
                          "--threads", "1", "--model-id", "tiny", "--max-tokens-limit", "300"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        line = p.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:"), (line, p.stderr.read() if p.poll() else "")
        yield openai.OpenAI(base_url=line.split()[-1] + "/v1", api_key="none", timeout=300, max_retries=0)
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        assert "stopped" in out, err
        assert "Traceback" not in err, err


def test_tool_calls_through_client(tiny_server):
    """Random weights at temperature 1: every call the server returns, whole or streamed, parses
    and its arguments are valid for its tool."""
    jsonschema = _jsonschema()
    msgs = [{"role": "user", "content": "Weather in Oslo?"}]
    finished = 0
    for seed in range(4):
        kw = dict(model="tiny", messages=msgs, tools=SERVER_TOOLS, tool_choice="required", temperature=1.0,
                  seed=seed, max_tokens=200)
        r = tiny_server.chat.completions.create(**kw)
        ch = r.choices[0]
        assert ch.finish_reason in ("tool_calls", "length")
        if ch.finish_reason == "length":
            continue
        finished += 1
        assert ch.message.content is None and ch.message.tool_calls
        for call in ch.message.tool_calls:
            assert call.type == "function" and call.id.startswith("call_")
            jsonschema.validate(json.loads(call.function.arguments), SERVER_SCHEMAS[call.function.name])
        calls = {}
        finish = None
        for chunk in tiny_server.chat.completions.create(stream=True, **kw):
            c = chunk.choices[0]
            for tc in c.delta.tool_calls or []:
                e = calls.setdefault(tc.index, {"id": tc.id, "name": tc.function.name, "arguments": ""})
                e["arguments"] += tc.function.arguments or ""
            finish = c.finish_reason or finish
        assert finish == "tool_calls"
        assert [(calls[i]["name"], calls[i]["arguments"]) for i in sorted(calls)] == \
            [(c.function.name, c.function.arguments) for c in ch.message.tool_calls]
        assert all(calls[i]["id"] for i in calls)
        # the call and its result go back in
        conv = msgs + [ch.message.model_dump(exclude_none=True),
                       {"role": "tool", "tool_call_id": ch.message.tool_calls[0].id, "content": "sunny"}]
        again = tiny_server.chat.completions.create(model="tiny", messages=conv, tools=SERVER_TOOLS, temperature=1.0,
                                                    seed=seed, max_tokens=20)
        assert again.usage.prompt_tokens > r.usage.prompt_tokens
    assert finished >= 2
    r = tiny_server.chat.completions.create(model="tiny", messages=msgs, tools=SERVER_TOOLS, temperature=1.0, seed=9,
                                            max_tokens=200, tool_choice={"type": "function",
                                                                         "function": {"name": "ping"}})
    assert all(c.function.name == "ping" for c in r.choices[0].message.tool_calls or [])


def test_json_schema_and_logprobs_through_client(tiny_server):
    jsonschema = _jsonschema()
    rf = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
    for seed in range(3):
        r = tiny_server.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "JSON please"}],
                                                response_format=rf, temperature=1.0, seed=seed, max_tokens=200)
        assert r.choices[0].finish_reason == "stop"
        jsonschema.validate(json.loads(r.choices[0].message.content), PERSON)
    # the byte tokens 0x80-0xFF banned (ids 3 + byte), so that every token is whole ASCII text
    ascii_only = {str(3 + b): -100 for b in range(0x80, 0x100)}
    r = tiny_server.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "Hi"}], max_tokens=6,
                                            temperature=1.0, seed=1, logprobs=True, top_logprobs=3,
                                            logit_bias=ascii_only)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert "".join(e.token for e in content) == r.choices[0].message.content
    assert all(max(e.bytes) < 0x80 for e in content)
    assert all(e.logprob <= 0 and len(e.top_logprobs) == 3 and bytes(e.bytes).decode("utf-8", "replace") == e.token
               for e in content)
    c = tiny_server.completions.create(model="tiny", prompt="Say:", max_tokens=20, temperature=1.0, seed=2, logprobs=2,
                                       extra_body={"grammar": 'root ::= [a-z]{1,5} "."'})
    text = c.choices[0].text
    assert c.choices[0].finish_reason == "stop" and text.endswith(".") and text[:-1].isalpha()
    assert "".join(c.choices[0].logprobs.tokens) == text


def test_bad_controls_are_400(tiny_server):
    msgs = [{"role": "user", "content": "x"}]
    bad = [dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {
               "type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}}}}]),
           dict(tools=[{"type": "function", "function": {"name": "bad name"}}]),
           dict(tools=SERVER_TOOLS, tool_choice={"type": "function", "function": {"name": "nope"}}),
           dict(tools=SERVER_TOOLS, tool_choice="often"),
           dict(response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "wat"}}}),
           dict(response_format={"type": "yaml"}),
           dict(logprobs=True, top_logprobs=30),
           dict(logit_bias={"not-a-token": 1}),
           dict(logit_bias={"999999": 1}),
           dict(extra_body={"grammar": 'root ::= ("'})]
    for kw in bad:
        with pytest.raises(openai.BadRequestError):
            tiny_server.chat.completions.create(model="tiny", messages=msgs, max_tokens=2, **kw)
    with pytest.raises(openai.BadRequestError):
        tiny_server.completions.create(model="tiny", prompt="x", max_tokens=2, extra_body={"grammar": "root ::= nope"})
    with pytest.raises(openai.BadRequestError):
        tiny_server.completions.create(model="tiny", prompt="x", max_tokens=2, logprobs=99)
