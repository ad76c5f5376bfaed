"""libllm: Python binding of the libllm GGUF language-model runtime (pure Python over ctypes).

    import libllm
    with libllm.Model("gemma-3-270m.gguf") as model:
        s = model.session(temperature=0)
        print(s.generate("The capital of France is", max_tokens=8))
        for piece in s.generate(" And of Italy?", max_tokens=8, stream=True):
            print(piece, end="", flush=True)
        print(model.create_completion("Once upon a time", max_tokens=16)["choices"][0]["text"])

The shared library is found through the LIBLLM_LIBRARY environment variable, then a copy beside
this package (libllm/libllm.so*), then the system loader (libllm.so.0). On import its version is
checked against the one this binding was written for (same major version).

Threading: a Model is shared freely; each Session owns its own llm_context, so different sessions
run on different threads at once (each session one thread at a time). Model.create_completion
and create_chat_completion use a session per call and are safe to call from several threads.
"""
from __future__ import annotations

import ctypes
from typing import Any, Dict, List

from . import _ffi
from ._ffi import Backend, Finish, LogLevel, Option, Status
from ._ffi import Pooling
from .errors import (AbortedError, BackendError, BufferTooSmallError, ContextFullError, FormatError, InternalError,
                     InvalidArgumentError, InvalidUtf8Error, LibraryVersionError, LimitError, LlmError, LlmIOError,
                     NotFoundError, OutOfMemoryError, StateError, TypeMismatchError, UnsupportedError)
from .grammar import json_schema_to_grammar, validate_grammar
from .model import Model, Options
from .model import estimate_memory
from .session import Session, Step, step_batch
from . import tools

__version__ = "0.1.0"

#: Where the shared library was loaded from.
library_path: str = _ffi.library_path


def library_version() -> str:
    """llm_version() of the loaded library, e.g. "0.1.0"."""
    return _ffi.lib.llm_version().decode()


def library_version_number() -> int:
    """llm_version_number() of the loaded library (MAJOR*10000 + MINOR*100 + PATCH)."""
    return int(_ffi.lib.llm_version_number())


def quantize(src: str, dst: str, type: str) -> None:
    """llm_quantize: writes a copy of the GGUF model ``src`` to ``dst`` with its weight matrices
    converted to ``type`` ("Q4_K_M", "Q8_0", "F16", ...). Raises LlmError on failure."""
    from ._util import check, fspath
    from .errors import error_for
    if not _ffi.has("llm_quantize"):
        raise error_for(Status.UNSUPPORTED, "the loaded libllm has no llm_quantize")
    opts = _ffi.lib.llm_options_new()
    try:
        check(_ffi.lib.llm_quantize(fspath(src), fspath(dst), type.encode(), opts), opts)
    finally:
        _ffi.lib.llm_options_free(opts)


def _backend_text(fn: Any, *args: Any) -> str:
    """A string out-parameter of a backend call (buffer, capacity, *needed), grown once."""
    need = ctypes.c_size_t(0)
    buf = ctypes.create_string_buffer(256)
    st = fn(*args, buf, len(buf), ctypes.byref(need))
    if st == Status.BUFFER_TOO_SMALL:
        buf = ctypes.create_string_buffer(need.value + 1)
        st = fn(*args, buf, len(buf), ctypes.byref(need))
    return buf.value.decode("utf-8", "replace") if st == Status.OK else ""


def backends() -> List[Dict[str, Any]]:
    """The backends this process can see: for each (CPU, CUDA) its name, whether contexts can
    run on it, a description (where its plugin was loaded from, or why it is not available) and
    its devices (name, total and free memory in bytes). The CUDA plugin is searched once per
    process (LLM_BACKEND_PATH, else next to libllm.so)."""
    if not _ffi.has("llm_backend_name"):
        return [{"backend": Backend.CPU, "name": "cpu", "available": True, "description": "", "devices": []}]
    out: List[Dict[str, Any]] = []
    for b in (Backend.CPU, Backend.CUDA):
        devices = []
        for d in range(int(_ffi.lib.llm_backend_device_count(int(b)))):
            total, free = ctypes.c_uint64(0), ctypes.c_uint64(0)
            _ffi.lib.llm_backend_device_memory(int(b), d, ctypes.byref(total), ctypes.byref(free))
            devices.append({"name": _backend_text(_ffi.lib.llm_backend_device_name, int(b), d),
                            "total_bytes": total.value, "free_bytes": free.value})
        out.append({"backend": b, "name": (_ffi.lib.llm_backend_name(int(b)) or b"").decode(),
                    "available": bool(_ffi.lib.llm_backend_available(int(b))),
                    "description": _backend_text(_ffi.lib.llm_backend_describe, int(b)), "devices": devices})
    return out


def status_str(status: int) -> str:
    """llm_status_str: the static description of a status code."""
    return _ffi.status_str(status)


__all__ = [
    "Model", "Session", "Step", "Options", "Finish", "Option", "Status", "Backend", "LogLevel",
    "LlmError", "InvalidArgumentError", "OutOfMemoryError", "LlmIOError", "FormatError", "UnsupportedError",
    "AbortedError", "ContextFullError", "InvalidUtf8Error", "NotFoundError", "BufferTooSmallError",
    "TypeMismatchError", "LimitError", "BackendError", "StateError", "InternalError", "LibraryVersionError",
    "library_path", "library_version", "library_version_number", "status_str", "quantize", "backends",
    "step_batch", "json_schema_to_grammar", "validate_grammar", "tools",
    "__version__",
]
__all__ += ["Pooling"]
__all__ += ["estimate_memory"]
