"""Small helpers shared by the modules: status checks, out-buffer retries, text encoding."""
from __future__ import annotations

import ctypes
import os
from typing import Callable, Optional, Union

from . import _ffi
from .errors import error_for

TextLike = Union[str, bytes, bytearray, memoryview]


def check(status: int, handle: Optional[int]) -> None:
    """Raises the LlmError subclass of a non-OK status, with llm_last_error(handle) as message."""
    if status != 0:
        raise error_for(status, _ffi.last_error(handle))


def encode(text: TextLike) -> bytes:
    """str → UTF-8 bytes. Lone surrogates are passed through as the (invalid) bytes they stand for,
    so that the library reports LLM_ERR_INVALID_UTF8 like it does for invalid bytes."""
    if isinstance(text, str):
        return text.encode("utf-8", "surrogatepass")
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    raise TypeError(f"expected str or bytes, got {type(text).__name__}")


def fspath(path: Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]) -> bytes:
    """A path as bytes for the C API (os.fsencode)."""
    return os.fsencode(path)


def read_string(call: Callable[[Optional[ctypes.Array], int, "ctypes._Pointer"], int],
                handle: Optional[int], initial: int = 256) -> bytes:
    """Runs a call of the (buffer, capacity, needed) shape, growing the buffer when the library
    answers LLM_ERR_BUFFER_TOO_SMALL; returns the bytes written (without the NUL)."""
    needed = ctypes.c_size_t(0)
    cap = max(initial, 1)
    for _ in range(4):
        buf = ctypes.create_string_buffer(cap)
        st = call(buf, cap, ctypes.byref(needed))
        if st == _ffi.Status.BUFFER_TOO_SMALL or (st == 0 and needed.value >= cap):
            cap = needed.value + 1
            continue
        check(st, handle)
        return buf.raw[:needed.value]
    raise error_for(_ffi.Status.BUFFER_TOO_SMALL, "the needed size kept changing")
