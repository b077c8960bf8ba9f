"""Hostile JSON values made storable: the lenient parse and the depth-bounded copy.

Pure. What orjson refuses but JSON producers write (lone surrogate escapes such as
``"\ud800"``, ``NaN`` / ``Infinity``) is parsed again with the ``json`` module, and
the odd values are made visible text (``<U+D800>``, ``"NaN"``) that orjson can write
back, never a silent ``null``. ``storable`` copies a value without recursion, cutting
containers nested deeper than a limit into ``DEEP_MARKER``; both are linear in the
value's size.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

# Deeper containers are cut: far below orjson's 254 levels for writing, with room
# for the envelopes around an event (spool record, dead letter, dry-run line), and
# far above what audit events nest.
MAX_DEPTH = 64
DEEP_MARKER = f"<cut: nested deeper than {MAX_DEPTH} levels>"

_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_RANGE = range(-(2**63), 2**64)  # what orjson writes


def loads_leniently(text: str) -> Any:
    """What ``json`` reads in a line orjson refused, made writable by orjson; ``None`` if
    it is not JSON either. Linear: the C scanner, ints kept short, no recursion of ours."""
    try:
        obj = json.loads(text, parse_constant=str, parse_float=_float, parse_int=_int)
    except (ValueError, RecursionError):
        return None
    return storable(obj)


def _float(text: str) -> float | str:
    value = float(text)
    return value if math.isfinite(value) else text  # 1e400: as written, not "inf" or null


def _int(text: str) -> int | str:
    # Long digit strings stay text: no quadratic int(), and orjson writes only 64 bits.
    if len(text) <= 20 and (value := int(text)) in _INT_RANGE:
        return value
    return text


def storable(value: Any, max_depth: int | None = None) -> Any:
    """A copy of a JSON value that orjson can write: containers nested deeper than
    ``max_depth`` (the value itself is level 1) become ``DEEP_MARKER``; lone surrogates
    become ``<U+D800>``; numbers orjson cannot write (NaN, infinities, past 64 bits)
    become text. Iterative, linear in the value's size."""
    root: list[Any] = [None]
    # Containers still to copy: (container, where to put its copy, key or index, level).
    # Scalars are copied in place: the fewer objects made, the less the collector walks.
    todo: list[tuple[Any, Any, Any, int]] = []
    _copy_into(root, 0, value, 1, max_depth, todo)
    while todo:
        item, target, slot, depth = todo.pop()
        if type(item) is dict or isinstance(item, Mapping):
            copy: dict[str, Any] = {}
            target[slot] = copy
            for key, child in item.items():
                _copy_into(copy, _scalar(key), child, depth + 1, max_depth, todo)
        else:
            items = [None] * len(item)
            target[slot] = items
            for i, child in enumerate(item):
                _copy_into(items, i, child, depth + 1, max_depth, todo)
    return root[0]


def _copy_into(
    target: Any,
    slot: Any,
    value: Any,
    depth: int,
    max_depth: int | None,
    todo: list[tuple[Any, Any, Any, int]],
) -> None:
    if type(value) is dict or type(value) is list or isinstance(value, Mapping | list | tuple):
        if max_depth is not None and depth > max_depth:
            target[slot] = DEEP_MARKER
        else:
            target[slot] = None  # holds the key's place, in order
            todo.append((value, target, slot, depth))
    else:
        target[slot] = _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            return _SURROGATE.sub(lambda m: f"<U+{ord(m.group()):04X}>", value)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and value not in _INT_RANGE:
        try:
            return str(value)
        except ValueError:  # past Python's digit limit for int -> str
            return f"<integer of {value.bit_length()} bits>"
    return value
