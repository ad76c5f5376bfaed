"""OpenAI-style completions on a Model (the shapes of the OpenAI Python client's ``Completion``,
``ChatCompletion`` and ``ChatCompletionChunk``, as plain dicts). Each call takes a session of its
own from the model's small pool, so calls from several threads run concurrently."""
from __future__ import annotations

import time
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union, TYPE_CHECKING

from . import _ffi
from .session import FINISH_REASONS, Session, Stops

if TYPE_CHECKING:
    from .model import Model

Result = Dict[str, Any]

#: Request fields that are accepted and ignored because they do not change a single-choice,
#: local generation (OpenAI clients send some of them by default).
_IGNORED = {"model", "user", "n", "logit_bias", "stream_options", "response_format", "logprobs", "top_logprobs",
            "best_of", "suffix", "timeout", "extra_headers", "extra_body", "metadata", "store", "service_tier",
            "parallel_tool_calls"}


def _check_unsupported(unsupported: Mapping[str, Any]) -> None:
    for key, value in unsupported.items():
        if key in _IGNORED:
            if key == "n" and value not in (None, 1):
                raise ValueError("only n=1 is supported")
            if key in ("logprobs", "top_logprobs", "best_of") and value not in (None, False, 0, 1):
                raise ValueError(f"{key} is not supported")
            continue
        raise TypeError(f"unsupported completion argument {key!r}")


def _usage(prompt_tokens: int, completion_tokens: int) -> Dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _overrides(max_tokens: Optional[int], **kw: Any) -> Dict[str, Any]:
    kw["max_tokens"] = 0 if not max_tokens else int(max_tokens)
    return kw


def _include_usage(unsupported: Mapping[str, Any]) -> bool:
    opts = unsupported.get("stream_options") or {}
    return bool(opts.get("include_usage")) if isinstance(opts, Mapping) else False


def create_completion(model: "Model", prompt: Union[str, List[str]], *, max_tokens: Optional[int],
                      temperature: float, top_p: float, top_k: int, min_p: float, stop: Stops, stream: bool,
                      seed: Optional[int], repeat_penalty: float, frequency_penalty: float, presence_penalty: float,
                      echo: bool, n_ctx: Optional[int], unsupported: Mapping[str, Any]) -> Union[Result, Iterator[Result]]:
    """See Model.create_completion."""
    _check_unsupported(unsupported)
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise ValueError("prompt must be a string (or a list of exactly one string)")
        prompt = prompt[0]
    overrides = _overrides(max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, seed=seed,
                           repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                           presence_penalty=presence_penalty)
    meta = {"id": "cmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": model.model_id}
    session = model._acquire_session(n_ctx)
    if stream:
        return _stream_completion(model, session, prompt, overrides, stop, meta, echo, _include_usage(unsupported))
    try:
        session.feed(prompt)
        text = "".join(t for t, _tok, _fin in session._run(None, True, False, overrides, stop))
        finish = session.finish_reason or "stop"
        prompt_tokens, completion_tokens = session.last_prompt_tokens, session.last_completion_tokens
    finally:
        model._release_session(session)
    return {**meta, "object": "text_completion",
            "choices": [{"index": 0, "text": (prompt + text) if echo else text, "logprobs": None,
                         "finish_reason": finish}],
            "usage": _usage(prompt_tokens, completion_tokens)}


def _stream_completion(model: "Model", session: Session, prompt: str, overrides: Dict[str, Any], stop: Stops,
                       meta: Dict[str, Any], echo: bool, include_usage: bool) -> Iterator[Result]:
    def chunk(text: str, finish: Optional[str]) -> Result:
        return {**meta, "object": "text_completion",
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]}
    try:
        session.feed(prompt)
        if echo:
            yield chunk(prompt, None)
        for text, _tok, fin in session._run(None, True, False, overrides, stop):
            if text:
                yield chunk(text, None)
            if fin != _ffi.Finish.NONE:
                yield chunk("", FINISH_REASONS.get(fin, "stop"))
        if include_usage:
            yield {**meta, "object": "text_completion", "choices": [],
                   "usage": _usage(session.last_prompt_tokens, session.last_completion_tokens)}
    finally:
        model._release_session(session)


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


def create_chat_completion(model: "Model", messages: Sequence[Mapping[str, Any]], *, max_tokens: Optional[int],
                           temperature: float, top_p: float, top_k: int, min_p: float, stop: Stops, stream: bool,
                           seed: Optional[int], repeat_penalty: float, frequency_penalty: float,
                           presence_penalty: float, n_ctx: Optional[int],
                           tools: Optional[Sequence[Mapping[str, Any]]] = None,
                           chat_template_kwargs: Optional[Mapping[str, Any]] = None,
                           unsupported: Mapping[str, Any] = {}) -> Union[Result, Iterator[Result]]:
    """See Model.create_chat_completion."""
    unsupported = dict(unsupported)
    if unsupported.pop("tool_choice", None) == "none":
        tools = None  # the model is not to call tools: do not show them
    mct = unsupported.pop("max_completion_tokens", None)
    if max_tokens is None and mct is not None:
        max_tokens = mct
    _check_unsupported(unsupported)
    overrides = _overrides(max_tokens, temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p, seed=seed,
                           repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                           presence_penalty=presence_penalty)
    meta = {"id": "chatcmpl-" + uuid.uuid4().hex, "created": int(time.time()), "model": model.model_id}
    session = model._acquire_session(n_ctx)
    if stream:
        return _stream_chat(model, session, messages, overrides, stop, meta, _include_usage(unsupported), tools,
                            chat_template_kwargs)
    try:
        _feed_messages(session, messages, tools, chat_template_kwargs)
        text = "".join(t for t, _tok, _fin in session._run(None, True, False, overrides, stop))
        prompt_tokens, completion_tokens = session.last_prompt_tokens, session.last_completion_tokens
        finish = session.finish_reason or "stop"
    finally:
        model._release_session(session)
    return {**meta, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": finish}],
            "usage": _usage(prompt_tokens, completion_tokens)}


def _stream_chat(model: "Model", session: Session, messages: Sequence[Mapping[str, Any]], overrides: Dict[str, Any],
                 stop: Stops, meta: Dict[str, Any], include_usage: bool,
                 tools: Optional[Sequence[Mapping[str, Any]]] = None,
                 chat_template_kwargs: Optional[Mapping[str, Any]] = None) -> Iterator[Result]:
    def chunk(delta: Dict[str, Any], finish: Optional[str]) -> Result:
        return {**meta, "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    try:
        _feed_messages(session, messages, tools, chat_template_kwargs)
        yield chunk({"role": "assistant", "content": ""}, None)
        for text, _tok, fin in session._run(None, True, False, overrides, stop):
            if text:
                yield chunk({"content": text}, None)
            if fin != _ffi.Finish.NONE:
                yield chunk({}, FINISH_REASONS.get(fin, "stop"))
        if include_usage:
            yield {**meta, "object": "chat.completion.chunk", "choices": [],
                   "usage": _usage(session.last_prompt_tokens, session.last_completion_tokens)}
    finally:
        model._release_session(session)
