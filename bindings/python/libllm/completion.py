"""OpenAI-style completions on a Model (the shapes of the OpenAI Python client's ``Completion``,
``ChatCompletion`` and ``ChatCompletionChunk``, as plain dicts). Each call takes a session of its
own from the model's small pool, so calls from several threads run concurrently.

Controllable output: ``response_format`` (json_object, json_schema), ``grammar`` (GBNF, an
extension also found in llama.cpp's server), ``tools`` / ``tool_choice`` (calls constrained to the
model family's syntax and to each tool's parameters schema, see :mod:`libllm.tools`),
``logit_bias``, ``logprobs`` / ``top_logprobs`` and ``seed``."""
from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, TYPE_CHECKING

from . import _ffi
from . import tools as _tools
from .errors import LlmError, NotFoundError
from .grammar import json_object_grammar, json_schema_to_grammar
from .session import MAX_TOP_LOGPROBS, OPENAI_FINISH_REASONS, Session, Step, Stops

if TYPE_CHECKING:
    from .model import Model

Result = Dict[str, Any]

#: Request fields that are accepted and ignored because they do not change a single-choice,
#: local generation (OpenAI clients send some of them by default).
_IGNORED = {"model", "user", "n", "stream_options", "best_of", "suffix", "timeout", "extra_headers", "extra_body",
            "metadata", "store", "service_tier"}


def _check_unsupported(unsupported: Mapping[str, Any]) -> None:
    for key, value in unsupported.items():
        if key in _IGNORED:
            if key == "n" and value not in (None, 1):
                raise ValueError("only n=1 is supported")
            if key == "best_of" and value not in (None, 1):
                raise ValueError(f"{key} is not supported")
            continue
        raise TypeError(f"unsupported completion argument {key!r}")


def _usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Dict[str, Any]:
    # cached_tokens: OpenAI's name for the prompt tokens served from a cache (here the context's
    # shared prefixes)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}}


def _overrides(max_tokens: Optional[int], **kw: Any) -> Dict[str, Any]:
    kw["max_tokens"] = 0 if not max_tokens else int(max_tokens)
    return kw


def _include_usage(unsupported: Mapping[str, Any]) -> bool:
    opts = unsupported.get("stream_options") or {}
    return bool(opts.get("include_usage")) if isinstance(opts, Mapping) else False


# -- request checks -------------------------------------------------------------------------------
def _logit_bias(model: "Model", bias: Any) -> Dict[int, float]:
    """OpenAI's logit_bias ({"token id": bias in [-100, 100]}) as {token: bias}."""
    if bias is None:
        return {}
    if not isinstance(bias, Mapping):
        raise ValueError("logit_bias must be an object mapping token ids to biases")
    n_vocab = model.n_vocab
    out: Dict[int, float] = {}
    for key, value in bias.items():
        try:
            tok = int(key)
        except (TypeError, ValueError):
            raise ValueError(f"logit_bias: {key!r} is not a token id") from None
        if isinstance(key, bool) or (isinstance(key, str) and key.strip() != str(tok)):
            raise ValueError(f"logit_bias: {key!r} is not a token id")
        if not 0 <= tok < n_vocab:
            raise ValueError(f"logit_bias: token {tok} is outside the vocabulary (0..{n_vocab - 1})")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
                or not -100 <= value <= 100:
            raise ValueError(f"logit_bias: the bias of token {tok} must be a number from -100 to 100")
        out[tok] = float(value)
    return out


def _top_logprobs(logprobs: Any, top_logprobs: Any) -> int:
    """The session's top_logprobs setting (-1: none) for chat's logprobs / top_logprobs."""
    if top_logprobs is not None:
        if isinstance(top_logprobs, bool) or not isinstance(top_logprobs, int) \
                or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
            raise ValueError(f"top_logprobs must be an integer from 0 to {MAX_TOP_LOGPROBS}")
        if not logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
    if logprobs is not None and not isinstance(logprobs, bool):
        raise ValueError("logprobs must be true or false")
    return (top_logprobs or 0) if logprobs else -1


def _legacy_logprobs(logprobs: Any) -> int:
    """The session's top_logprobs setting for completions' logprobs (an integer: how many
    alternatives; None: none)."""
    if logprobs is None or logprobs is False:
        return -1
    if isinstance(logprobs, bool) or not isinstance(logprobs, int) or not 0 <= logprobs <= MAX_TOP_LOGPROBS:
        raise ValueError(f"logprobs must be an integer from 0 to {MAX_TOP_LOGPROBS}")
    return logprobs


def _response_format(response_format: Any) -> Tuple[Optional[str], Any]:
    """("grammar", GBNF) for json_object, ("schema", schema) for json_schema, (None, None) for
    text or none."""
    if response_format is None:
        return None, None
    if not isinstance(response_format, Mapping):
        raise ValueError("response_format must be an object")
    kind = response_format.get("type")
    if kind == "text":
        return None, None
    if kind == "json_object":
        return "grammar", json_object_grammar()
    if kind == "json_schema":
        js = response_format.get("json_schema")
        if not isinstance(js, Mapping):
            raise ValueError('response_format json_schema needs "json_schema": {"name": ..., "schema": {...}}')
        schema = js.get("schema", {})
        if not isinstance(schema, (Mapping, bool)):
            raise ValueError("response_format.json_schema.schema must be a JSON Schema object")
        return "schema", schema
    raise ValueError(f"response_format type must be \"text\", \"json_object\" or \"json_schema\", not {kind!r}")


# -- constraints on a pooled session ---------------------------------------------------------------
@dataclass
class _Constraint:
    grammar: Optional[str] = None
    root: str = "root"
    schema: Any = None
    bias: Dict[int, float] = field(default_factory=dict)
    top_logprobs: int = -1

    def apply(self, session: Session) -> None:
        if self.grammar is not None:
            session.set_grammar(self.grammar, self.root)
        elif self.schema is not None:
            session.set_json_schema(self.schema)
        if self.bias:
            session.set_logit_bias(self.bias)
        if self.top_logprobs >= 0:
            session.set(top_logprobs=self.top_logprobs)

    def clear(self, session: Session) -> None:
        """Undoes :meth:`apply` before the session goes back to the pool (a reset keeps them); a
        session that cannot be cleared is closed instead, so that it is not reused."""
        if session.closed:
            return
        try:
            if self.grammar is not None or self.schema is not None:
                session.clear_grammar()
            if self.bias:
                session.set_logit_bias(None)
            if self.top_logprobs >= 0:
                session.set(top_logprobs=-1)
        except LlmError:
            session.close()


class _Logprobs:
    """OpenAI logprobs entries of the sampled tokens."""

    def __init__(self, model: "Model") -> None:
        self.model = model
        self._pieces: Dict[int, bytes] = {}

    def piece(self, token: int) -> bytes:
        p = self._pieces.get(token)
        if p is None:
            p = self.model.token_to_piece(token)
            if not p:  # a control token: its name rather than nothing
                p = self.model.token_to_piece(token, special=True)
            self._pieces[token] = p
        return p

    def entry(self, token: int, logprob: float) -> Dict[str, Any]:
        p = self.piece(token)
        return {"token": p.decode("utf-8", "replace"), "logprob": logprob, "bytes": list(p)}

    def chat(self, s: Step) -> Optional[Dict[str, Any]]:
        """The chat entry ({"token", "logprob", "bytes", "top_logprobs"}) of a step; None for a
        step without a sampled content token (an end-of-generation token is not content; the
        token that completes a grammar's string and so ends the generation is)."""
        if s.token < 0 or s.logprob is None or (s.finish == _ffi.Finish.EOG and self.model.token_is_eog(s.token)):
            return None
        e = self.entry(s.token, s.logprob)
        e["top_logprobs"] = [self.entry(t, lp) for t, lp in (s.top_logprobs or ())]
        return e


def _content_logprobs(entries: Optional[List[Dict[str, Any]]]) -> Optional[Dict[str, Any]]:
    return None if entries is None else {"content": entries, "refusal": None}


def _finish_reason(finish: _ffi.Finish, n_calls: int) -> str:
    reason = OPENAI_FINISH_REASONS.get(finish, "stop")
    if n_calls and finish not in (_ffi.Finish.LENGTH, _ffi.Finish.CONTEXT):
        return "tool_calls"
    return reason


# -- completions -----------------------------------------------------------------------------------
def create_completion(model: "Model", prompt: Union[str, List[str]], *, max_tokens: Optional[int],
                      temperature: float, top_p: float, top_k: int, min_p: float, stop: Stops, stream: bool,
                      seed: Optional[int], repeat_penalty: float, frequency_penalty: float, presence_penalty: float,
                      echo: bool, n_ctx: Optional[int], grammar: Optional[str] = None, response_format: Any = None,
                      logprobs: Optional[int] = None, logit_bias: Optional[Mapping[str, float]] = None,
                      unsupported: Mapping[str, Any] = {}) -> Union[Result, Iterator[Result]]:
    """See Model.create_completion."""
    _check_unsupported(unsupported)
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise ValueError("prompt must be a string (or a list of exactly one string)")
        prompt = prompt[0]
    overrides = _overrides(max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, seed=seed,
                           repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                           presence_penalty=presence_penalty)
    constraint = _Constraint(bias=_logit_bias(model, logit_bias), top_logprobs=_legacy_logprobs(logprobs))
    kind, value = _response_format(response_format)
    if grammar is not None:
        if kind is not None:
            raise ValueError("give either grammar or response_format, not both")
        if not isinstance(grammar, str):
            raise ValueError("grammar must be GBNF text")
        kind, value = "grammar", grammar
    if kind == "grammar":
        constraint.grammar = value
    elif kind == "schema":
        constraint.schema = value
    meta = {"id": "cmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": model.model_id}
    session = model._acquire_session(n_ctx)
    if stream:
        return _stream_completion(model, session, prompt, overrides, stop, meta, echo, _include_usage(unsupported),
                                  constraint)
    lp = _LegacyLogprobs(model, len(prompt) if echo else 0) if constraint.top_logprobs >= 0 else None
    try:
        constraint.apply(session)
        session.feed(prompt)
        pieces = []
        for s in session._run(None, True, False, overrides, stop):
            pieces.append(s.text)
            if lp is not None:
                lp.add(s)
        text = "".join(pieces)
        finish = OPENAI_FINISH_REASONS.get(session.last_finish, "stop")
        prompt_tokens, completion_tokens = session.last_prompt_tokens, session.last_completion_tokens
    finally:
        constraint.clear(session)
        model._release_session(session)
    return {**meta, "object": "text_completion",
            "choices": [{"index": 0, "text": (prompt + text) if echo else text,
                         "logprobs": lp.result() if lp is not None else None, "finish_reason": finish}],
            "usage": _usage(prompt_tokens, completion_tokens, session.last_cached_tokens)}


class _LegacyLogprobs:
    """The logprobs object of a text completion: tokens, token_logprobs, top_logprobs (one dict
    of alternatives per token) and text_offset (where each token's text starts)."""

    def __init__(self, model: "Model", offset: int) -> None:
        self.lp = _Logprobs(model)
        self.offset = offset
        self.tokens: List[str] = []
        self.token_logprobs: List[float] = []
        self.top: List[Dict[str, float]] = []
        self.text_offset: List[int] = []

    def add(self, s: Step) -> Optional[Dict[str, Any]]:
        """Records a step; returns the logprobs object of that step alone (for a stream chunk)."""
        e = self.lp.chat(s)
        if e is None:
            return None
        self.tokens.append(e["token"])
        self.token_logprobs.append(e["logprob"])
        top: Dict[str, float] = {}
        for alt in e["top_logprobs"]:
            top.setdefault(alt["token"], alt["logprob"])  # two tokens may print alike: the likelier
        self.top.append(top)
        self.text_offset.append(self.offset)
        self.offset += len(e["token"])
        return {"tokens": [e["token"]], "token_logprobs": [e["logprob"]], "top_logprobs": [top],
                "text_offset": [self.text_offset[-1]]}

    def result(self) -> Dict[str, Any]:
        return {"tokens": self.tokens, "token_logprobs": self.token_logprobs, "top_logprobs": self.top,
                "text_offset": self.text_offset}


def _merge_legacy(parts: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if not parts:
        return None
    return {k: [v for p in parts for v in p[k]] for k in ("tokens", "token_logprobs", "top_logprobs", "text_offset")}


def _stream_completion(model: "Model", session: Session, prompt: str, overrides: Dict[str, Any], stop: Stops,
                       meta: Dict[str, Any], echo: bool, include_usage: bool,
                       constraint: _Constraint) -> Iterator[Result]:
    def chunk(text: str, finish: Optional[str], logprobs: Optional[Dict[str, Any]] = None) -> Result:
        return {**meta, "object": "text_completion",
                "choices": [{"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}]}
    lp = _LegacyLogprobs(model, len(prompt) if echo else 0) if constraint.top_logprobs >= 0 else None
    pending: List[Dict[str, Any]] = []  # logprobs of tokens whose text is still held back
    try:
        constraint.apply(session)
        session.feed(prompt)
        if echo:
            yield chunk(prompt, None)
        for s in session._run(None, True, False, overrides, stop):
            if lp is not None:
                one = lp.add(s)
                if one is not None:
                    pending.append(one)
            if s.text:
                yield chunk(s.text, None, _merge_legacy(pending))
                pending = []
            if s.finish != _ffi.Finish.NONE:
                yield chunk("", OPENAI_FINISH_REASONS.get(s.finish, "stop"), _merge_legacy(pending))
        if include_usage:
            yield {**meta, "object": "text_completion", "choices": [],
                   "usage": _usage(session.last_prompt_tokens, session.last_completion_tokens, session.last_cached_tokens)}
    finally:
        constraint.clear(session)
        model._release_session(session)


# -- chat completions --------------------------------------------------------------------------------
def _feed_messages(session: Session, messages: Sequence[Mapping[str, Any]],
                   tools: Optional[Sequence[Mapping[str, Any]]] = None,
                   template_vars: Optional[Mapping[str, Any]] = None) -> None:
    """Hands the conversation to the session's chat template: every message whole (tool calls and
    tool results included), with the tools and extra template variables."""
    if not messages:
        raise ValueError("messages must not be empty")
    session.chat_vars(tools=tools, **dict(template_vars or {}))  # none: cleared (pooled sessions)
    for m in messages:
        role, content = m.get("role"), m.get("content")
        if role not in ("system", "user", "assistant", "developer", "tool"):
            raise ValueError(f"unsupported message role {role!r}")
        msg = dict(m)
        if isinstance(content, list):  # content parts: keep the text ones
            msg["content"] = "".join(p.get("text", "") for p in content
                                     if isinstance(p, Mapping) and p.get("type") == "text")
        elif content is None and not (role == "assistant" and m.get("tool_calls")):
            raise ValueError("message content must be a string")
        elif content is not None and not isinstance(content, str):
            raise ValueError("message content must be a string")
        if role == "developer":
            msg["role"] = "system"
        session.chat_message(msg)


def _chat_template(model: "Model") -> Optional[str]:
    try:
        value = model.metadata_value("tokenizer.chat_template")
    except (NotFoundError, LlmError):
        return None
    return value if isinstance(value, str) else None


# A tool used only to find out whether a template renders tool definitions at all.
_PROBE_TOOLS = [{"type": "function", "function": {"name": "probe", "description": "probe",
                                                  "parameters": {"type": "object", "properties": {}}}}]


@dataclass
class _ChatPlan:
    """What one chat request asks for, checked before any work is done."""
    messages: List[Dict[str, Any]]
    template_tools: Optional[List[Mapping[str, Any]]]
    constraint: _Constraint
    mode: str = "none"  # tool_choice: none, auto, required
    fmt: Optional[_tools.ToolFormat] = None
    names: Optional[List[str]] = None


def _messages_mention_tools(messages: Sequence[Mapping[str, Any]]) -> bool:
    return any(isinstance(m, Mapping) and (m.get("role") == "tool" or m.get("tool_calls")) for m in messages)


def _chat_plan(model: "Model", messages: Sequence[Mapping[str, Any]], tools: Any, tool_choice: Any,
               parallel_tool_calls: Any, response_format: Any, grammar: Any, logprobs: Any, top_logprobs: Any,
               logit_bias: Any) -> _ChatPlan:
    if not isinstance(messages, (list, tuple)) or not all(isinstance(m, Mapping) for m in messages):
        raise ValueError("messages must be a list of message objects")
    tool_list = _tools.check_tools(tools)
    mode, allowed = _tools.tool_choice_mode(tool_choice, tool_list)
    if parallel_tool_calls is not None and not isinstance(parallel_tool_calls, bool):
        raise ValueError("parallel_tool_calls must be true or false")
    constraint = _Constraint(bias=_logit_bias(model, logit_bias), top_logprobs=_top_logprobs(logprobs, top_logprobs))
    kind, value = _response_format(response_format)
    if grammar is not None:
        if not isinstance(grammar, str):
            raise ValueError("grammar must be GBNF text")
        if kind is not None:
            raise ValueError("give either grammar or response_format, not both")
        if mode != "none":
            raise ValueError("grammar cannot be combined with tools (unless tool_choice is \"none\")")
        kind, value = "grammar", grammar
    plan = _ChatPlan([dict(m) for m in messages], None, constraint, mode)
    fmt = _tools.detect_format(_chat_template(model))
    if mode != "none" or _messages_mention_tools(messages):
        # the tool syntax of the model's family; earlier calls and results go back in the same way
        knows = _tools.template_shows_tools(model, tools if tool_list else _PROBE_TOOLS)
        plan.messages = _tools.prepare_messages(messages, fmt, tool_list, mode, knows)
    if mode == "none":
        # the model is not to call tools: they are not shown (a template would invite calls)
        if kind == "grammar":
            constraint.grammar = value
        elif kind == "schema":
            constraint.schema = value
        return plan
    plan.template_tools = _tools.template_tools(tools)
    plan.fmt = fmt
    plan.names = [t.name for t in allowed]
    text_grammar = None
    if mode == "auto" and kind is not None:
        text_grammar = value if kind == "grammar" else json_schema_to_grammar(value)
    constraint.grammar = _tools.tool_grammar(allowed, fmt, mode, parallel=parallel_tool_calls is not False,
                                             text_grammar=text_grammar)
    constraint.root = _tools.ROOT
    return plan


def _tool_calls(fmt: _tools.ToolFormat, calls: List[Tuple[str, str]],
                ids: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    return [{"id": ids[i] if ids and i < len(ids) else _tools.new_call_id(fmt), "type": "function",
             "function": {"name": name, "arguments": args}} for i, (name, args) in enumerate(calls)]


def create_chat_completion(model: "Model", messages: Sequence[Mapping[str, Any]], *, max_tokens: Optional[int],
                           temperature: float, top_p: float, top_k: int, min_p: float, stop: Stops, stream: bool,
                           seed: Optional[int], repeat_penalty: float, frequency_penalty: float,
                           presence_penalty: float, n_ctx: Optional[int],
                           tools: Optional[Sequence[Mapping[str, Any]]] = None,
                           chat_template_kwargs: Optional[Mapping[str, Any]] = None, tool_choice: Any = None,
                           parallel_tool_calls: Optional[bool] = None, response_format: Any = None,
                           grammar: Optional[str] = None, logprobs: Optional[bool] = None,
                           top_logprobs: Optional[int] = None, logit_bias: Optional[Mapping[str, float]] = None,
                           unsupported: Mapping[str, Any] = {}) -> Union[Result, Iterator[Result]]:
    """See Model.create_chat_completion."""
    unsupported = dict(unsupported)
    mct = unsupported.pop("max_completion_tokens", None)
    if max_tokens is None and mct is not None:
        max_tokens = mct
    _check_unsupported(unsupported)
    plan = _chat_plan(model, messages, tools, tool_choice, parallel_tool_calls, response_format, grammar, logprobs,
                      top_logprobs, logit_bias)
    overrides = _overrides(max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, seed=seed,
                           repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                           presence_penalty=presence_penalty)
    meta = {"id": "chatcmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": model.model_id}
    session = model._acquire_session(n_ctx)
    if stream:
        return _stream_chat(model, session, plan, overrides, stop, meta, _include_usage(unsupported),
                            chat_template_kwargs)
    lp = _Logprobs(model) if plan.constraint.top_logprobs >= 0 else None
    entries: List[Dict[str, Any]] = []
    try:
        plan.constraint.apply(session)
        _feed_messages(session, plan.messages, plan.template_tools, chat_template_kwargs)
        pieces = []
        for s in session._run(None, True, False, overrides, stop):
            pieces.append(s.text)
            e = lp.chat(s) if lp is not None else None
            if e is not None:
                entries.append(e)
        text = "".join(pieces)
        prompt_tokens, completion_tokens = session.last_prompt_tokens, session.last_completion_tokens
        last_finish = session.last_finish
    finally:
        plan.constraint.clear(session)
        model._release_session(session)
    message: Dict[str, Any] = {"role": "assistant", "content": text}
    calls: List[Tuple[str, str]] = []
    if plan.fmt is not None and _tools.is_call_start(text, plan.fmt):
        calls = _tools.parse_calls(text, plan.fmt, plan.names)
        if calls:
            message = {"role": "assistant", "content": None, "tool_calls": _tool_calls(plan.fmt, calls)}
    return {**meta, "object": "chat.completion",
            "choices": [{"index": 0, "message": message,
                         "logprobs": _content_logprobs(entries if lp is not None else None),
                         "finish_reason": _finish_reason(last_finish, len(calls))}],
            "usage": _usage(prompt_tokens, completion_tokens, session.last_cached_tokens)}


def _stream_chat(model: "Model", session: Session, plan: _ChatPlan, overrides: Dict[str, Any], stop: Stops,
                 meta: Dict[str, Any], include_usage: bool,
                 chat_template_kwargs: Optional[Mapping[str, Any]] = None) -> Iterator[Result]:
    lp = _Logprobs(model) if plan.constraint.top_logprobs >= 0 else None

    def chunk(delta: Dict[str, Any], finish: Optional[str], entries: Optional[List[Dict[str, Any]]] = None) -> Result:
        return {**meta, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta,
                             "logprobs": _content_logprobs(entries) if lp is not None and entries else None,
                             "finish_reason": finish}]}
    try:
        plan.constraint.apply(session)
        _feed_messages(session, plan.messages, plan.template_tools, chat_template_kwargs)
        fmt = plan.fmt
        # "text" or "calls" once known: with tools a reply is one or the other from its first
        # character on (the grammar sees to it), so the role chunk waits for that character
        kind: Optional[str] = "text" if fmt is None else ("calls" if plan.mode == "required" else None)
        if kind == "text":
            yield chunk({"role": "assistant", "content": ""}, None)
        elif kind == "calls":
            yield chunk({"role": "assistant", "content": None}, None)
        calls = _tools.CallStream(fmt, plan.names) if fmt is not None else None
        text = ""
        sent = 0  # characters of text sent as content
        sent_calls = False
        pending: List[Dict[str, Any]] = []  # logprobs entries not sent yet
        for s in session._run(None, True, False, overrides, stop):
            e = lp.chat(s) if lp is not None else None
            if e is not None:
                pending.append(e)
            text += s.text
            if kind is None and text.strip(" \t\n\r"):
                kind = "calls" if fmt is not None and _tools.is_call_start(text, fmt) else "text"
                yield chunk({"role": "assistant", "content": None if kind == "calls" else ""}, None)
            if kind == "text" and len(text) > sent:
                yield chunk({"content": text[sent:]}, None, pending)
                sent, pending = len(text), []
            elif kind == "calls" and calls is not None:
                deltas = calls.update(text)
                if deltas:
                    yield chunk({"tool_calls": deltas}, None, pending)
                    pending, sent_calls = [], True
            if s.finish != _ffi.Finish.NONE:
                if kind is None:  # nothing but spaces, or nothing at all
                    yield chunk({"role": "assistant", "content": text}, None)
                elif kind == "calls" and not sent_calls and text:
                    # it started like a call and was none (a response_format JSON object in
                    # "auto" for the JSON families, or a call cut short): it is the content
                    yield chunk({"content": text}, None)
                n_calls = len(_tools.parse_calls(text, fmt, plan.names)) if kind == "calls" and fmt else 0
                yield chunk({}, _finish_reason(s.finish, n_calls), pending)
        if include_usage:
            yield {**meta, "object": "chat.completion.chunk", "choices": [],
                   "usage": _usage(session.last_prompt_tokens, session.last_completion_tokens, session.last_cached_tokens)}
    finally:
        plan.constraint.clear(session)
        model._release_session(session)
