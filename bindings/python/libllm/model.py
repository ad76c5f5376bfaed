"""The Model: a loaded GGUF file (weights, tokenizer, metadata), immutable and shareable between
threads. Sessions (conversations) are created from it; see :mod:`libllm.session`."""
from __future__ import annotations

import ctypes
import io
import os
import threading
import weakref
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, TYPE_CHECKING)

from . import _ffi
from ._handles import _ModelHandle
from ._util import TextLike, check, encode, fspath, read_string
from .errors import LlmError, TypeMismatchError, NotFoundError, error_for

if TYPE_CHECKING:
    from .session import Session

PathOrBytes = Union[str, bytes, bytearray, memoryview, "os.PathLike[str]", io.IOBase]
MetaValue = Union[int, float, str]
LogCallback = Callable[[int, str], None]
ProgressCallback = Callable[[float], Optional[bool]]


class Options:
    """An llm_options object (model loading and context creation read it). Used internally; it is
    public for those who want llm_option_bounds or an option the keyword arguments lack."""

    def __init__(self, values: Optional[Mapping[int, Union[int, float]]] = None) -> None:
        ptr = _ffi.lib.llm_options_new()
        if not ptr:
            raise MemoryError("llm_options_new failed")
        self.ptr: Optional[int] = ptr
        self._finalizer = weakref.finalize(self, _ffi.lib.llm_options_free, ptr)
        for key, value in (values or {}).items():
            self.set(key, value)

    def set(self, key: int, value: Union[int, float, bool]) -> None:
        """llm_options_set_int / _float according to the key's type."""
        key = _ffi.Option(key)
        if key in _ffi.FLOAT_OPTIONS:
            check(_ffi.lib.llm_options_set_float(self.ptr, key, float(value)), self.ptr)
        else:
            check(_ffi.lib.llm_options_set_int(self.ptr, key, int(value)), self.ptr)

    def get(self, key: int) -> Union[int, float]:
        """The value of a key (its default when not set)."""
        key = _ffi.Option(key)
        if key in _ffi.FLOAT_OPTIONS:
            d = ctypes.c_double()
            check(_ffi.lib.llm_options_get_float(self.ptr, key, ctypes.byref(d)), self.ptr)
            return d.value
        i = ctypes.c_int64()
        check(_ffi.lib.llm_options_get_int(self.ptr, key, ctypes.byref(i)), self.ptr)
        return i.value

    @staticmethod
    def bounds(key: int) -> "tuple[float, float]":
        """llm_option_bounds: the valid (min, max) of a key."""
        lo, hi = ctypes.c_double(), ctypes.c_double()
        check(_ffi.lib.llm_option_bounds(int(key), ctypes.byref(lo), ctypes.byref(hi)), None)
        return lo.value, hi.value

    def close(self) -> None:
        """Frees the object now (also done when it is garbage-collected)."""
        self._finalizer()
        self.ptr = None


class Model:
    """A GGUF model loaded by libllm.

    ``Model(path)`` maps the file (llm_model_load_file); ``Model(data_bytes)`` loads from memory (the
    bytes are copied); a binary file object with read/seek loads through llm_model_load_reader.
    ``n_threads`` and ``n_ctx`` are the defaults of the sessions created from it (0 = all cores /
    the model's training length capped at 4096). ``log`` receives (level, message) messages of the
    library; ``progress`` receives the loading progress in [0, 1] and may return False to abort.

    The model is freed by :meth:`close`, by leaving a ``with`` block, or when it is garbage
    collected once no session uses it any more. Closing it explicitly also closes its sessions.
    """

    def __init__(self, path_or_bytes: PathOrBytes, *, n_threads: int = 0, n_ctx: int = 0, use_mmap: bool = True,
                 repack: bool = True, log: Optional[LogCallback] = None, progress: Optional[ProgressCallback] = None,
                 model_id: Optional[str] = None, memory_limit: int = 0) -> None:
        self.n_threads: int = int(n_threads)
        #: LLM_OPT_MEMORY_LIMIT (bytes, 0 = none) of the load and of the model's contexts and sessions
        self.memory_limit: int = int(memory_limit)
        self.n_ctx: int = int(n_ctx)
        self._pool: List["Session"] = []
        self._pool_lock = threading.Lock()
        opts = Options({_ffi.Option.USE_MMAP: int(bool(use_mmap)), _ffi.Option.REPACK: int(bool(repack))})
        if self.memory_limit:
            opts.set(_ffi.Option.MEMORY_LIMIT, self.memory_limit)
        keep: List[Any] = []
        if log is not None:
            def log_cb(_ud: Any, level: int, msg: Optional[bytes], _log: LogCallback = log) -> None:
                try:
                    _log(int(level), (msg or b"").decode("utf-8", "replace"))
                except Exception:  # never let an exception unwind through C
                    pass
            c_log = _ffi.LOG_FN(log_cb)
            keep.append(c_log)  # the model keeps calling it after loading
            _ffi.lib.llm_options_set_log(opts.ptr, c_log, None)
        if progress is not None:
            def progress_cb(_ud: Any, p: float, _progress: ProgressCallback = progress) -> int:
                try:
                    return 0 if _progress(float(p)) is False else 1
                except BaseException:
                    return 0
            c_progress = _ffi.PROGRESS_FN(progress_cb)
            keep.append(c_progress)
            _ffi.lib.llm_options_set_progress(opts.ptr, c_progress, None)

        out = ctypes.c_void_p()
        source = path_or_bytes
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            st = _ffi.lib.llm_model_load_memory(data, len(data), opts.ptr, ctypes.byref(out))
            default_id = "model"
        elif hasattr(source, "read") and hasattr(source, "seek"):
            st = self._load_reader(source, opts, out)
            default_id = os.path.basename(getattr(source, "name", "") or "") or "model"
        else:
            path = fspath(source)  # type: ignore[arg-type]
            st = _ffi.lib.llm_model_load_file(path, opts.ptr, ctypes.byref(out))
            default_id = os.path.basename(os.fsdecode(path))
        if st != 0:
            err = error_for(st, _ffi.last_error(opts.ptr))
            opts.close()
            raise err
        opts.close()
        self._h = _ModelHandle(out.value, keep)
        self._finalizer = weakref.finalize(self, self._h.free)
        #: The name used as "model" in the OpenAI-style results.
        self.model_id: str = model_id or default_id

    @staticmethod
    def _load_reader(f: Any, opts: Options, out: ctypes.c_void_p) -> int:
        f.seek(0, io.SEEK_END)
        total = f.tell()
        f.seek(0)

        def read_cb(_ud: Any, buf: int, size: int) -> int:
            try:
                data = f.read(size)
                if not data:
                    return 0
                ctypes.memmove(buf, data, len(data))
                return len(data)
            except BaseException:
                return 0

        def seek_cb(_ud: Any, offset: int) -> int:
            try:
                f.seek(offset)
                return 0
            except BaseException:
                return -1

        def size_cb(_ud: Any) -> int:
            return total

        cbs = (_ffi.READ_FN(read_cb), _ffi.SEEK_FN(seek_cb), _ffi.SIZE_FN(size_cb))
        return _ffi.lib.llm_model_load_reader(cbs[0], cbs[1], cbs[2], None, opts.ptr, ctypes.byref(out))

    # -- lifetime ------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether the model was freed."""
        return not self._h.ptr

    def close(self) -> None:
        """Frees the model now, closing its sessions first (they raise StateError afterwards)."""
        with self._pool_lock:
            self._pool.clear()
        self._finalizer()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return "<libllm.Model closed>"
        return f"<libllm.Model {self.architecture} {self.model_id!r} n_params={self.n_params}>"

    @property
    def _ptr(self) -> int:
        return self._h.get()

    # -- properties ----------------------------------------------------------------------------
    @property
    def architecture(self) -> str:
        """general.architecture, e.g. "gemma3"."""
        return (_ffi.lib.llm_model_architecture(self._ptr) or b"").decode("utf-8", "replace")

    @property
    def name(self) -> str:
        """general.name ("" when absent)."""
        return (_ffi.lib.llm_model_name(self._ptr) or b"").decode("utf-8", "replace")

    @property
    def n_params(self) -> int:
        """Number of parameters."""
        return int(_ffi.lib.llm_model_n_params(self._ptr))

    @property
    def size_bytes(self) -> int:
        """Bytes of tensor data."""
        return int(_ffi.lib.llm_model_size_bytes(self._ptr))

    @property
    def repacked_bytes(self) -> int:
        """Bytes of weights copied into the CPU kernels' layout at load (``repack``; 0 if none)."""
        return int(_ffi.lib.llm_model_repacked_bytes(self._ptr))

    @property
    def n_vocab(self) -> int:
        """Vocabulary size."""
        return int(_ffi.lib.llm_model_n_vocab(self._ptr))

    @property
    def n_ctx_train(self) -> int:
        """Training context length."""
        return int(_ffi.lib.llm_model_n_ctx_train(self._ptr))

    @property
    def n_embd(self) -> int:
        """Embedding width."""
        return int(_ffi.lib.llm_model_n_embd(self._ptr))

    @property
    def n_layer(self) -> int:
        """Number of layers."""
        return int(_ffi.lib.llm_model_n_layer(self._ptr))

    @property
    def token_bos(self) -> int:
        """The BOS token id, -1 when the model has none."""
        return int(_ffi.lib.llm_token_bos(self._ptr))

    @property
    def token_eos(self) -> int:
        """The EOS token id, -1 when the model has none."""
        return int(_ffi.lib.llm_token_eos(self._ptr))

    def token_is_eog(self, token: int) -> bool:
        """Whether the token ends a generation."""
        return bool(_ffi.lib.llm_token_is_eog(self._ptr, int(token)))

    # -- metadata ------------------------------------------------------------------------------
    def metadata_keys(self) -> List[str]:
        """Every GGUF metadata key, arrays included, in file order."""
        ptr = self._ptr
        keys = []
        for i in range(int(_ffi.lib.llm_model_meta_count(ptr))):
            k = _ffi.lib.llm_model_meta_key(ptr, i)
            if k is not None:
                keys.append(k.decode("utf-8", "replace"))
        return keys

    def metadata_value(self, key: str) -> MetaValue:
        """One metadata value: int (integers and bools), float or str. Raises NotFoundError for an
        absent key and TypeMismatchError for an array (not readable through the C API)."""
        ptr = self._ptr
        k = encode(key)
        i = ctypes.c_int64()
        st = _ffi.lib.llm_model_meta_int(ptr, k, ctypes.byref(i))
        if st == 0:
            return i.value
        if st != _ffi.Status.TYPE_MISMATCH:
            raise error_for(st, f"metadata key {key!r}")
        d = ctypes.c_double()
        st = _ffi.lib.llm_model_meta_float(ptr, k, ctypes.byref(d))
        if st == 0:
            return d.value
        if st != _ffi.Status.TYPE_MISMATCH:
            raise error_for(st, f"metadata key {key!r}")
        raw = read_string(lambda buf, cap, needed: _ffi.lib.llm_model_meta_str(ptr, k, buf, cap, needed), None)
        return raw.decode("utf-8", "replace")

    @property
    def metadata(self) -> Dict[str, MetaValue]:
        """All metadata keys whose values are int, float or str (arrays, such as the vocabulary,
        cannot be read through the C API and are left out; see :meth:`metadata_keys`)."""
        out: Dict[str, MetaValue] = {}
        for key in self.metadata_keys():
            try:
                out[key] = self.metadata_value(key)
            except (TypeMismatchError, NotFoundError):
                pass
            except LlmError as e:
                if e.status != _ffi.Status.TYPE_MISMATCH:
                    raise
        return out

    # -- tokenizer -----------------------------------------------------------------------------
    def tokenize(self, text: TextLike, add_bos: bool = True, special: bool = False) -> List[int]:
        """Token ids of the text. ``add_bos`` adds BOS (and EOS) when the model's tokenizer asks for
        them; ``special`` recognises control tokens written in the text. Invalid UTF-8 (bytes, or a
        str with lone surrogates) raises InvalidUtf8Error."""
        ptr = self._ptr
        data = encode(text)
        flags = (_ffi.TOKENIZE_ADD_BOS if add_bos else 0) | (_ffi.TOKENIZE_SPECIAL if special else 0)
        n = ctypes.c_size_t(0)
        cap = len(data) + 8
        for _ in range(3):
            out = (ctypes.c_int32 * cap)()
            st = _ffi.lib.llm_tokenize(ptr, data, len(data), flags, out, cap, ctypes.byref(n))
            if st == _ffi.Status.BUFFER_TOO_SMALL:
                cap = n.value
                continue
            if st != 0:
                raise error_for(st, _tokenize_message(st))
            return list(out[:n.value])
        raise error_for(_ffi.Status.BUFFER_TOO_SMALL, "tokenize")

    def detokenize(self, tokens: Sequence[int], special: bool = False, errors: str = "replace") -> str:
        """The text of token ids (``special`` renders control tokens, else they are skipped).
        Bytes that are not valid UTF-8 (a cut sequence) are decoded with ``errors``."""
        return self.detokenize_bytes(tokens, special).decode("utf-8", errors)

    def detokenize_bytes(self, tokens: Sequence[int], special: bool = False) -> bytes:
        """Like :meth:`detokenize`, the raw bytes."""
        ptr = self._ptr
        ids = (ctypes.c_int32 * len(tokens))(*[int(t) for t in tokens])
        flags = _ffi.DETOKENIZE_SPECIAL if special else 0
        try:
            return read_string(lambda buf, cap, needed: _ffi.lib.llm_detokenize(ptr, ids, len(tokens), flags, buf,
                                                                                cap, needed),
                               None, initial=16 * len(tokens) + 16)
        except LlmError as e:
            raise error_for(e.status, "detokenize: a token id is outside the vocabulary"
                            if e.status == _ffi.Status.INVALID_ARGUMENT else "detokenize") from None

    def token_to_piece(self, token: int, special: bool = False) -> bytes:
        """The raw bytes of one token (possibly part of a UTF-8 sequence)."""
        ptr = self._ptr
        flags = _ffi.DETOKENIZE_SPECIAL if special else 0
        return read_string(lambda buf, cap, needed: _ffi.lib.llm_token_to_piece(ptr, int(token), flags, buf, cap,
                                                                                needed), None, initial=32)

    def chat_render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = True) -> str:
        """The conversation of {"role", "content"} dicts rendered with the model's chat template
        (llm_chat_render; :meth:`apply_chat_template` takes tools, tool calls and variables)."""
        ptr = self._ptr
        n = len(messages)
        roles = (ctypes.c_char_p * max(n, 1))(*[encode(m["role"]) for m in messages])
        contents = (ctypes.c_char_p * max(n, 1))(*[encode(m["content"]) for m in messages])
        raw = read_string(lambda buf, cap, needed: _ffi.lib.llm_chat_render(ptr, roles, contents, n,
                                                                            int(add_generation_prompt), buf, cap,
                                                                            needed), None, initial=1024)
        return raw.decode("utf-8", "replace")

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True,
                            tools: Optional[Sequence[Mapping[str, Any]]] = None, template: Optional[str] = None,
                            **variables: Any) -> str:
        """The conversation rendered with the model's Jinja chat template (or ``template``) as
        jinja2 renders it for Hugging Face transformers' ``apply_chat_template``: messages in the
        OpenAI shape (tool calls and tool results included), ``tools`` and any other variable the
        template reads (e.g. ``enable_thinking=False``). FormatError when the template fails."""
        import json
        if tools is not None:
            variables["tools"] = list(tools)
        msgs = encode(json.dumps([dict(m) for m in messages], ensure_ascii=False))
        vars_json = encode(json.dumps(variables, ensure_ascii=False)) if variables else None
        tmpl = encode(template) if template is not None else None
        opts = Options()
        try:
            raw = read_string(lambda buf, cap, needed: _ffi.lib.llm_chat_apply_template(
                self._ptr, tmpl, msgs, vars_json, int(add_generation_prompt), opts.ptr, buf, cap, needed),
                opts.ptr, initial=4096)
        finally:
            opts.close()
        return raw.decode("utf-8", "replace")

    # -- sessions and completions --------------------------------------------------------------
    def session(self, **kwargs: Any) -> "Session":
        """A new :class:`~libllm.Session` on this model (same keyword arguments)."""
        from .session import Session
        return Session(self, **kwargs)

    def _acquire_session(self, n_ctx: Optional[int]) -> "Session":
        """A reset session from the pool (or a new one) for one create_* call."""
        want = self.n_ctx if n_ctx is None else int(n_ctx)
        with self._pool_lock:
            for i, s in enumerate(self._pool):
                if s._n_ctx_asked == want:
                    del self._pool[i]
                    break
            else:
                s = None
        if s is None:
            return self.session(n_ctx=want)
        s.reset()
        return s

    def _release_session(self, s: "Session", pool_size: int = 4) -> None:
        if s.closed or self.closed:
            return
        with self._pool_lock:
            if len(self._pool) < pool_size:
                s.reset()
                s.clear_stops()
                self._pool.append(s)
                return
        s.close()

    def create_completion(self, prompt: str, max_tokens: Optional[int] = 16, temperature: float = 0.8,
                          top_p: float = 0.95, top_k: int = 40, min_p: float = 0.05, stop: Union[None, str,
                          Sequence[str]] = None, stream: bool = False, seed: Optional[int] = None,
                          repeat_penalty: float = 1.0, frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                          echo: bool = False, n_ctx: Optional[int] = None, grammar: Optional[str] = None,
                          response_format: Optional[Mapping[str, Any]] = None, logprobs: Optional[int] = None,
                          logit_bias: Optional[Mapping[str, float]] = None,
                          **unsupported: Any) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """An OpenAI-style text completion of ``prompt``: a dict shaped like the OpenAI client's
        ``Completion`` (object "text_completion"), or with ``stream=True`` an iterator of chunks of
        the same shape. ``max_tokens`` None or 0 = until the end of generation or a full context.
        Each call uses its own session, so calls from several threads run concurrently.

        Controlled output: ``grammar`` (GBNF text, start rule "root") or ``response_format``
        ({"type": "json_object"} or {"type": "json_schema", "json_schema": {"schema": {...}}})
        constrain the text; ``logit_bias`` ({"token id": -100..100}) shifts tokens' logits;
        ``logprobs`` (0..20) adds OpenAI's legacy logprobs object (tokens, token_logprobs,
        top_logprobs with that many alternatives, text_offset); ``seed`` makes sampling repeatable."""
        from . import completion
        return completion.create_completion(self, prompt, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                            top_k=top_k, min_p=min_p, stop=stop, stream=stream, seed=seed,
                                            repeat_penalty=repeat_penalty, frequency_penalty=frequency_penalty,
                                            presence_penalty=presence_penalty, echo=echo, n_ctx=n_ctx,
                                            grammar=grammar, response_format=response_format, logprobs=logprobs,
                                            logit_bias=logit_bias, unsupported=unsupported)

    def __call__(self, prompt: str, **kwargs: Any) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """Same as :meth:`create_completion`."""
        return self.create_completion(prompt, **kwargs)

    def create_chat_completion(self, messages: Sequence[Mapping[str, str]], max_tokens: Optional[int] = None,
                               temperature: float = 0.8, top_p: float = 0.95, top_k: int = 40, min_p: float = 0.05,
                               stop: Union[None, str, Sequence[str]] = None, stream: bool = False,
                               seed: Optional[int] = None, repeat_penalty: float = 1.0,
                               frequency_penalty: float = 0.0, presence_penalty: float = 0.0,
                               n_ctx: Optional[int] = None, tools: Optional[Sequence[Mapping[str, Any]]] = None,
                               chat_template_kwargs: Optional[Mapping[str, Any]] = None, tool_choice: Any = None,
                               parallel_tool_calls: Optional[bool] = None,
                               response_format: Optional[Mapping[str, Any]] = None, grammar: Optional[str] = None,
                               logprobs: Optional[bool] = None, top_logprobs: Optional[int] = None,
                               logit_bias: Optional[Mapping[str, float]] = None,
                               **unsupported: Any) -> Union[Dict[str, Any], Iterator[Dict[str, Any]]]:
        """An OpenAI-style chat completion: the messages (OpenAI shape, tool calls and tool results
        included) are rendered with the model's own Jinja chat template, with ``tools`` (OpenAI
        tool definitions) and ``chat_template_kwargs`` (further template variables, e.g.
        ``{"enable_thinking": False}``), then the reply is generated. Returns a dict shaped like
        ``ChatCompletion`` (object "chat.completion"), or with ``stream=True`` an iterator of
        "chat.completion.chunk" dicts.

        Tools: with ``tools``, ``tool_choice`` "auto" (the default: a call or text), "required"
        (calls only), {"type": "function", "function": {"name": ...}} (that tool) or "none" (no
        call; the tools are not shown). Calls are generated in the model family's own syntax,
        constrained by a grammar so that each one parses and its arguments are valid against its
        tool's ``parameters`` schema, and returned as ``message.tool_calls`` (finish_reason
        "tool_calls"); streamed, as ``delta.tool_calls`` pieces. ``parallel_tool_calls=False``
        allows one call per reply. Where the template ignores tools, a system message describes
        them. See :mod:`libllm.tools`.

        Other controls: ``response_format`` ({"type": "json_object"} or {"type": "json_schema",
        "json_schema": {"name": ..., "schema": {...}}}), ``grammar`` (GBNF), ``logprobs`` and
        ``top_logprobs`` (0..20; ``choices[0].logprobs.content``), ``logit_bias`` ({"token id":
        -100..100}) and ``seed``. Invalid requests raise ValueError (or the LlmError of the part
        the library refused, e.g. UnsupportedError for a schema keyword it cannot enforce)."""
        from . import completion
        return completion.create_chat_completion(self, messages, max_tokens=max_tokens, temperature=temperature,
                                                 top_p=top_p, top_k=top_k, min_p=min_p, stop=stop, stream=stream,
                                                 seed=seed, repeat_penalty=repeat_penalty,
                                                 frequency_penalty=frequency_penalty,
                                                 presence_penalty=presence_penalty, n_ctx=n_ctx, tools=tools,
                                                 chat_template_kwargs=chat_template_kwargs, tool_choice=tool_choice,
                                                 parallel_tool_calls=parallel_tool_calls,
                                                 response_format=response_format, grammar=grammar,
                                                 logprobs=logprobs, top_logprobs=top_logprobs, logit_bias=logit_bias,
                                                 unsupported=unsupported)

    # -- embeddings and scores -----------------------------------------------------------------
    def embed(self, input: Union[TextLike, Sequence[int]], pooling: Union[str, int] = "mean", normalize: bool = True,
              n_ctx: Optional[int] = None) -> List[float]:
        """The embedding of a text or of token ids as a list of ``n_embd`` floats (see
        :meth:`Session.embed`; this takes a session from the model's pool)."""
        s = self._acquire_session(n_ctx)
        try:
            return s.embed(input, pooling=pooling, normalize=normalize)
        finally:
            self._release_session(s)

    def create_embedding(self, input: Any, pooling: Union[str, int] = "mean", normalize: bool = True,
                         encoding_format: Optional[str] = "float", dimensions: Optional[int] = None,
                         n_ctx: Optional[int] = None, **unsupported: Any) -> Dict[str, Any]:
        """OpenAI-style embeddings: ``input`` is a string, a list of strings, a list of token ids
        or a list of lists of token ids; texts are tokenized with BOS when the model uses one.
        Returns a dict shaped like the OpenAI client's ``CreateEmbeddingResponse``: {"object":
        "list", "data": [{"object": "embedding", "index": i, "embedding": [...]}], "model": ...,
        "usage": {"prompt_tokens": n, "total_tokens": n}}. Each embedding is the final hidden
        states (after the output norm) pooled by ``pooling`` ("mean", "last" or "first"; "last" is
        the usual choice for a causal model, "first" is the same for every text that starts with
        BOS), at unit L2 norm when ``normalize``. ``encoding_format`` "base64" gives each
        embedding as the base64 of its little-endian float32 bytes (as OpenAI does);
        ``dimensions`` other than ``n_embd`` is refused (ValueError), like any malformed input."""
        from . import embedding
        return embedding.create_embedding(self, input, pooling=pooling, normalize=normalize,
                                          encoding_format=encoding_format, dimensions=dimensions, n_ctx=n_ctx,
                                          unsupported=unsupported)

    def score(self, prompt: Union[TextLike, Sequence[int]], continuation: Union[TextLike, Sequence[int]], *,
              per_token: bool = False, n_ctx: Optional[int] = None) -> Union[float, Tuple[float, List[float]]]:
        """The log-probability of ``continuation`` after ``prompt`` (see :meth:`Session.score`;
        this takes a session from the model's pool). E.g. the best label:
        ``max(labels, key=lambda l: model.score(prompt, l))``."""
        s = self._acquire_session(n_ctx)
        try:
            return s.score(prompt, continuation, per_token=per_token)
        finally:
            self._release_session(s)


# estimate_memory keywords that are not the lower-case name of an Option
_ESTIMATE_ALIASES = {"n_ctx": _ffi.Option.CONTEXT_SIZE, "n_threads": _ffi.Option.THREADS}


def estimate_memory(path: Union[str, bytes, "os.PathLike[str]"], **options: Any) -> Dict[str, int]:
    """llm_model_estimate_memory: the bytes a model file will need, from its header (nothing is
    loaded), under load, context and session options given as keywords: ``use_mmap``, ``repack``,
    ``n_ctx`` (or ``context_size``), ``n_threads`` (or ``threads``), ``kv_type`` (0 F32, 1 F16, 2
    Q8_0), ``precision``. Returns the fields of llm_memory_estimate as a dict: weights_bytes,
    weights_resident, repacked_bytes, model_overhead_bytes, kv_bytes_per_token, kv_bytes_per_session,
    scratch_bytes, context_bytes and total_bytes (what a loaded model with one context and one
    session that filled its context keeps resident)."""
    if not _ffi.has("llm_model_estimate_memory"):
        raise error_for(_ffi.Status.UNSUPPORTED, "the loaded libllm has no llm_model_estimate_memory")
    opts = Options()
    try:
        for name, value in options.items():
            key = _ESTIMATE_ALIASES.get(name)
            if key is None:
                try:
                    key = _ffi.Option[name.upper()]
                except KeyError:
                    raise TypeError(f"estimate_memory() got an unknown option {name!r}") from None
            opts.set(key, int(value) if isinstance(value, bool) else value)
        est = _ffi.MemoryEstimate()
        est.size = ctypes.sizeof(est)
        check(_ffi.lib.llm_model_estimate_memory(fspath(path), opts.ptr, ctypes.byref(est)), opts.ptr)
        return {name: int(getattr(est, name)) for name, _t in _ffi.MemoryEstimate._fields_ if name != "size"}
    finally:
        opts.close()


def _tokenize_message(status: int) -> str:
    if status == _ffi.Status.INVALID_UTF8:
        return "the text is not valid UTF-8"
    return "tokenize failed"
