"""The JSON text of every frame chatcore writes: compact, UTF-8 (only control characters are
escaped), and with values encoded earlier placed as they are.

:func:`dumps` runs the standard library's C encoder, made once: ``JSONEncoder.encode`` makes
a new one, and a closure, for each call, which for a small frame costs as much as the encoding
itself. The encoder it uses is checked against ``JSONEncoder.encode`` on import; where the C
encoder is missing or different, :func:`dumps` is ``JSONEncoder.encode``.

:class:`RawJSON` is a value already encoded (a page of messages a reconnect wave asks for
again and again): :func:`dumps_with_raw` places its text where the value goes, without
decoding and encoding it again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ("RawJSON", "dumps", "dumps_with_raw")

_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _made_once() -> Callable[[Any], str]:
    """:meth:`_encoder.encode`, with one C encoder for every call where it is the same."""
    make = getattr(json.encoder, "c_make_encoder", None)
    strings = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or strings is None:
        return _encoder.encode
    try:
        # (markers: none, as check_circular=False; default; strings; indent; separators;
        # sort_keys; skipkeys; allow_nan: JSONEncoder's own order)
        encode = make(None, _encoder.default, strings, None, ":", ",", False, False, True)

        def dumps(value: Any) -> str:
            return "".join(encode(value, 0))

        probe = {"a": [1, 2.5, None, True, "é\x00\ud800", {"b": -0.0}], "c": "x"}
        if dumps(probe) == _encoder.encode(probe) and dumps("é") == _encoder.encode("é"):
            return dumps
    except Exception:
        pass
    return _encoder.encode


#: The JSON text of ``value`` (``JSONEncoder.encode`` with chatcore's settings).
dumps: Callable[[Any], str] = _made_once()


@attrs.frozen
class RawJSON:
    """JSON text placed as it is where a value goes in :func:`dumps_with_raw`."""

    text: str


# A string no frame holds (it carries a secret of this process): it marks where raw text goes.
_MARK = f"\x00raw-{secrets.token_hex(8)}\x00"
_MARKED = dumps(_MARK)


def dumps_with_raw(wire: dict[str, Any]) -> str:
    """:func:`dumps` of ``wire``, whose values at its top level may be :class:`RawJSON`."""
    raw = [value.text for value in wire.values() if type(value) is RawJSON]
    if not raw:
        return dumps(wire)
    marked = {key: _MARK if type(value) is RawJSON else value for key, value in wire.items()}
    parts = dumps(marked).split(_MARKED)
    text = [parts[0]]
    for value, part in zip(raw, parts[1:], strict=True):
        text += (value, part)
    return "".join(text)
