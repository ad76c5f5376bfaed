"""Sessions: one conversation each (KV cache, tokens, sampler), with its own llm_context so that
different sessions of one model run on different threads at once. A session itself is used by
one thread at a time (llm.h threading rules)."""
from __future__ import annotations

import array
import ctypes
import json
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, TYPE_CHECKING

from . import _ffi
from ._handles import _SessionHandle
from ._interrupt import InterruptGuard, install_flag_abort
from ._util import TextLike, check, encode
from .errors import AbortedError, error_for

if TYPE_CHECKING:
    from .model import Model

Stops = Union[None, str, Sequence[str]]

# keyword → option key for the sampling settings of a session
_SAMPLING = {
    "temperature": _ffi.Option.TEMPERATURE,
    "top_k": _ffi.Option.TOP_K,
    "top_p": _ffi.Option.TOP_P,
    "min_p": _ffi.Option.MIN_P,
    "repeat_penalty": _ffi.Option.REPEAT_PENALTY,
    "frequency_penalty": _ffi.Option.FREQUENCY_PENALTY,
    "presence_penalty": _ffi.Option.PRESENCE_PENALTY,
    "penalty_last_n": _ffi.Option.PENALTY_LAST_N,
    "seed": _ffi.Option.SEED,
    "max_tokens": _ffi.Option.MAX_TOKENS,
}

# Settings of the session alone (no llm_options default to read back at creation, and a library
# that predates them must still create sessions): name → (option key, value when never set).
_SESSION_ONLY = {
    "top_logprobs": (_ffi.Option.TOP_LOGPROBS, -1),
}

#: Most alternatives LLM_OPT_TOP_LOGPROBS records per token.
MAX_TOP_LOGPROBS = 20

#: llm_finish → OpenAI finish_reason.
FINISH_REASONS = {
    _ffi.Finish.EOG: "stop",
    _ffi.Finish.STOP: "stop",
    _ffi.Finish.LENGTH: "length",
    _ffi.Finish.CONTEXT: "length",
    _ffi.Finish.ABORTED: "stop",
    _ffi.Finish.GRAMMAR: "grammar",
}

#: llm_finish → the finish_reason of OpenAI-shaped results, which clients know only as "stop",
#: "length", "tool_calls" (and "content_filter"): a grammar's dead end leaves an unfinished output,
#: so it reads as "length" (cut off), which makes clients such as the OpenAI SDK's parse helpers
#: refuse the text instead of parsing a truncated JSON document.
OPENAI_FINISH_REASONS = dict(FINISH_REASONS)
OPENAI_FINISH_REASONS[_ffi.Finish.GRAMMAR] = "length"

Bias = Optional[Mapping[int, float]]


@dataclass(frozen=True)
class Step:
    """The result of one :meth:`Session.step`: the sampled token (-1 when finished without one),
    the text it released (possibly empty while held back for UTF-8 or a possible stop string) and
    the finish state (Finish.NONE while the generation goes on).

    With the session's ``top_logprobs`` >= 0, ``logprob`` is the natural log of the sampled
    token's probability (softmax of the logits plus the logit bias, before penalties, temperature
    and truncation) and ``top_logprobs`` the ``top_logprobs`` most likely tokens the grammar
    allows, best first, as (token, logprob) pairs; otherwise both are None."""
    token: int
    text: str
    finish: _ffi.Finish
    logprob: Optional[float] = None
    top_logprobs: Optional[Tuple[Tuple[int, float], ...]] = None

    @property
    def finished(self) -> bool:
        """Whether the generation ended with this step."""
        return self.finish != _ffi.Finish.NONE


#: LLM_OPT_CONTEXT_SHIFT and LLM_OPT_KV_TYPE by name.
_SHIFT_MODES = {"none": 0, "shift": 1, "recompute": 2}
_KV_TYPES = {"f32": 0, "f16": 1, "q8_0": 2}


def _choice(what: str, value: Union[str, int], names: Dict[str, int]) -> int:
    if isinstance(value, str):
        if value.lower() not in names:
            raise ValueError(f"{what} must be one of {', '.join(names)}, not {value!r}")
        return names[value.lower()]
    return int(value)


class Session:
    """A conversation on a :class:`~libllm.Model`.

    Keyword arguments: ``n_ctx`` (tokens; default the model's ``n_ctx``), ``n_threads`` (default
    the model's ``n_threads``), the sampling settings ``temperature`` (0 = greedy), ``top_k``,
    ``top_p``, ``min_p``, ``repeat_penalty``, ``frequency_penalty``, ``presence_penalty``,
    ``penalty_last_n``, ``seed``, ``max_tokens`` (per generation, 0 = until the context is full),
    ``all_logits`` (keep the logits of every fed position), ``stop`` (stop strings) and
    ``top_logprobs`` (-1: no log-probabilities; 0..20: each :class:`Step` carries the sampled
    token's log-probability and that many alternatives). Unset settings keep the library's defaults.

    Long conversations: ``context_shift`` ("none": a full context ends the generation, the
    default; "shift": the older half after the first ``shift_keep`` tokens is dropped and the kept
    keys move, like llama.cpp; "recompute": the same, the kept tokens evaluated again) and
    ``shift_keep`` (default: a chat's system prompt and first message). The KV cache:
    ``kv_type`` ("f32", "f16", "q8_0") and ``prefix_cache`` (bytes the context keeps of prompt
    prefixes to share; default one session's cache, 0 none).

    Constrained output: :meth:`set_grammar` (GBNF), :meth:`set_json_schema`, :meth:`set_logit_bias`.

    Batched decode (:func:`libllm.step_batch`) needs sessions of one llm_context: create the
    first with ``max_sessions=N`` (how many its context may host; default 1) and the others with
    ``share_context=first`` (their ``n_ctx``, ``n_threads`` and ``all_logits`` are the first's).

    The session keeps its model alive. It is freed by :meth:`close`, a ``with`` block, garbage
    collection, or when its model is closed explicitly.
    """

    def __init__(self, model: "Model", *, n_ctx: Optional[int] = None, n_threads: Optional[int] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
                 min_p: Optional[float] = None, repeat_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None, presence_penalty: Optional[float] = None,
                 penalty_last_n: Optional[int] = None, seed: Optional[int] = None, max_tokens: Optional[int] = None,
                 all_logits: bool = False, stop: Stops = None, max_sessions: int = 1,
                 share_context: Optional["Session"] = None, top_logprobs: Optional[int] = None,
                 state: Optional[bytes] = None, context_shift: Union[None, str, int] = None,
                 shift_keep: Optional[int] = None, kv_type: Union[None, str, int] = None,
                 prefix_cache: Optional[int] = None) -> None:
        from .model import Model, Options
        if not isinstance(model, Model):
            raise TypeError(f"Session needs a libllm.Model, got {type(model).__name__}")
        if share_context is not None:
            if not isinstance(share_context, Session) or share_context._model is not model:
                raise TypeError("share_context must be a Session of the same Model")
            if share_context.closed:
                raise error_for(_ffi.Status.INVALID_ARGUMENT, "share_context: the session is closed")
        self._model = model
        self._n_ctx_asked = (share_context._n_ctx_asked if share_context is not None
                             else model.n_ctx if n_ctx is None else int(n_ctx))
        opts = Options({_ffi.Option.CONTEXT_SIZE: self._n_ctx_asked,
                        _ffi.Option.THREADS: model.n_threads if n_threads is None else int(n_threads),
                        _ffi.Option.MAX_SESSIONS: int(max_sessions),
                        _ffi.Option.ALL_LOGITS: int(bool(all_logits))})
        # long conversations and the KV cache (context options come from the first of a shared context)
        if context_shift is not None:
            opts.set(_ffi.Option.CONTEXT_SHIFT, _choice("context_shift", context_shift, _SHIFT_MODES))
        if shift_keep is not None:
            opts.set(_ffi.Option.SHIFT_KEEP, int(shift_keep))
        if kv_type is not None:
            opts.set(_ffi.Option.KV_TYPE, _choice("kv_type", kv_type, _KV_TYPES))
        if prefix_cache is not None:
            opts.set(_ffi.Option.PREFIX_CACHE, int(prefix_cache))
        if getattr(model, "memory_limit", 0):  # LLM_OPT_MEMORY_LIMIT of the model's contexts and sessions
            opts.set(_ffi.Option.MEMORY_LIMIT, model.memory_limit)
        given = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p, repeat_penalty=repeat_penalty,
                     frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
                     penalty_last_n=penalty_last_n, seed=seed, max_tokens=max_tokens)
        try:
            for name, value in given.items():
                if value is not None:
                    opts.set(_SAMPLING[name], value)
            #: current values of the sampling settings (what per-call overrides go back to)
            self._settings: Dict[str, Union[int, float]] = {name: opts.get(key) for name, key in _SAMPLING.items()}
            self._settings.update({name: default for name, (_key, default) in _SESSION_ONLY.items()})
            mh = model._h
            h = _SessionHandle(mh)
            with mh.lock:
                mptr = mh.get()
                if share_context is not None:
                    other = share_context._h
                    with other.lock:
                        if other.sharers is None:
                            other.sharers = [other]
                        h.context = other.context
                        h.sharers = other.sharers
                        h.sharers.append(h)
                else:
                    ctx = ctypes.c_void_p()
                    check(_ffi.lib.llm_context_new(mptr, opts.ptr, ctypes.byref(ctx)), opts.ptr)
                    h.context = ctx.value
                sess = ctypes.c_void_p()
                st = _ffi.lib.llm_session_new(h.context, opts.ptr, ctypes.byref(sess))
                if st != 0:
                    err = error_for(st, _ffi.last_error(h.context))
                    h.free()
                    raise err
                h.session = sess.value
                mh.sessions.add(h)
        finally:
            opts.close()
        self._h = h
        self._finalizer = weakref.finalize(self, h.free)
        install_flag_abort(h)
        self._stops: List[str] = []
        if stop:
            for s in ([stop] if isinstance(stop, str) else stop):
                self.add_stop(s)
        if top_logprobs is not None:
            self._set_one("top_logprobs", top_logprobs)
        if state is not None:
            self.load_state(state)
        #: Why the last generation ended (Finish.NONE before any).
        self.last_finish: _ffi.Finish = _ffi.Finish.NONE
        #: Tokens sampled by the last generation (end-of-generation token not counted).
        self.last_completion_tokens: int = 0
        #: Tokens in the cache when the last generation started (its prompt, with all before it).
        self.last_prompt_tokens: int = 0
        #: Of those, the tokens served from the context's prefix cache (OpenAI's cached_tokens).
        self.last_cached_tokens: int = 0

    # -- lifetime ------------------------------------------------------------------------------
    @property
    def model(self) -> "Model":
        """The model this session runs."""
        return self._model

    @property
    def closed(self) -> bool:
        """Whether the session was freed (by close() or by closing its model)."""
        return not self._h.session

    def close(self) -> None:
        """Frees the session and its context now."""
        self._finalizer()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<libllm.Session closed>"
        return f"<libllm.Session n_ctx={self.n_ctx} n_past={self.n_past}>"

    # -- properties ----------------------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        """Tokens this session can hold."""
        with self._h.lock:
            self._h.get()
            return int(_ffi.lib.llm_context_n_ctx(self._h.context))

    @property
    def n_threads(self) -> int:
        """Threads of the session's context."""
        with self._h.lock:
            self._h.get()
            return int(_ffi.lib.llm_context_n_threads(self._h.context))

    @property
    def backend(self) -> str:
        """Name of the backend the session runs on ("cpu" or "cuda")."""
        with self._h.lock:
            self._h.get()
            return (_ffi.lib.llm_context_backend_name(self._h.context) or b"").decode()

    @property
    def isa(self) -> str:
        """The CPU instruction-set path of the session's kernels ("avx512", "avx2", "scalar", ...)."""
        if not _ffi.has("llm_context_isa"):
            return ""
        with self._h.lock:
            self._h.get()
            return (_ffi.lib.llm_context_isa(self._h.context) or b"").decode()

    @property
    def n_past(self) -> int:
        """Tokens in the KV cache."""
        with self._h.lock:
            return int(_ffi.lib.llm_session_n_past(self._h.get()))

    @property
    def settings(self) -> Dict[str, Union[int, float]]:
        """The current sampling settings (a copy)."""
        return dict(self._settings)

    # -- settings ------------------------------------------------------------------------------
    def _set_one(self, name: str, value: Union[int, float]) -> None:
        key = _SAMPLING.get(name)
        if key is None and name in _SESSION_ONLY:
            key = _SESSION_ONLY[name][0]
            if not _ffi.has("llm_session_logprobs"):
                raise error_for(_ffi.Status.UNSUPPORTED, f"the loaded libllm has no {name} setting")
        if key is None:
            raise TypeError(f"unknown session setting {name!r}; known: {', '.join([*_SAMPLING, *_SESSION_ONLY])}")
        with self._h.lock:
            ptr = self._h.get()
            if key in _ffi.FLOAT_OPTIONS:
                check(_ffi.lib.llm_session_set_float(ptr, key, float(value)), ptr)
            else:
                check(_ffi.lib.llm_session_set_int(ptr, key, int(value)), ptr)
        self._settings[name] = value

    def set(self, **settings: Union[int, float, None]) -> None:
        """Changes sampling settings (and ``top_logprobs``) for the following generations (None
        values are ignored). Setting ``seed`` restarts the sampler from that seed."""
        for name, value in settings.items():
            if value is not None:
                self._set_one(name, value)

    def add_stop(self, stop: str) -> None:
        """Adds a stop string for every following generation of this session."""
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_add_stop(ptr, encode(stop)), ptr)
        self._stops.append(stop)

    def clear_stops(self) -> None:
        """Removes the session's stop strings."""
        with self._h.lock:
            _ffi.lib.llm_session_clear_stops(self._h.get())
        self._stops = []

    @property
    def stops(self) -> List[str]:
        """The session's stop strings."""
        return list(self._stops)

    # -- constrained output --------------------------------------------------------------------
    def set_grammar(self, gbnf: Optional[str], root: str = "root") -> None:
        """Constrains every following generation (the text generated after each feed or chat
        message, from the grammar's start) to the language of a GBNF grammar whose start rule is
        ``root``: only tokens that keep the output a prefix of a string of the language are
        sampled, and the end only where the grammar accepts. ``None`` or "" removes the
        constraint. A generation that reaches a point where no token fits ends with
        Finish.GRAMMAR (``finish_reason`` "grammar"). FormatError ("line L, column C: ...") for a
        grammar that does not parse (the session keeps its previous constraint), LimitError for
        one beyond the library's bounds."""
        from .grammar import require
        require("llm_session_set_grammar")
        text = None if not gbnf else encode(gbnf)
        root_b = encode(root) if text is not None else None
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_set_grammar(ptr, text, root_b), ptr)

    def clear_grammar(self) -> None:
        """Removes the grammar or JSON Schema constraint."""
        self.set_grammar(None)

    def set_json_schema(self, schema: Union[Mapping[str, Any], str, bool]) -> None:
        """Constrains every following generation to JSON valid against a JSON Schema (a dict or
        JSON text; see :func:`libllm.json_schema_to_grammar` for the keywords). UnsupportedError
        names a keyword that would change which documents are valid and is not supported;
        InvalidArgumentError for a malformed schema."""
        from .grammar import require, schema_text
        require("llm_session_set_json_schema")
        data = schema_text(schema)
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_set_json_schema(ptr, data), ptr)

    def set_logit_bias(self, bias: Bias) -> None:
        """Adds ``bias[token]`` to that token's logit before sampling, for the following
        generations (OpenAI's logit_bias: about -100 or ``-math.inf`` bans a token, +100 all but
        forces it). Replaces the previous biases; None or {} removes them. A token outside the
        vocabulary raises InvalidArgumentError and changes nothing."""
        from .grammar import require
        require("llm_session_set_logit_bias")
        items = list((bias or {}).items())
        n = len(items)
        toks = (ctypes.c_int32 * max(n, 1))()
        vals = (ctypes.c_float * max(n, 1))()
        for i, (tok, val) in enumerate(items):
            if isinstance(tok, bool) or not isinstance(tok, int):
                raise TypeError(f"logit_bias keys are token ids (int), got {tok!r}")
            if not -2 ** 31 <= tok < 2 ** 31:
                raise error_for(_ffi.Status.INVALID_ARGUMENT, f"logit_bias: token {tok} is outside the vocabulary")
            toks[i] = tok
            vals[i] = float(val)
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_set_logit_bias(ptr, toks, vals, n), ptr)

    def logprobs(self) -> Optional[Tuple[float, Tuple[Tuple[int, float], ...]]]:
        """(logprob, ((token, logprob), ...)) recorded with the last sampled token (see
        :class:`Step`), or None when none were recorded (``top_logprobs`` is -1, or nothing was
        sampled since the setting changed)."""
        if not _ffi.has("llm_session_logprobs"):
            return None
        with self._h.lock:
            return _read_logprobs(self._h.get(), MAX_TOP_LOGPROBS)

    def cancel(self) -> None:
        """Asks the generation (or feed) in progress to stop; callable from any thread. The
        generation ends as if finished (Finish.ABORTED); a feed raises AbortedError."""
        self._h.abort_flag[0] = b"x"

    def _clear_cancel(self) -> None:
        self._h.abort_flag[0] = b"\0"

    # -- input ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forgets all tokens (the KV cache) and restarts the sampler from its seed."""
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_reset(ptr), ptr)

    def feed(self, text_or_tokens: Union[TextLike, Sequence[int]], add_bos: bool = True, special: bool = False) -> None:
        """Evaluates input: text (BOS added only at the session's start when ``add_bos``;
        ``special`` recognises control tokens in it) or a sequence of token ids. Raises
        ContextFullError (nothing fed) when it does not fit, InvalidUtf8Error for invalid text.
        Ctrl-C on the main thread stops it and raises KeyboardInterrupt (nothing fed)."""
        self._clear_cancel()
        if isinstance(text_or_tokens, (str, bytes, bytearray, memoryview)):
            data = encode(text_or_tokens)
            flags = (_ffi.FEED_ADD_BOS if add_bos else 0) | (_ffi.FEED_SPECIAL if special else 0)
            self._call(lambda ptr: _ffi.lib.llm_session_feed_text(ptr, data, len(data), flags))
        else:
            ids = [int(t) for t in text_or_tokens]
            arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
            self._call(lambda ptr: _ffi.lib.llm_session_feed_tokens(ptr, arr, len(ids)))

    def chat(self, role: str, content: str) -> None:
        """Appends one chat message (role "system", "user" or "assistant"). The session renders
        the whole conversation with the model's chat template and evaluates only what its cache
        lacks; a following :meth:`generate` produces the assistant's reply, which the session
        remembers for the next message. UnsupportedError when the model has no chat template and
        no built-in format fits it; FormatError when the template rejects the conversation."""
        self._clear_cancel()
        r, c = encode(role), encode(content)
        self._call(lambda ptr: _ffi.lib.llm_session_chat(ptr, r, c))

    def chat_message(self, message: Mapping[str, Any]) -> None:
        """Like :meth:`chat` with a whole OpenAI-style message dict, e.g. an assistant message with
        ``tool_calls`` or ``{"role": "tool", "tool_call_id": ..., "content": ...}``: every key
        reaches the template."""
        self._clear_cancel()
        data = encode(json.dumps(dict(message), ensure_ascii=False))
        self._call(lambda ptr: _ffi.lib.llm_session_chat_message(ptr, data))

    def chat_vars(self, tools: Optional[Sequence[Mapping[str, Any]]] = None, **variables: Any) -> None:
        """Sets what the chat template sees besides the messages from the next message on:
        ``tools`` (OpenAI tool definitions) and any other variable (e.g. ``enable_thinking=False``).
        Called with nothing, it clears them."""
        if tools is not None:
            variables["tools"] = list(tools)
        data = encode(json.dumps(variables, ensure_ascii=False)) if variables else None
        self._call(lambda ptr: _ffi.lib.llm_session_chat_vars(ptr, data))

    @property
    def n_evaluated(self) -> int:
        """Tokens put through the model since the session was created or reset (prompts, chat
        turns, generated tokens): how much of a multi-turn chat was not served from the cache."""
        with self._h.lock:
            return int(_ffi.lib.llm_session_n_evaluated(self._h.get()))

    @property
    def n_reused(self) -> int:
        """Positions of the last feed taken from the context's prefix cache instead of being
        evaluated (a prompt that starts like one fed before in the same context)."""
        with self._h.lock:
            return int(_ffi.lib.llm_session_n_reused(self._h.get()))

    @property
    def n_shifts(self) -> int:
        """Context shifts done since creation or reset (``context_shift`` option)."""
        with self._h.lock:
            return int(_ffi.lib.llm_session_n_shifts(self._h.get()))

    @property
    def kv_bytes(self) -> int:
        """Bytes of KV cache held by the session's context: its sessions and its prefix cache, a
        page shared by several counted once."""
        with self._h.lock:
            self._h.get()
            return int(_ffi.lib.llm_context_kv_bytes(self._h.context))

    @property
    def sampling_ns(self) -> int:
        """Nanoseconds the session has spent choosing tokens since it was created or reset
        (sampling settings, logit bias, grammar, log-probabilities; not the forward passes), e.g.
        what a grammar costs per token. 0 when the loaded library predates the counter."""
        if not _ffi.has("llm_session_sampling_ns"):
            return 0
        with self._h.lock:
            return int(_ffi.lib.llm_session_sampling_ns(self._h.get()))

    # -- saved sessions ------------------------------------------------------------------------
    def save_state(self) -> bytes:
        """The session's state as bytes: its tokens and KV cache, the logits of its last feed, the
        sampler (its random generator included), settings, stop strings, logit bias, grammar and
        chat conversation. ``model.session(state=...)`` or :meth:`load_state` (in this process or
        another, with the same model file) continue exactly as this session would."""
        _require("llm_session_save")
        with self._h.lock:
            ptr = self._h.get()
            needed = ctypes.c_size_t(0)
            st = _ffi.lib.llm_session_save(ptr, None, 0, ctypes.byref(needed))
            if st != _ffi.Status.BUFFER_TOO_SMALL:
                check(st, ptr)
            buf = ctypes.create_string_buffer(max(needed.value, 1))
            check(_ffi.lib.llm_session_save(ptr, buf, needed.value, ctypes.byref(needed)), ptr)
            return buf.raw[:needed.value]

    def load_state(self, state: bytes) -> None:
        """Replaces what the session holds with a state from :meth:`save_state`. InvalidArgumentError
        for another model's state, another KV type or a context too small for it; FormatError for
        a truncated or corrupted state; UnsupportedError for a newer format. On error the session
        is unchanged."""
        _require("llm_session_load")
        data = bytes(state)
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_load(ptr, data, len(data)), ptr)
        self._mirror_state(data)

    def save_state_file(self, path: str) -> None:
        """:meth:`save_state` into a file."""
        _require("llm_session_save_file")
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_save_file(ptr, encode(str(path))), ptr)

    def load_state_file(self, path: str) -> None:
        """:meth:`load_state` from a file."""
        with open(path, "rb") as f:
            self.load_state(f.read())

    def _mirror_state(self, data: bytes) -> None:
        """Updates the binding's copies of the settings and stop strings from a loaded state (its
        SESS and STOP sections; layout in lib/state/state_io.h and lib/api/api_state.c)."""
        import struct
        pos, end = 16, len(data) - 4
        while pos + 12 <= end:
            tag, length = struct.unpack_from("<4sQ", data, pos)
            body = data[pos + 12:pos + 12 + length]
            pos += 12 + length
            if tag == b"SESS" and len(body) >= 92:
                v = struct.unpack_from("<fiffff fiQ 4Q ii iii".replace(" ", ""), body, 0)
                names = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "frequency_penalty",
                         "presence_penalty", "penalty_last_n", "seed")
                for i, name in enumerate(names):
                    self._settings[name] = v[i]
                self._settings["max_tokens"] = v[15]
                self._settings["top_logprobs"] = v[17]
            elif tag == b"STOP" and len(body) >= 8:
                (n,) = struct.unpack_from("<Q", body, 0)
                off, stops = 8, []
                for _ in range(n):
                    (ln,) = struct.unpack_from("<Q", body, off)
                    stops.append(body[off + 8:off + 8 + ln].decode("utf-8", "replace"))
                    off += 8 + ln
                self._stops = stops

    def _call(self, fn: Any) -> None:
        h = self._h
        with InterruptGuard(h):
            with h.lock:
                ptr = h.get()
                st = fn(ptr)
                if st != 0:
                    raise error_for(st, _ffi.last_error(ptr))

    def logits(self, index: int = -1) -> "array.array[float]":
        """A copy of the logits of the last fed batch (index -1: the last position; with
        ``all_logits`` every position of the last feed) as ``array.array('f')``, n_vocab floats;
        it supports the buffer protocol (``memoryview(...)``, ``numpy.frombuffer(...)``)."""
        out = ctypes.POINTER(ctypes.c_float)()
        n = ctypes.c_int32()
        with self._h.lock:
            ptr = self._h.get()
            check(_ffi.lib.llm_session_logits(ptr, int(index), ctypes.byref(out), ctypes.byref(n)), ptr)
            result = array.array("f")
            result.frombytes(ctypes.string_at(out, n.value * ctypes.sizeof(ctypes.c_float)))
        return result

    # -- embeddings and scores -----------------------------------------------------------------
    def embed(self, text_or_tokens: Union[TextLike, Sequence[int]], pooling: Union[str, int] = "mean",
              normalize: bool = True) -> List[float]:
        """The embedding of a text (tokenized with BOS when the model uses one) or of token ids:
        the final hidden states (after the output norm) pooled by ``pooling`` ("mean", "last" or
        "first", or a :class:`~libllm.Pooling`), scaled to unit L2 norm when ``normalize``;
        ``model.n_embd`` floats. It replaces what the session holds: afterwards the session is
        empty, as after :meth:`reset`. ContextFullError when the input does not fit the context."""
        p = _pooling(pooling)
        flags = _ffi.EMBED_NORMALIZE if normalize else 0
        _require("llm_session_embed")
        n = self._model.n_embd
        out = (ctypes.c_float * n)()
        self._clear_cancel()
        if isinstance(text_or_tokens, (str, bytes, bytearray, memoryview)):
            data = encode(text_or_tokens)
            self._call(lambda ptr: _ffi.lib.llm_session_embed_text(ptr, data, len(data), p, flags, out, n))
        else:
            ids = [int(t) for t in text_or_tokens]
            arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
            self._call(lambda ptr: _ffi.lib.llm_session_embed(ptr, arr, len(ids), p, flags, out, n))
        return list(out)

    def score(self, prompt: Union[TextLike, Sequence[int]], continuation: Union[TextLike, Sequence[int]], *,
              per_token: bool = False) -> Union[float, Tuple[float, List[float]]]:
        """The log-probability (natural log, the model's raw distribution) of ``continuation``
        after ``prompt``, each token evaluated once: texts (the prompt tokenized with BOS when the
        model uses one, the continuation on its own without, so it usually begins with its
        space: " Paris") or token ids. Returns the total, or with ``per_token`` (total, [each
        token's]). Comparing the scores of labels or candidates classifies or reranks them. Like
        :meth:`embed`, it leaves the session empty."""
        _require("llm_session_score")
        p = self._model.tokenize(prompt, add_bos=True) if _is_text(prompt) else [int(t) for t in prompt]
        c = (self._model.tokenize(continuation, add_bos=False) if _is_text(continuation)
             else [int(t) for t in continuation])
        parr = (ctypes.c_int32 * max(len(p), 1))(*p)
        carr = (ctypes.c_int32 * max(len(c), 1))(*c)
        per = (ctypes.c_float * max(len(c), 1))()
        total = ctypes.c_double(0.0)
        self._clear_cancel()
        self._call(lambda ptr: _ffi.lib.llm_session_score(ptr, parr, len(p), carr, len(c), per, ctypes.byref(total)))
        if per_token:
            return total.value, [float(v) for v in per[:len(c)]]
        return total.value

    # -- generation ----------------------------------------------------------------------------
    def step(self) -> Step:
        """Generates one token (llm_session_step). Ctrl-C on the main thread ends the generation
        (the step returns Finish.ABORTED) and raises KeyboardInterrupt."""
        return self._step(InterruptGuard(self._h))

    def _step(self, guard: InterruptGuard) -> Step:
        h = self._h
        tok = ctypes.c_int32(-1)
        text = ctypes.POINTER(ctypes.c_char)()
        n = ctypes.c_size_t(0)
        fin = ctypes.c_int(0)
        with guard:
            with h.lock:
                ptr = h.get()
                st = _ffi.lib.llm_session_step(ptr, ctypes.byref(tok), ctypes.byref(text), ctypes.byref(n),
                                               ctypes.byref(fin))
                if st != 0:
                    raise error_for(st, _ffi.last_error(ptr))
                piece = ctypes.string_at(text, n.value).decode("utf-8", "replace") if n.value else ""
                lp = self._step_logprobs(ptr, int(tok.value))
        return _make_step(int(tok.value), piece, fin.value, lp)

    def _step_logprobs(self, ptr: int, token: int) -> Optional[Tuple[float, Tuple[Tuple[int, float], ...]]]:
        """The log-probabilities of the token a step just sampled, when the session records them."""
        want = int(self._settings.get("top_logprobs", -1))
        if want < 0 or token < 0:
            return None
        return _read_logprobs(ptr, want)

    def step_timed(self, budget_us: int) -> Step:
        """llm_session_step_timed: like :meth:`step` but returns after about ``budget_us``
        microseconds even when the token is not ready (token -1 with Finish.NONE); call again to
        continue. Raises UnsupportedError when the loaded library predates the call."""
        if not _ffi.has("llm_session_step_timed"):
            raise error_for(_ffi.Status.UNSUPPORTED, "the loaded libllm has no llm_session_step_timed")
        h = self._h
        tok = ctypes.c_int32(-1)
        text = ctypes.POINTER(ctypes.c_char)()
        n = ctypes.c_size_t(0)
        fin = ctypes.c_int(0)
        with InterruptGuard(h):
            with h.lock:
                ptr = h.get()
                st = _ffi.lib.llm_session_step_timed(ptr, int(budget_us), ctypes.byref(tok), ctypes.byref(text),
                                                     ctypes.byref(n), ctypes.byref(fin))
                if st != 0:
                    raise error_for(st, _ffi.last_error(ptr))
                piece = ctypes.string_at(text, n.value).decode("utf-8", "replace") if n.value else ""
                lp = self._step_logprobs(ptr, int(tok.value))
        return _make_step(int(tok.value), piece, fin.value, lp)

    def _apply_overrides(self, overrides: Dict[str, Any], stop: Stops) -> Tuple[Dict[str, Any], bool]:
        """Applies per-call settings; returns what to restore (seed is not restored: setting a seed
        reseeds the sampler, which is the point of passing one)."""
        saved: Dict[str, Any] = {}
        try:
            for name, value in overrides.items():
                if value is None:
                    continue
                if name != "seed":
                    saved[name] = self._settings[name]
                self._set_one(name, value)
            stops_changed = stop is not None
            if stops_changed:
                with self._h.lock:
                    ptr = self._h.get()
                    _ffi.lib.llm_session_clear_stops(ptr)
                    for s in ([stop] if isinstance(stop, str) else list(stop)) + self._stops:  # type: ignore[arg-type]
                        check(_ffi.lib.llm_session_add_stop(ptr, encode(s)), ptr)
        except BaseException:
            self._restore(saved, stop is not None)
            raise
        return saved, stops_changed

    def _restore(self, saved: Dict[str, Any], stops_changed: bool) -> None:
        if self.closed:
            return
        for name, value in saved.items():
            self._set_one(name, value)
        if stops_changed:
            with self._h.lock:
                ptr = self._h.get()
                _ffi.lib.llm_session_clear_stops(ptr)
                for s in self._stops:
                    _ffi.lib.llm_session_add_stop(ptr, encode(s))

    def _run(self, prompt: Optional[Union[TextLike, Sequence[int]]], add_bos: bool, special: bool,
             overrides: Dict[str, Any], stop: Stops) -> Iterator[Step]:
        """Generator of the Step of every step of one generation, with the per-call settings
        applied for its duration."""
        saved, stops_changed = self._apply_overrides(overrides, stop)
        try:
            if prompt is not None:
                self.feed(prompt, add_bos=add_bos, special=special)
            self._clear_cancel()
            self.last_completion_tokens = 0
            self.last_finish = _ffi.Finish.NONE
            first = True
            while True:
                s = self._step(InterruptGuard(self._h))
                if first:  # the prompt (with a chat reply's header, fed by the first step) is in
                    first = False
                    self.last_prompt_tokens = self.n_past
                    # positions of the prompt taken from the context's prefix cache (not evaluated)
                    if _ffi.has("llm_session_n_reused"):
                        self.last_cached_tokens = max(0, min(self.n_past, self.n_past - self.n_evaluated))
                # an end-of-generation token is not part of the completion; a step that ends
                # the generation with a content token (a grammar's last one) is
                if s.token >= 0 and not (s.finish == _ffi.Finish.EOG and self._model.token_is_eog(s.token)):
                    self.last_completion_tokens += 1
                if s.finish != _ffi.Finish.NONE:
                    self.last_finish = s.finish
                yield s
                if s.finish != _ffi.Finish.NONE:
                    return
        finally:
            self._restore(saved, stops_changed)

    def generate(self, prompt: Optional[Union[TextLike, Sequence[int]]] = None, *, max_tokens: Optional[int] = None,
                 temperature: Optional[float] = None, top_k: Optional[int] = None, top_p: Optional[float] = None,
                 min_p: Optional[float] = None, repeat_penalty: Optional[float] = None,
                 frequency_penalty: Optional[float] = None, presence_penalty: Optional[float] = None,
                 penalty_last_n: Optional[int] = None, stop: Stops = None, seed: Optional[int] = None,
                 stream: bool = False, add_bos: bool = True,
                 special: bool = False) -> Union[str, Iterator[str]]:
        """Feeds ``prompt`` (text or token ids; None continues from what was fed, e.g. after
        :meth:`chat`) and generates until an end-of-generation token, ``max_tokens`` (0 = no
        limit), a stop string (not part of the result), a full context or :meth:`cancel`.

        Returns the text, or with ``stream=True`` an iterator of text pieces (whole code points).
        The sampling keywords and ``stop`` apply to this call only (``seed`` reseeds the sampler).
        :attr:`last_finish` tells why it ended. Ctrl-C on the main thread stops the generation
        cleanly and raises KeyboardInterrupt; the session stays usable.
        """
        overrides = dict(max_tokens=max_tokens, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                         repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                         presence_penalty=presence_penalty, penalty_last_n=penalty_last_n, seed=seed)
        if stream:
            return self._stream(prompt, add_bos, special, overrides, stop)
        return "".join(s.text for s in self._run(prompt, add_bos, special, overrides, stop))

    def _stream(self, prompt: Any, add_bos: bool, special: bool, overrides: Dict[str, Any],
                stop: Stops) -> Iterator[str]:
        for s in self._run(prompt, add_bos, special, overrides, stop):
            if s.text:
                yield s.text

    @property
    def finish_reason(self) -> Optional[str]:
        """Why the last generation ended: "stop" (end of generation, stop string, cancel),
        "length" (max_tokens or a full context), "grammar" (the grammar allowed no token: the
        output is an unfinished prefix of its language), or None before any."""
        return FINISH_REASONS.get(self.last_finish)


def _is_text(x: Any) -> bool:
    return isinstance(x, (str, bytes, bytearray, memoryview))


def _pooling(pooling: Union[str, int]) -> int:
    """"mean" / "last" / "first" (or a Pooling) → llm_pooling; ValueError otherwise."""
    if isinstance(pooling, str):
        try:
            return int(_ffi.Pooling[pooling.upper()])
        except KeyError:
            raise ValueError(f"pooling must be 'mean', 'last' or 'first', not {pooling!r}") from None
    if isinstance(pooling, int) and not isinstance(pooling, bool) and pooling in set(_ffi.Pooling):
        return int(pooling)
    raise ValueError(f"pooling must be 'mean', 'last' or 'first', not {pooling!r}")


def _require(name: str) -> None:
    if not _ffi.has(name):
        raise error_for(_ffi.Status.UNSUPPORTED, f"the loaded libllm has no {name}")


def step_batch(sessions: Sequence[Session]) -> List[Step]:
    """llm_session_step_batch: one :meth:`Session.step` of each session, in order, with their
    pending tokens evaluated in one forward pass (the weights are read once for all of them).
    The sessions must be distinct and share one context (see ``share_context``). Returns one
    Step per session; raises the first failing session's error (the steps of the others are done
    and lost then, as with a loop of step() calls that stops at an exception). Raises
    UnsupportedError when the loaded library predates the call."""
    if not _ffi.has("llm_session_step_batch"):
        raise error_for(_ffi.Status.UNSUPPORTED, "the loaded libllm has no llm_session_step_batch")
    sessions = list(sessions)
    n = len(sessions)
    if n == 0:
        return []
    for s in sessions:
        if not isinstance(s, Session):
            raise TypeError(f"step_batch takes Sessions, got {type(s).__name__}")
    # every session's lock, in one global order (two batches over the same sessions cannot
    # deadlock); a session listed twice is left to the library to refuse
    handles = sorted({id(s._h): s._h for s in sessions}.values(), key=id)
    ptrs = (ctypes.c_void_p * n)()
    toks = (ctypes.c_int32 * n)()
    texts = (ctypes.POINTER(ctypes.c_char) * n)()
    lens = (ctypes.c_size_t * n)()
    fins = (ctypes.c_int * n)()
    sts = (ctypes.c_int * n)()
    for h in handles:
        h.lock.acquire()
    try:
        for i, s in enumerate(sessions):
            ptrs[i] = s._h.get()
        st = _ffi.lib.llm_session_step_batch(ptrs, n, toks, texts, lens, fins, sts)
        if st != 0:
            # arguments refused (every status set, nothing touched): the message is on the
            # context of the first session; else on the first failing session
            refused = all(sts[i] == _ffi.Status.INVALID_ARGUMENT for i in range(n))
            bad = next((i for i in range(n) if sts[i] != 0), 0)
            raise error_for(st, _ffi.last_error(sessions[0]._h.context if refused else ptrs[bad]))
        return [_make_step(int(toks[i]),
                           ctypes.string_at(texts[i], lens[i]).decode("utf-8", "replace") if lens[i] else "",
                           fins[i], sessions[i]._step_logprobs(ptrs[i], int(toks[i]))) for i in range(n)]
    finally:
        for h in reversed(handles):
            h.lock.release()


def _make_step(token: int, text: str, finish: int,
               lp: Optional[Tuple[float, Tuple[Tuple[int, float], ...]]]) -> Step:
    if lp is None:
        return Step(token, text, _ffi.Finish(finish))
    return Step(token, text, _ffi.Finish(finish), lp[0], lp[1])


def _read_logprobs(ptr: int, capacity: int) -> Optional[Tuple[float, Tuple[Tuple[int, float], ...]]]:
    """llm_session_logprobs of a session (its lock held): None when nothing was recorded."""
    if not _ffi.has("llm_session_logprobs"):
        return None
    cap = max(int(capacity), 0)
    lp = ctypes.c_float(0.0)
    toks = (ctypes.c_int32 * max(cap, 1))()
    vals = (ctypes.c_float * max(cap, 1))()
    n = ctypes.c_size_t(0)
    st = _ffi.lib.llm_session_logprobs(ptr, ctypes.byref(lp), toks, vals, cap, ctypes.byref(n))
    if st == _ffi.Status.STATE:
        return None
    check(st, ptr)
    k = min(n.value, cap)
    return float(lp.value), tuple((int(toks[i]), float(vals[i])) for i in range(k))
