"""Tool calls for local models: OpenAI's ``tools`` / ``tool_choice`` on top of grammars.

A chat model is trained to write its calls in one syntax, which its chat template shows (and
which the template reads back when the conversation goes on). :func:`detect_format` picks it from
the template text:

- ``hermes`` (Hermes 2/3, Qwen 2.5 and others): ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``,
  several blocks one per line for parallel calls;
- ``llama3`` (Llama 3.1-3.3 JSON tool calling): ``{"name": ..., "parameters": {...}}``, one call;
- ``mistral``: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]``;
- ``json`` for templates without a syntax of their own (SmolLM2, Gemma 3):
  ``{"name": ..., "arguments": {...}}``, one call, described to the model in a system message.

:func:`tool_grammar` builds the GBNF grammar of the replies allowed by ``tool_choice``: the JSON of
a call comes from one JSON Schema (anyOf over the tools, each with its name as a const and its
``parameters`` schema as arguments) through :func:`libllm.json_schema_to_grammar`, so every
generated call parses and its arguments are valid against its tool's schema; rules of the
family's syntax are wrapped around it. :func:`parse_calls` and :class:`CallStream` read the reply
back (whole, or piece by piece for streaming).
"""
from __future__ import annotations

import copy
import json
import re
import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .grammar import gbnf_literal, json_schema_to_grammar, prefix_rules

ToolDefs = Sequence[Mapping[str, Any]]

# OpenAI's rule for function names; it also keeps names safe to show in prompts and grammars.
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: How many calls one reply may hold where the syntax has room for several (the grammar stops the
#: generation after the last one, so a model that keeps calling cannot run to max_tokens).
MAX_PARALLEL_CALLS = 4


@dataclass(frozen=True)
class ToolFormat:
    """One family's tool-call syntax."""
    name: str
    #: key of the arguments object in a call ("arguments", or "parameters" for Llama 3)
    args_key: str
    #: the first character of every reply that is a call (the text alternative of tool_choice
    #: "auto" may not start with it, so a reply is known to be a call or text from its start)
    first_char: str
    #: whether a reply may hold several calls
    parallel: bool


FORMATS: Dict[str, ToolFormat] = {
    "hermes": ToolFormat("hermes", "arguments", "<", True),
    "llama3": ToolFormat("llama3", "parameters", "{", False),
    "mistral": ToolFormat("mistral", "arguments", "[", True),
    "json": ToolFormat("json", "arguments", "{", False),
}

_HERMES_OPEN, _HERMES_CLOSE = "<tool_call>", "</tool_call>"
_MISTRAL_OPEN = "[TOOL_CALLS]"


def detect_format(template: Optional[str]) -> ToolFormat:
    """The tool-call syntax a chat template shows its model (see the module docstring); ``json``
    when it shows none."""
    t = template or ""
    if _MISTRAL_OPEN in t:
        return FORMATS["mistral"]
    if _HERMES_OPEN in t:
        return FORMATS["hermes"]
    # Llama 3.x: "Environment: ipython", <|python_tag|> for built-in tools, and the instruction
    # 'Respond in the format {"name": function name, "parameters": ...}'
    if "<|python_tag|>" in t or "ipython" in t or '"parameters"' in t:
        return FORMATS["llama3"]
    return FORMATS["json"]


# -- tool definitions and tool_choice ------------------------------------------------------------
@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: Dict[str, Any]


def check_tools(tools: Optional[ToolDefs]) -> List[Tool]:
    """OpenAI tool definitions ({"type": "function", "function": {"name", "description",
    "parameters"}}) checked and normalised; ValueError says what is wrong with them."""
    if tools is None:
        return []
    if not isinstance(tools, (list, tuple)):
        raise ValueError("tools must be a list of tool definitions")
    out: List[Tool] = []
    seen = set()
    for i, t in enumerate(tools):
        if not isinstance(t, Mapping):
            raise ValueError(f"tools[{i}] must be an object")
        if t.get("type", "function") != "function":
            raise ValueError(f"tools[{i}].type must be \"function\" (the only kind of tool)")
        fn = t.get("function")
        if not isinstance(fn, Mapping):
            raise ValueError(f"tools[{i}].function must be an object")
        name = fn.get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ValueError(f"tools[{i}].function.name must be 1 to 64 letters, digits, '_' or '-'")
        if name in seen:
            raise ValueError(f"tools[{i}]: two tools are named {name!r}")
        seen.add(name)
        desc = fn.get("description") or ""
        if not isinstance(desc, str):
            raise ValueError(f"tools[{i}].function.description must be a string")
        params = fn.get("parameters")
        if params is None:  # OpenAI: omitted = no arguments, so the call's arguments are {}
            params = {"type": "object", "properties": {}, "additionalProperties": False}
        if not isinstance(params, Mapping):
            raise ValueError(f"tools[{i}].function.parameters must be a JSON Schema object")
        out.append(Tool(name, desc, copy.deepcopy(dict(params))))
    return out


def template_tools(tools: ToolDefs) -> List[Dict[str, Any]]:
    """The tool definitions handed to a chat template: as given, except that a function without
    ``parameters`` gets the empty object schema (which means the same to OpenAI) because many
    templates read ``tool.parameters.properties`` unconditionally."""
    out = []
    for t in tools:
        t = dict(t)
        fn = t.get("function")
        if isinstance(fn, Mapping) and fn.get("parameters") is None:
            t["function"] = dict(fn, parameters={"type": "object", "properties": {}})
        out.append(t)
    return out


def tool_choice_mode(tool_choice: Any, tools: Sequence[Tool]) -> Tuple[str, List[Tool]]:
    """("none" | "auto" | "required", the tools a call may use) for OpenAI's tool_choice:
    "none", "auto" (the default with tools), "required", or {"type": "function", "function":
    {"name": ...}} (that tool only, a call required)."""
    if tool_choice is None:
        tool_choice = "auto" if tools else "none"
    if isinstance(tool_choice, str):
        if tool_choice not in ("none", "auto", "required"):
            raise ValueError(f"tool_choice must be \"none\", \"auto\", \"required\" or a named function, "
                             f"not {tool_choice!r}")
        if tool_choice != "none" and not tools:
            if tool_choice == "auto":
                return "none", []
            raise ValueError("tool_choice \"required\" needs tools")
        return tool_choice, list(tools)
    if isinstance(tool_choice, Mapping):
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        if tool_choice.get("type") != "function" or not isinstance(name, str):
            raise ValueError('tool_choice must be {"type": "function", "function": {"name": ...}}')
        chosen = [t for t in tools if t.name == name]
        if not chosen:
            raise ValueError(f"tool_choice names {name!r}, which is not one of the tools")
        return "required", chosen
    raise ValueError("tool_choice must be a string or an object")


# -- the grammar -----------------------------------------------------------------------------------
def _hoist_refs(params: Dict[str, Any], tag: str, defs: Dict[str, Any]) -> Dict[str, Any]:
    """The tool's parameters schema, made to work below the root of the call schema: its $defs
    and definitions move to the root's $defs under names prefixed with ``tag`` (tools may use the
    same names), and its references are rewritten to match; "#" and other references into the
    parameters schema itself point at a copy of it kept in $defs as well."""
    root_name = tag + "root"
    needs_root = False

    def rewrite_ref(ref: str) -> str:
        nonlocal needs_root
        if not ref.startswith("#"):
            return ref  # external: the converter says whether it can follow it
        for key in ("/$defs/", "/definitions/"):
            if ref.startswith("#" + key):
                prefix = tag + ("d-" if key == "/definitions/" else "")
                return "#/$defs/" + prefix + ref[len(key) + 1:]
        needs_root = True
        return "#/$defs/" + root_name + ref[1:]

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str):
                    out[k] = rewrite_ref(v)
                else:
                    out[k] = walk(v)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    body = {k: v for k, v in params.items() if k not in ("$defs", "definitions", "$schema", "$id")}
    for key, prefix in (("$defs", tag), ("definitions", tag + "d-")):
        group = params.get(key)
        if isinstance(group, Mapping):
            for name, sub in group.items():
                defs[prefix + name] = walk(sub)
    body = walk(body)
    if needs_root:
        defs[root_name] = body
    return body


def call_schema(tools: Sequence[Tool], fmt: ToolFormat) -> Dict[str, Any]:
    """The JSON Schema of one call's JSON in ``fmt``: anyOf over the tools, each an object with
    its name as a const and its parameters schema under the format's arguments key."""
    if not tools:
        raise ValueError("no tools to call")
    defs: Dict[str, Any] = {}
    variants = []
    for i, t in enumerate(tools):
        params = _hoist_refs(t.parameters, f"t{i}-", defs)
        variants.append({"type": "object",
                         "properties": {"name": {"const": t.name}, fmt.args_key: params},
                         "required": ["name", fmt.args_key], "additionalProperties": False})
    schema: Dict[str, Any] = variants[0] if len(variants) == 1 else {"anyOf": variants}
    if defs:
        schema = dict(schema, **{"$defs": defs})
    return schema


#: Start rule of the grammars built here (the converted schemas keep their own "root", renamed).
ROOT = "libllm-root"


def tool_grammar(tools: Sequence[Tool], fmt: ToolFormat, mode: str, parallel: bool = True,
                 text_grammar: Optional[str] = None) -> str:
    """GBNF (start rule :data:`ROOT`) of the replies allowed with ``mode`` "required" (calls only)
    or "auto" (calls, or text that cannot start like a call; ``text_grammar``, e.g. a
    response_format's grammar with start rule "root", constrains that text further).
    UnsupportedError / InvalidArgumentError come from converting a tool's parameters schema."""
    call = prefix_rules(json_schema_to_grammar(call_schema(tools, fmt)), "c-")
    many = parallel and fmt.parallel and MAX_PARALLEL_CALLS > 1
    more = "{0,%d}" % (MAX_PARALLEL_CALLS - 1)
    rules = []
    if fmt.name == "hermes":
        rules.append('libllm-block ::= %s c-root %s' % (gbnf_literal(_HERMES_OPEN + "\n"),
                                                        gbnf_literal("\n" + _HERMES_CLOSE)))
        rules.append('libllm-calls ::= libllm-block' + (' ("\\n" libllm-block)' + more if many else ""))
    elif fmt.name == "mistral":
        # [TOOL_CALLS] is a control token in Mistral's vocabularies, which grammars cannot produce
        # (they match text): optional, so that such a model can go straight to the list
        rules.append('libllm-calls ::= %s? "[" c-root%s "]"' % (gbnf_literal(_MISTRAL_OPEN),
                                                               (' ("," " "? c-root)' + more) if many else ""))
    else:
        rules.append("libllm-calls ::= c-root")
    if mode == "required":
        rules.insert(0, f"{ROOT} ::= libllm-calls")
    elif mode == "auto":
        rules.insert(0, f"{ROOT} ::= libllm-calls | libllm-text")
        if text_grammar is not None:
            rules.append("libllm-text ::= t-root")
            call += "\n" + prefix_rules(text_grammar, "t-")
        else:
            # any text whose first character is not the one calls start with (nor a space, behind
            # which a call could hide)
            first = fmt.first_char.replace("\\", "\\\\").replace("]", "\\]")
            rules.append(f"libllm-text ::= [^{first} \\t\\n\\r] libllm-char*")
            rules.append('libllm-char ::= [^<] | "<"')
    else:
        raise ValueError(f"no grammar for tool_choice mode {mode!r}")
    return "\n".join(rules) + "\n" + call + "\n"


# -- what the model is told where its template ignores tools -----------------------------------------
def tools_system_prompt(tools: Sequence[Tool], fmt: ToolFormat, mode: str) -> str:
    """Instructions for models whose chat template does not show them the tools: each tool as
    JSON (name, description, parameters) and the form a call takes."""
    lines = ["You can call the following functions. Each one is given as JSON, with a JSON Schema of its "
             "arguments:"]
    for t in tools:
        lines.append(json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters},
                                ensure_ascii=False))
    example = '{"name": "<function name>", "%s": {<arguments>}}' % fmt.args_key
    if fmt.name == "hermes":
        example = f"{_HERMES_OPEN}\n{example}\n{_HERMES_CLOSE}"
    elif fmt.name == "mistral":
        example = f"{_MISTRAL_OPEN}[{example}]"
    lines.append(f"To call a function, reply with only this: {example}")
    if mode == "auto":
        lines.append("If no function fits the request, reply in plain text instead.")
    return "\n".join(lines)


def template_shows_tools(model: Any, tools: ToolDefs) -> bool:
    """Whether the model's chat template renders tool definitions at all: a one-message
    conversation rendered with and without them differs. A template that fails either way counts
    as showing them (feeding the real conversation reports the failure)."""
    probe = [{"role": "user", "content": "Hello"}]
    try:
        return model.apply_chat_template(probe, tools=template_tools(tools)) != model.apply_chat_template(probe)
    except Exception:  # a template error: not this function's to report
        return True


def new_call_id(fmt: ToolFormat) -> str:
    """A fresh tool call id: "call_" and 24 hex digits, or for Mistral the 9 letters and digits
    its template insists on."""
    if fmt.name == "mistral":
        alphabet = string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(9))
    return "call_" + uuid.uuid4().hex[:24]


def call_text(fmt: ToolFormat, calls: Sequence[Tuple[str, Any]]) -> str:
    """The text a model of ``fmt`` writes for calls [(name, arguments)] (for templates that do not
    render tool calls themselves)."""
    objs = [json.dumps({"name": name, fmt.args_key: args}, ensure_ascii=False) for name, args in calls]
    if fmt.name == "hermes":
        return "\n".join(f"{_HERMES_OPEN}\n{o}\n{_HERMES_CLOSE}" for o in objs)
    if fmt.name == "mistral":
        return _MISTRAL_OPEN + "[" + ", ".join(objs) + "]"
    return objs[0] if len(objs) == 1 else "\n".join(objs)


def _arguments_value(args: Any) -> Any:
    """OpenAI sends arguments as a JSON string; templates (as in transformers) expect the object."""
    if isinstance(args, str):
        try:
            return json.loads(args)
        except ValueError:
            return args
    return args


def prepare_messages(messages: Sequence[Mapping[str, Any]], fmt: ToolFormat, tools: Sequence[Tool], mode: str,
                     template_knows_tools: bool) -> List[Dict[str, Any]]:
    """The conversation as the chat template should see it. Tool-call arguments become objects.
    Where the template ignores tools, a system message describes them (when a call may be made),
    earlier calls become the assistant's text in the form it is asked to use, and tool results
    become user messages (such templates often accept only user and assistant turns)."""
    out: List[Dict[str, Any]] = []
    for m in messages:
        msg = dict(m)
        calls = msg.get("tool_calls")
        if isinstance(calls, list):
            fixed = []
            for c in calls:
                if isinstance(c, Mapping) and isinstance(c.get("function"), Mapping):
                    c = dict(c)
                    c["function"] = dict(c["function"])
                    c["function"]["arguments"] = _arguments_value(c["function"].get("arguments"))
                fixed.append(c)
            msg["tool_calls"] = fixed
        out.append(msg)
    if template_knows_tools:
        return out
    plain: List[Dict[str, Any]] = []
    after_tool = False  # the last message kept came from a tool result
    names_by_id: Dict[str, str] = {}  # tool results name their call by id only
    for msg in out:
        role = msg.get("role")
        from_tool = False
        if role == "assistant" and msg.get("tool_calls"):
            pairs = [(c["function"].get("name"), c["function"].get("arguments"))
                     for c in msg["tool_calls"] if isinstance(c, Mapping) and isinstance(c.get("function"), Mapping)]
            for c in msg["tool_calls"]:
                if isinstance(c, Mapping) and isinstance(c.get("id"), str) and isinstance(c.get("function"), Mapping):
                    names_by_id[c["id"]] = str(c["function"].get("name"))
            text = call_text(fmt, pairs) if pairs else ""
            content = msg.get("content")
            msg = {"role": "assistant",
                   "content": (content + "\n" + text) if isinstance(content, str) and content else text}
        elif role == "tool":
            from_tool = True
            name = msg.get("name") if isinstance(msg.get("name"), str) else names_by_id.get(str(msg.get("tool_call_id")))
            label = f"Result of {name}" if name else "Function result"
            if isinstance(msg.get("tool_call_id"), str):
                label += f" (call {msg['tool_call_id']})"
            content = msg.get("content")
            if not isinstance(content, str):
                content = json.dumps(content, ensure_ascii=False)
            msg = {"role": "user", "content": f"{label}: {content}"}
        # tool results next to a user turn join it: such templates want user and assistant turns
        # to alternate
        if (msg.get("role") == "user" and plain and plain[-1].get("role") == "user" and (from_tool or after_tool)
                and isinstance(plain[-1].get("content"), str) and isinstance(msg.get("content"), str)):
            plain[-1] = dict(plain[-1], content=plain[-1]["content"] + "\n" + msg["content"])
            after_tool = True
            continue
        plain.append(msg)
        after_tool = from_tool
    if mode != "none" and tools:
        prompt = tools_system_prompt(tools, fmt, mode)
        if plain and plain[0].get("role") in ("system", "developer") and isinstance(plain[0].get("content"), str):
            plain[0] = dict(plain[0], content=plain[0]["content"] + "\n\n" + prompt)
        else:
            plain.insert(0, {"role": "system", "content": prompt})
    return plain


# -- reading calls back ------------------------------------------------------------------------------
@dataclass
class _Member:
    start: int
    end: Optional[int] = None  # exclusive; None while the value is unfinished


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n\r":
        i += 1
    return i


def _scan_object(text: str, pos: int) -> Tuple[Dict[str, _Member], Optional[int]]:
    """Where the members of the JSON object starting at text[pos] ("{") lie: key → span of its
    value (end None while unfinished), and the end of the object (None when it is unfinished).
    Works on a prefix of the text, so a stream can be read as it grows."""
    members: Dict[str, _Member] = {}
    depth = 0
    in_str = esc = False
    str_start = 0
    state = "key"  # at depth 1: key, colon, value, in-value, comma
    key = ""
    cur: Optional[_Member] = None
    cur_is_str = False
    i = pos
    n = len(text)

    def end_scalar(at: int) -> None:
        if cur is not None and cur.end is None:
            j = at
            while j > cur.start and text[j - 1] in " \t\n\r":
                j -= 1
            cur.end = j

    while i < n:
        c = text[i]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
                if depth == 1 and state == "key-str":
                    try:
                        key = json.loads(text[str_start:i + 1])
                    except ValueError:
                        key = text[str_start + 1:i]
                    state = "colon"
                elif depth == 1 and state == "in-value" and cur_is_str and cur is not None:
                    cur.end = i + 1
                    state = "comma"
            i += 1
            continue
        if c == '"':
            in_str = True
            str_start = i
            if depth == 1:
                if state == "key":
                    state = "key-str"
                elif state == "value":
                    cur, cur_is_str = _Member(i), True
                    members[key] = cur
                    state = "in-value"
        elif c in "{[":
            depth += 1
            if depth == 2 and state == "value":
                cur, cur_is_str = _Member(i), False
                members[key] = cur
                state = "in-value"
        elif c in "}]":
            if depth == 1:
                if state == "in-value":
                    end_scalar(i)
                return members, i + 1
            depth -= 1
            if depth == 1 and state == "in-value" and cur is not None and cur.end is None:
                cur.end = i + 1
                state = "comma"
        elif depth == 1:
            if c == ":" and state == "colon":
                state = "value"
            elif c == ",":
                if state == "in-value":
                    end_scalar(i)
                state = "key"
            elif state == "value" and c not in " \t\n\r":
                cur, cur_is_str = _Member(i), False
                members[key] = cur
                state = "in-value"
        i += 1
    return members, None


def _call_objects(text: str, fmt: ToolFormat) -> List[Tuple[Dict[str, _Member], Optional[int]]]:
    """The call objects of a reply (or of the part of it generated so far), in order."""
    objs: List[Tuple[Dict[str, _Member], Optional[int]]] = []
    i = _skip_ws(text, 0)
    if fmt.name == "hermes":
        while text.startswith(_HERMES_OPEN, i):
            j = _skip_ws(text, i + len(_HERMES_OPEN))
            if j >= len(text) or text[j] != "{":
                break
            members, end = _scan_object(text, j)
            objs.append((members, end))
            if end is None:
                break
            j = _skip_ws(text, end)
            if not text.startswith(_HERMES_CLOSE, j):
                break
            i = _skip_ws(text, j + len(_HERMES_CLOSE))
        return objs
    if fmt.name == "mistral":
        if text.startswith(_MISTRAL_OPEN, i):  # a control token in real Mistral vocabularies: may be absent
            i = _skip_ws(text, i + len(_MISTRAL_OPEN))
        if not text.startswith("[", i):
            return objs
        i = _skip_ws(text, i + 1)
        while i < len(text) and text[i] == "{":
            members, end = _scan_object(text, i)
            objs.append((members, end))
            if end is None:
                break
            i = _skip_ws(text, end)
            if not text.startswith(",", i):
                break
            i = _skip_ws(text, i + 1)
        return objs
    if i < len(text) and text[i] == "{":
        objs.append(_scan_object(text, i))
    return objs


def _call_of(text: str, members: Dict[str, _Member], fmt: ToolFormat,
             names: Optional[Sequence[str]]) -> Optional[Tuple[str, str]]:
    """(name, arguments JSON text) of a finished call object, None when it is not one."""
    name_m, args_m = members.get("name"), members.get(fmt.args_key)
    if args_m is None and fmt.name == "llama3":
        args_m = members.get("arguments")  # some Llama fine-tunes write "arguments"
    if name_m is None or args_m is None or name_m.end is None or args_m.end is None:
        return None
    try:
        name = json.loads(text[name_m.start:name_m.end])
        args = text[args_m.start:args_m.end]
        json.loads(args)
    except ValueError:
        return None
    if not isinstance(name, str) or (names is not None and name not in names):
        return None
    return name, args


def parse_calls(text: str, fmt: ToolFormat, names: Optional[Sequence[str]] = None) -> List[Tuple[str, str]]:
    """The finished calls of a reply in ``fmt`` as [(name, arguments JSON text)], the arguments
    exactly as the model wrote them (valid JSON). A call cut off (max_tokens) is left out; with
    ``names``, so are calls of other functions."""
    out = []
    for members, end in _call_objects(text, fmt):
        if end is None:
            break
        call = _call_of(text, members, fmt, names)
        if call is None:
            break
        out.append(call)
    return out


def is_call_start(text: str, fmt: ToolFormat) -> bool:
    """Whether a reply that begins with ``text`` (non-empty) is a call rather than plain text."""
    return text.lstrip(" \t\n\r")[:1] == fmt.first_char


class CallStream:
    """Turns a growing reply into OpenAI's streamed tool-call deltas: for each call, one delta
    with its index, id, type and name (arguments "") once its name is complete, then deltas with
    the next pieces of its arguments text. The pieces of a call's arguments add up to exactly the
    arguments of :func:`parse_calls`."""

    def __init__(self, fmt: ToolFormat, names: Optional[Sequence[str]] = None) -> None:
        self.fmt = fmt
        self.names = names
        self.ids: List[str] = []
        self._sent_args: List[int] = []

    def update(self, text: str) -> List[Dict[str, Any]]:
        """The deltas (``delta.tool_calls`` entries) that the reply ``text`` so far adds."""
        deltas: List[Dict[str, Any]] = []
        for idx, (members, _end) in enumerate(_call_objects(text, self.fmt)):
            name_m, args_m = members.get("name"), members.get(self.fmt.args_key)
            if args_m is None and self.fmt.name == "llama3":
                args_m = members.get("arguments")
            if idx >= len(self.ids):
                if name_m is None or name_m.end is None:
                    break
                try:
                    name = json.loads(text[name_m.start:name_m.end])
                except ValueError:
                    break
                if not isinstance(name, str) or (self.names is not None and name not in self.names):
                    break
                self.ids.append(new_call_id(self.fmt))
                self._sent_args.append(0)
                deltas.append({"index": idx, "id": self.ids[idx], "type": "function",
                               "function": {"name": name, "arguments": ""}})
            if args_m is None:
                continue
            if args_m.end is not None:
                visible = text[args_m.start:args_m.end]
            else:  # unfinished: trailing spaces may still turn out to follow the value
                visible = text[args_m.start:].rstrip(" \t\n\r")
            if len(visible) > self._sent_args[idx]:
                deltas.append({"index": idx, "function": {"arguments": visible[self._sent_args[idx]:]}})
                self._sent_args[idx] = len(visible)
        return deltas
