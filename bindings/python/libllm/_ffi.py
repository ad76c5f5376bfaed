"""Low-level access to libllm.so: library lookup, the version check and every prototype of llm.h.

Nothing here manages lifetimes; the classes in :mod:`libllm.model` and :mod:`libllm.session` do.
Functions are called through :data:`lib`, a :class:`ctypes.CDLL` (the GIL is released during each
call, so sessions on different threads really run in parallel).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import enum
import glob
import os
import sys
from typing import List, Optional

from .errors import LibraryVersionError

#: The libllm version this binding was written against (llm.h LLM_VERSION_*).
BINDING_LIBLLM_VERSION = (0, 1, 0)

c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p
c_int = ctypes.c_int
c_int32 = ctypes.c_int32
c_int64 = ctypes.c_int64
c_uint64 = ctypes.c_uint64
c_size_t = ctypes.c_size_t
c_ssize_t = ctypes.c_ssize_t  # ptrdiff_t
c_float = ctypes.c_float
c_double = ctypes.c_double
P = ctypes.POINTER


class Status(enum.IntEnum):
    """llm_status: the fixed status codes of llm.h."""
    OK = 0
    INVALID_ARGUMENT = 1
    OUT_OF_MEMORY = 2
    IO = 3
    FORMAT = 4
    UNSUPPORTED = 5
    ABORTED = 6
    CONTEXT_FULL = 7
    INVALID_UTF8 = 8
    NOT_FOUND = 9
    BUFFER_TOO_SMALL = 10
    TYPE_MISMATCH = 11
    LIMIT = 12
    BACKEND = 13
    STATE = 14
    INTERNAL = 15


class MemoryEstimate(ctypes.Structure):
    """llm_memory_estimate (llm_model_estimate_memory)."""
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "size", "weights_bytes", "weights_resident", "repacked_bytes", "model_overhead_bytes", "kv_bytes_per_token",
        "kv_bytes_per_session", "scratch_bytes", "context_bytes", "total_bytes")]


class Option(enum.IntEnum):
    """llm_option: keys of llm_options / llm_session_set_*."""
    THREADS = 1
    CONTEXT_SIZE = 2
    BACKEND = 3
    MAX_SESSIONS = 4
    PRECISION = 5
    KV_TYPE = 6
    MEMORY_LIMIT = 7
    PREFIX_CACHE = 8
    CONTEXT_SHIFT = 9
    TEMPERATURE = 10
    TOP_K = 11
    TOP_P = 12
    MIN_P = 13
    REPEAT_PENALTY = 14
    FREQUENCY_PENALTY = 15
    PRESENCE_PENALTY = 16
    PENALTY_LAST_N = 17
    SEED = 18
    MAX_TOKENS = 19
    ALL_LOGITS = 20
    TEMPLATE_MAX_STEPS = 21
    TEMPLATE_MAX_DEPTH = 22
    TEMPLATE_MAX_OUTPUT = 23
    TEMPLATE_MAX_MEMORY = 24
    TOP_LOGPROBS = 25
    SHIFT_KEEP = 26
    USE_MMAP = 30
    REPACK = 31


#: Options whose value is a float (the rest are integers).
FLOAT_OPTIONS = frozenset({Option.TEMPERATURE, Option.TOP_P, Option.MIN_P, Option.REPEAT_PENALTY,
                           Option.FREQUENCY_PENALTY, Option.PRESENCE_PENALTY})


class Precision(enum.IntEnum):
    """llm_precision: FAST quantizes activations to 8 bits for quantized weights; EXACT is the f32 reference."""
    FAST = 0
    EXACT = 1


class Backend(enum.IntEnum):
    """llm_backend."""
    AUTO = 0
    CPU = 1
    CUDA = 2


class LogLevel(enum.IntEnum):
    """llm_log_level."""
    ERROR = 0
    WARN = 1
    INFO = 2
    DEBUG = 3


class Finish(enum.IntEnum):
    """llm_finish: why a generation ended (NONE while it goes on)."""
    NONE = 0
    EOG = 1
    LENGTH = 2
    STOP = 3
    CONTEXT = 4
    ABORTED = 5
    GRAMMAR = 6  # the grammar allows no token here (the output is an unfinished prefix of it)


class Pooling(enum.IntEnum):
    """llm_pooling: how llm_session_embed pools the tokens' final hidden states."""
    MEAN = 0
    LAST = 1
    FIRST = 2


EMBED_NORMALIZE = 1

TOKENIZE_ADD_BOS = 1
TOKENIZE_SPECIAL = 2
DETOKENIZE_SPECIAL = 1
FEED_ADD_BOS = 1
FEED_SPECIAL = 2

# Callback types (llm.h "Callbacks").
LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_float)
ABORT_FN = ctypes.CFUNCTYPE(c_int, c_void_p)
READ_FN = ctypes.CFUNCTYPE(c_size_t, c_void_p, c_void_p, c_size_t)
SEEK_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_uint64)
SIZE_FN = ctypes.CFUNCTYPE(c_uint64, c_void_p)
TEXT_FN = ctypes.CFUNCTYPE(c_int, c_void_p, P(ctypes.c_char), c_size_t, c_int32)

# name: (restype, argtypes); every function of include/llm.h.
_PROTOTYPES = {
    "llm_version": (c_char_p, []),
    "llm_version_number": (c_int, []),
    "llm_status_str": (c_char_p, [c_int]),
    "llm_last_error": (c_char_p, [c_void_p]),
    # options
    "llm_options_new": (c_void_p, []),
    "llm_options_free": (None, [c_void_p]),
    "llm_options_set_int": (c_int, [c_void_p, c_int, c_int64]),
    "llm_options_set_float": (c_int, [c_void_p, c_int, c_double]),
    "llm_options_get_int": (c_int, [c_void_p, c_int, P(c_int64)]),
    "llm_options_get_float": (c_int, [c_void_p, c_int, P(c_double)]),
    "llm_option_bounds": (c_int, [c_int, P(c_double), P(c_double)]),
    "llm_options_set_log": (None, [c_void_p, LOG_FN, c_void_p]),
    "llm_options_set_progress": (None, [c_void_p, PROGRESS_FN, c_void_p]),
    # model
    "llm_model_load_file": (c_int, [c_char_p, c_void_p, P(c_void_p)]),
    "llm_model_load_memory": (c_int, [c_void_p, c_size_t, c_void_p, P(c_void_p)]),
    "llm_model_load_reader": (c_int, [READ_FN, SEEK_FN, SIZE_FN, c_void_p, c_void_p, P(c_void_p)]),
    "llm_model_free": (None, [c_void_p]),
    "llm_model_architecture": (c_char_p, [c_void_p]),
    "llm_model_name": (c_char_p, [c_void_p]),
    "llm_model_n_params": (c_uint64, [c_void_p]),
    "llm_model_size_bytes": (c_uint64, [c_void_p]),
    "llm_model_repacked_bytes": (c_uint64, [c_void_p]),
    "llm_model_estimate_memory": (c_int, [c_char_p, c_void_p, ctypes.POINTER(MemoryEstimate)]),
    "llm_model_n_vocab": (c_int32, [c_void_p]),
    "llm_model_n_ctx_train": (c_int32, [c_void_p]),
    "llm_model_n_embd": (c_int32, [c_void_p]),
    "llm_model_n_layer": (c_int32, [c_void_p]),
    "llm_model_meta_count": (c_int32, [c_void_p]),
    "llm_model_meta_key": (c_char_p, [c_void_p, c_int32]),
    "llm_model_meta_int": (c_int, [c_void_p, c_char_p, P(c_int64)]),
    "llm_model_meta_float": (c_int, [c_void_p, c_char_p, P(c_double)]),
    "llm_model_meta_str": (c_int, [c_void_p, c_char_p, c_void_p, c_size_t, P(c_size_t)]),
    # tokenizer
    "llm_token_bos": (c_int32, [c_void_p]),
    "llm_token_eos": (c_int32, [c_void_p]),
    "llm_token_is_eog": (c_int, [c_void_p, c_int32]),
    "llm_tokenize": (c_int, [c_void_p, c_char_p, c_ssize_t, c_int, P(c_int32), c_size_t, P(c_size_t)]),
    "llm_token_to_piece": (c_int, [c_void_p, c_int32, c_int, c_void_p, c_size_t, P(c_size_t)]),
    "llm_detokenize": (c_int, [c_void_p, P(c_int32), c_size_t, c_int, c_void_p, c_size_t, P(c_size_t)]),
    "llm_chat_render": (c_int, [c_void_p, P(c_char_p), P(c_char_p), c_size_t, c_int, c_void_p, c_size_t,
                                P(c_size_t)]),
    "llm_chat_apply_template": (c_int, [c_void_p, c_char_p, c_char_p, c_char_p, c_int, c_void_p, c_void_p,
                                        c_size_t, P(c_size_t)]),
    # backends
    "llm_backend_name": (c_char_p, [c_int]),
    "llm_backend_available": (c_int, [c_int]),
    "llm_backend_describe": (c_int, [c_int, c_void_p, c_size_t, P(c_size_t)]),
    "llm_backend_device_count": (c_int32, [c_int]),
    "llm_backend_device_name": (c_int, [c_int, c_int32, c_void_p, c_size_t, P(c_size_t)]),
    "llm_backend_device_memory": (c_int, [c_int, c_int32, P(ctypes.c_uint64), P(ctypes.c_uint64)]),
    # context
    "llm_context_new": (c_int, [c_void_p, c_void_p, P(c_void_p)]),
    "llm_context_free": (None, [c_void_p]),
    "llm_context_n_ctx": (c_int32, [c_void_p]),
    "llm_context_n_threads": (c_int32, [c_void_p]),
    "llm_context_backend_name": (c_char_p, [c_void_p]),
    "llm_context_isa": (c_char_p, [c_void_p]),
    # session
    "llm_session_new": (c_int, [c_void_p, c_void_p, P(c_void_p)]),
    "llm_session_free": (None, [c_void_p]),
    "llm_session_reset": (c_int, [c_void_p]),
    "llm_session_set_int": (c_int, [c_void_p, c_int, c_int64]),
    "llm_session_set_float": (c_int, [c_void_p, c_int, c_double]),
    "llm_session_set_abort": (None, [c_void_p, ABORT_FN, c_void_p]),
    "llm_session_add_stop": (c_int, [c_void_p, c_char_p]),
    "llm_session_clear_stops": (None, [c_void_p]),
    "llm_session_feed_text": (c_int, [c_void_p, c_char_p, c_ssize_t, c_int]),
    "llm_session_feed_tokens": (c_int, [c_void_p, P(c_int32), c_size_t]),
    "llm_session_n_past": (c_int32, [c_void_p]),
    "llm_session_logits": (c_int, [c_void_p, c_int32, P(P(c_float)), P(c_int32)]),
    "llm_session_step": (c_int, [c_void_p, P(c_int32), P(P(ctypes.c_char)), P(c_size_t), P(c_int)]),
    "llm_session_step_timed": (c_int, [c_void_p, c_int64, P(c_int32), P(P(ctypes.c_char)), P(c_size_t),
                                       P(c_int)]),
    "llm_session_step_batch": (c_int, [P(c_void_p), c_size_t, P(c_int32), P(P(ctypes.c_char)), P(c_size_t),
                                       P(c_int), P(c_int)]),
    "llm_session_generate": (c_int, [c_void_p, TEXT_FN, c_void_p, P(c_int)]),
    "llm_session_chat": (c_int, [c_void_p, c_char_p, c_char_p]),
    "llm_session_chat_message": (c_int, [c_void_p, c_char_p]),
    "llm_session_chat_vars": (c_int, [c_void_p, c_char_p]),
    "llm_session_n_evaluated": (c_int64, [c_void_p]),
    "llm_session_n_reused": (c_int32, [c_void_p]),
    "llm_session_n_shifts": (c_int32, [c_void_p]),
    "llm_context_kv_bytes": (c_uint64, [c_void_p]),
    "llm_context_clear_prefixes": (None, [c_void_p]),
    # embeddings and scores
    "llm_session_embed": (c_int, [c_void_p, P(c_int32), c_size_t, c_int, c_int, P(c_float), c_size_t]),
    "llm_session_embed_text": (c_int, [c_void_p, c_char_p, c_ssize_t, c_int, c_int, P(c_float), c_size_t]),
    "llm_session_score": (c_int, [c_void_p, P(c_int32), c_size_t, P(c_int32), c_size_t, P(c_float), P(c_double)]),
    "llm_session_score_text": (c_int, [c_void_p, c_char_p, c_char_p, P(c_double), P(c_int32)]),
    "llm_quantize": (c_int, [c_char_p, c_char_p, c_char_p, c_void_p]),
    # constrained output
    "llm_session_set_grammar": (c_int, [c_void_p, c_char_p, c_char_p]),
    "llm_session_set_json_schema": (c_int, [c_void_p, c_char_p]),
    "llm_grammar_validate": (c_int, [c_char_p, c_char_p, c_void_p]),
    "llm_json_schema_to_grammar": (c_int, [c_char_p, c_void_p, c_void_p, c_size_t, P(c_size_t)]),
    "llm_session_set_logit_bias": (c_int, [c_void_p, P(c_int32), P(c_float), c_size_t]),
    "llm_session_logprobs": (c_int, [c_void_p, P(c_float), P(c_int32), P(c_float), c_size_t, P(c_size_t)]),
    "llm_session_sampling_ns": (c_int64, [c_void_p]),
    # saved sessions
    "llm_session_save": (c_int, [c_void_p, c_void_p, c_size_t, P(c_size_t)]),
    "llm_session_save_file": (c_int, [c_void_p, c_char_p]),
    "llm_session_load": (c_int, [c_void_p, c_char_p, c_size_t]),
    "llm_session_load_file": (c_int, [c_void_p, c_char_p]),
}

#: Functions added to llm.h after 0.1.0 that an older library may lack; the binding checks
#: :func:`has` before using them.
OPTIONAL = frozenset({"llm_session_step_timed", "llm_session_step_batch", "llm_context_isa", "llm_quantize", "llm_backend_name",
                      "llm_backend_available", "llm_backend_describe", "llm_backend_device_count",
                      "llm_backend_device_name", "llm_backend_device_memory", "llm_chat_apply_template",
                      "llm_session_chat_message", "llm_session_chat_vars", "llm_session_n_evaluated",
                      "llm_session_set_grammar", "llm_session_set_json_schema", "llm_grammar_validate",
                      "llm_json_schema_to_grammar", "llm_session_set_logit_bias", "llm_session_logprobs",
                      "llm_session_sampling_ns"})

#: Long conversations and shared prefixes (optional: added after 0.1.0).
OPTIONAL = OPTIONAL | frozenset({"llm_session_n_reused", "llm_session_n_shifts", "llm_context_kv_bytes",
                                 "llm_context_clear_prefixes"})

#: Memory known in advance (optional: added after 0.1.0).
OPTIONAL = OPTIONAL | frozenset({"llm_model_estimate_memory"})

#: Saved sessions (optional: added after 0.1.0).
OPTIONAL = OPTIONAL | frozenset({"llm_session_save", "llm_session_save_file", "llm_session_load",
                                 "llm_session_load_file"})

#: Embeddings and scores (also optional: added after 0.1.0).
OPTIONAL = OPTIONAL | frozenset({"llm_session_embed", "llm_session_embed_text", "llm_session_score",
                                 "llm_session_score_text"})


def _candidates() -> List[str]:
    """Where the library is looked for, in order (see the package docstring)."""
    env = os.environ.get("LIBLLM_LIBRARY")
    if env:
        return [env]  # an explicit choice: no fallback that would hide a mistake
    here = os.path.dirname(os.path.abspath(__file__))
    found: List[str] = []
    for pattern in ("libllm.so.0", "libllm.so", "libllm.so.*", "libllm*.dylib", "llm.dll", "libllm.dll"):
        for p in sorted(glob.glob(os.path.join(here, pattern))):
            if p not in found:
                found.append(p)
    system = ctypes.util.find_library("llm")
    if system:
        found.append(system)
    found.append("libllm.so.0")
    return found


def _load() -> ctypes.CDLL:
    errors: List[str] = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"  {path}: {e}")
    raise ImportError("libllm: cannot load the shared library libllm.so; tried (set LIBLLM_LIBRARY to its "
                      "path, or install it where the system loader finds it):\n" + "\n".join(errors))


def _declare(cdll: ctypes.CDLL) -> None:
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(cdll, name)
        except AttributeError:
            if name in OPTIONAL:
                continue
            raise ImportError(f"libllm: the loaded library {cdll._name} lacks {name}() of llm.h "
                              f"{'.'.join(map(str, BINDING_LIBLLM_VERSION))}") from None
        fn.restype = restype
        fn.argtypes = argtypes


def check_version(number: int, path: str = "libllm") -> None:
    """Raises LibraryVersionError unless a library reporting llm_version_number() == number has the
    major version this binding was written for (the ABI is stable within one major version)."""
    major, minor, patch = number // 10000, number // 100 % 100, number % 100
    want = BINDING_LIBLLM_VERSION
    if major != want[0]:
        raise LibraryVersionError(
            f"libllm version mismatch: the Python binding was written for libllm {want[0]}.{want[1]}.{want[2]} "
            f"(major version {want[0]}), but the loaded library {path} is libllm {major}.{minor}.{patch} "
            f"(major version {major}); install a matching libllm or point LIBLLM_LIBRARY at one")


lib: ctypes.CDLL = _load()
_declare(lib)
#: Path (or loader name) of the loaded library.
library_path: str = lib._name
check_version(lib.llm_version_number(), library_path)


def has(name: str) -> bool:
    """Whether the loaded library exports the function (for the OPTIONAL ones)."""
    return hasattr(lib, name)


def status_str(code: int) -> str:
    """llm_status_str(code)."""
    s: Optional[bytes] = lib.llm_status_str(int(code))
    return s.decode("utf-8", "replace") if s else ""


def last_error(handle: Optional[int]) -> str:
    """llm_last_error(handle) as str."""
    s: Optional[bytes] = lib.llm_last_error(handle)
    return s.decode("utf-8", "replace") if s else ""


def _libc_strlen():
    """libc's strlen, usable as an llm_abort_fn (int fn(void *)): it returns non-zero once the
    first byte of the buffer passed as user_data is set. That gives an abort check in C, without
    the GIL, which another thread can trigger by writing one byte (Session.cancel)."""
    if sys.platform.startswith("win"):
        return None
    try:
        libc = ctypes.CDLL(None)
        return ctypes.cast(libc.strlen, ABORT_FN)
    except (OSError, AttributeError):
        return None


ABORT_ON_FLAG: Optional[ctypes._CFuncPtr] = _libc_strlen()  # type: ignore[name-defined]
