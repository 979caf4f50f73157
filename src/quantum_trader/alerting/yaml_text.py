"""Plain data as YAML text, written the same way every time: keys in the order given,
every string double-quoted (a JSON string is a YAML double-quoted scalar), multi-line
strings as literal blocks, a string with double quotes in it (PromQL) single-quoted.
Enough for configuration files, and nothing to install."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def dump(value: Mapping[str, Any], comment: str = "") -> str:
    head = "".join(f"# {line}\n".replace("# \n", "#\n") for line in comment.splitlines())
    return head + "".join(_lines(value, 0))


def _key(key: str) -> str:
    return key if PLAIN_KEY.fullmatch(key) else json.dumps(key)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if '"' in text and text.isprintable():  # a PromQL expression reads better 'single-quoted'
        return "'" + text.replace("'", "''") + "'"
    return json.dumps(text, ensure_ascii=False)


def _empty(value: Any) -> str | None:
    if isinstance(value, Mapping) and not value:
        return "{}"
    if isinstance(value, list | tuple) and not value:
        return "[]"
    return None


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            out += _entry(f"{pad}{_key(str(key))}:", item, indent)
        return out
    if isinstance(value, Sequence) and not isinstance(value, str):
        for item in value:
            if isinstance(item, Mapping) and item:
                inner = _lines(item, indent + 2)
                out.append(f"{pad}- {inner[0].lstrip()}")
                out += inner[1:]
            else:
                out += _entry(f"{pad}-", item, indent)
        return out
    return [f"{pad}{_scalar(value)}\n"]


def _entry(head: str, item: Any, indent: int) -> list[str]:
    empty = _empty(item)
    if empty is not None:
        return [f"{head} {empty}\n"]
    if isinstance(item, Mapping):
        return [f"{head}\n", *_lines(item, indent + 2)]
    if isinstance(item, Sequence) and not isinstance(item, str):
        return [f"{head}\n", *_lines(item, indent + 2)]
    if isinstance(item, str) and "\n" in item:
        body = "".join(
            f"{' ' * (indent + 2)}{line}\n" if line else "\n" for line in item.split("\n")
        )
        return [f"{head} |-\n", body]
    return [f"{head} {_scalar(item)}\n"]
