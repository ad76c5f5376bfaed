"""Ownership of the C handles, kept apart from the user-facing objects so that finalizers hold no
reference to them (a weakref.finalize callback must not keep its object alive).

A _ModelHandle owns an llm_model and knows its live _SessionHandles; freeing the model first
frees them (llm.h: all contexts must be freed before their model). A _SessionHandle owns one
llm_session and its llm_context: alone, or shared with the other sessions created with
``share_context`` (for batched decode), in which case the last of them to go frees it. Each handle has a lock held around every C call
that uses it, so that freeing (from a finalizer, model.close() or interpreter exit) waits for a
call in progress on another thread instead of pulling memory from under it.
"""
from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any, List, Optional

from . import _ffi
from .errors import closed_error


class _ModelHandle:
    __slots__ = ("ptr", "lock", "sessions", "keepalive", "__weakref__")

    def __init__(self, ptr: int, keepalive: List[Any]) -> None:
        self.ptr: Optional[int] = ptr
        self.lock = threading.RLock()
        self.sessions: "weakref.WeakSet[_SessionHandle]" = weakref.WeakSet()
        self.keepalive = keepalive  # ctypes callbacks the library may still call (log)

    def get(self) -> int:
        ptr = self.ptr
        if not ptr:
            raise closed_error("model")
        return ptr

    def free(self) -> None:
        with self.lock:
            for s in list(self.sessions):
                s.free()
            if self.ptr:
                _ffi.lib.llm_model_free(self.ptr)
                self.ptr = None
            self.keepalive = []


class _SessionHandle:
    __slots__ = ("session", "context", "model", "lock", "abort_flag", "abort_fn", "sharers", "__weakref__")

    def __init__(self, model: _ModelHandle) -> None:
        self.session: Optional[int] = None
        self.context: Optional[int] = None
        self.model = model  # keeps the model's handle (not the Model object) reachable
        self.lock = threading.RLock()
        # First byte non-zero = abort: read by the C abort check, written by Session.cancel().
        self.abort_flag = ctypes.create_string_buffer(2)
        self.abort_fn: Any = None  # the ctypes callback currently installed (kept alive here)
        # The handles sharing this context (one list object for all of them; None: not shared).
        # A context must outlive its sessions, so only the last handle frees it.
        self.sharers: Optional[List["_SessionHandle"]] = None

    def get(self) -> int:
        ptr = self.session
        if not ptr:
            raise closed_error("session")
        return ptr

    def free(self) -> None:
        with self.lock:
            if self.session:
                _ffi.lib.llm_session_free(self.session)
                self.session = None
            if self.context:
                if self.sharers is not None and self in self.sharers:
                    self.sharers.remove(self)
                if not self.sharers:  # alone, or the last of those sharing it
                    _ffi.lib.llm_context_free(self.context)
                self.context = None
            self.abort_fn = None
        self.model.sessions.discard(self)
