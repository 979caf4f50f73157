"""Encode and decode messages; every failure becomes a ``DecodeError`` with a precise reason."""

from __future__ import annotations

import msgspec

from quantum_trader.bus.schemas import MESSAGE_TYPES, Envelope, Message

_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder: msgspec.json.Decoder[Message] = msgspec.json.Decoder(Message)
_tag_of = {cls: cls.__struct_config__.tag for cls in MESSAGE_TYPES}


class DecodeError(ValueError):
    """A payload that is not a valid message; ``reason`` is what a dead letter records."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def encode(message: Envelope) -> bytes:
    return _encoder.encode(message)


def decode(
    raw: bytes | str, *, max_bytes: int = 65_536, expect: tuple[type[Envelope], ...] | None = None
) -> Message:
    """Decode one wire payload, optionally insisting on the kinds a stream may carry."""
    size = len(raw)
    if size > max_bytes:
        raise DecodeError(f"oversize: {size} bytes > limit {max_bytes}")
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"invalid: {exc}") from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"not JSON: {exc}") from None
    if expect is not None and not isinstance(message, expect):
        allowed = ", ".join(str(_tag_of[t]) for t in expect)
        raise DecodeError(f"wrong type: {_tag_of[type(message)]!r} on a stream of {allowed}")
    return message


def type_tag(message: Envelope) -> str:
    return str(_tag_of[type(message)])
