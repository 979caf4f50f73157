"""What Prometheus' alert templates print, for the few forms the rules use — so a test
can say which summary and description an alert must carry."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping


def go_value(v: float) -> str:
    """``{{ $value }}``: Go's shortest ``%v`` of a float64 (the values tests use)."""
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return repr(v)


def humanize(v: float) -> str:
    if v == 0:
        return f"{v:.4g}"
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P"):
            if abs(v) < 1000:
                break
            prefix, v = p, v / 1000
    else:
        for p in ("m", "u", "n", "p", "f"):
            if abs(v) >= 1:
                break
            prefix, v = p, v * 1000
    return f"{v:.4g}{prefix}"


def humanize_duration(v: float) -> str:
    if v == 0:
        return f"{v:.4g}s"
    if abs(v) >= 1:
        sign, v = ("-", -v) if v < 0 else ("", v)
        whole = int(v)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{v:.4g}s"
    prefix = ""
    for p in ("m", "u", "n", "p"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{v:.4g}{prefix}s"


FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizeDuration": humanize_duration,
    "humanizePercentage": lambda v: f"{v * 100:.4g}%",
}


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    def one(match: re.Match[str]) -> str:
        action = match.group(1).strip()
        if action.startswith("$labels."):
            return labels.get(action.removeprefix("$labels."), "")
        if action == "$value":
            return go_value(value)
        if action == 'printf "%.0f" $value':
            return f"{value:.0f}"
        head, _, function = action.partition("|")
        if head.strip() == "$value" and function.strip() in FUNCTIONS:
            return FUNCTIONS[function.strip()](value)
        raise ValueError(f"no expansion for {{{{ {action} }}}}")

    return re.sub(r"{{(.*?)}}", one, template)
