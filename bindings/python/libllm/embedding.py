"""OpenAI-style embeddings on a Model (the shape of the OpenAI Python client's
``CreateEmbeddingResponse``, as a plain dict): ``Model.create_embedding``. Each call takes a
session of its own from the model's small pool, so calls from several threads run concurrently."""
from __future__ import annotations

import array
import base64
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union, TYPE_CHECKING

from .session import _pooling

if TYPE_CHECKING:
    from .model import Model

EmbeddingInput = Union[str, Sequence[str], Sequence[int], Sequence[Sequence[int]]]

#: Request fields accepted and ignored (OpenAI clients send some of them).
_IGNORED = {"model", "user", "timeout", "extra_headers", "extra_body"}


def _inputs(model: "Model", input: Any) -> List[List[int]]:
    """The request's input as token lists: a string, a list of strings, a list of token ids or a
    list of lists of token ids (OpenAI's four forms). ValueError for anything else."""
    def one_text(t: str) -> List[int]:
        ids = model.tokenize(t, add_bos=True)
        if not ids:
            raise ValueError("input: an empty string has no tokens to embed")
        return ids

    def one_ids(ids: Sequence[Any]) -> List[int]:
        if not ids:
            raise ValueError("input: an empty list of token ids")
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
            raise ValueError("input: token ids must be integers")
        n_vocab = model.n_vocab
        bad = [t for t in ids if not 0 <= t < n_vocab]
        if bad:
            raise ValueError(f"input: token id {bad[0]} is outside the vocabulary [0, {n_vocab})")
        return list(ids)

    if isinstance(input, str):
        return [one_text(input)]
    if not isinstance(input, (list, tuple)) or not input:
        raise ValueError("input must be a string, a list of strings, a list of token ids or a list of lists "
                         "of token ids (not empty)")
    if all(isinstance(x, str) for x in input):
        return [one_text(x) for x in input]
    if all(isinstance(x, int) and not isinstance(x, bool) for x in input):
        return [one_ids(input)]
    if all(isinstance(x, (list, tuple)) for x in input):
        return [one_ids(x) for x in input]
    raise ValueError("input must be a string, a list of strings, a list of token ids or a list of lists of "
                     "token ids (not a mix)")


def _encode(vec: List[float], encoding_format: str) -> Union[List[float], str]:
    if encoding_format == "float":
        return vec
    # OpenAI's base64: the little-endian float32 bytes
    a = array.array("f", vec)
    if sys.byteorder != "little":
        a.byteswap()
    return base64.b64encode(a.tobytes()).decode("ascii")


def create_embedding(model: "Model", input: EmbeddingInput, *, pooling: Union[str, int] = "mean",
                     normalize: bool = True, encoding_format: Optional[str] = "float",
                     dimensions: Optional[int] = None, n_ctx: Optional[int] = None,
                     unsupported: Mapping[str, Any] = {}) -> Dict[str, Any]:
    """See Model.create_embedding."""
    for key in unsupported:
        if key not in _IGNORED:
            raise TypeError(f"unsupported embedding argument {key!r}")
    if dimensions is not None and dimensions != model.n_embd:
        raise ValueError(f"dimensions: only the model's own {model.n_embd} are supported (no truncation)")
    fmt = encoding_format or "float"
    if fmt not in ("float", "base64"):
        raise ValueError(f"encoding_format must be 'float' or 'base64', not {encoding_format!r}")
    p = _pooling(pooling)
    token_lists = _inputs(model, input)
    data: List[Dict[str, Any]] = []
    session = model._acquire_session(n_ctx)
    try:
        for i, ids in enumerate(token_lists):
            vec = session.embed(ids, pooling=p, normalize=normalize)
            data.append({"object": "embedding", "index": i, "embedding": _encode(vec, fmt)})
    finally:
        model._release_session(session)
    n = sum(len(ids) for ids in token_lists)
    return {"object": "list", "data": data, "model": model.model_id,
            "usage": {"prompt_tokens": n, "total_tokens": n}}
