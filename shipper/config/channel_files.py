"""How a channel's name becomes the name of its files in the state directory, and which
names cannot.

Pure: no I/O. A channel's backlog is ``spool/<file name>/``, its dead letters
``dead-letter/<file name>.jsonl`` and its replay files
``replay/<file name>.<20 digits>.jsonl``. The mapping is the one released
versions used (data already on disk must keep its place): every character
other than ``A-Z a-z 0-9 . _ -`` becomes ``_`` and leading dots are dropped, so
no name can leave its directory or hide. It folds names together, so two
channels whose names fold to the same file name (``"sec ops"`` and
``"sec_ops"``) would share one backlog and each webhook would get the other's
events: the config refuses them, as it refuses a name too long for its files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Channel names are TOML keys and may hold any character; a file name must not.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")

NAME_MAX = 255  # bytes in one file name (Linux and most file systems)
# The longest file made from a name is a replay file: "<name>.<20 digits>.jsonl".
MAX_FILE_NAME = NAME_MAX - len(".00000000000000000000.jsonl")


def file_name_for(channel: str) -> str:
    """A channel's name made safe to use as a file or directory name."""
    return _UNSAFE.sub("_", channel).lstrip(".") or "_"


def channel_name_problems(names: Iterable[str]) -> list[str]:
    """What is wrong with these channel names as file names, one message per channel."""
    problems = []
    taken: dict[str, str] = {}
    for name in names:
        file_name = file_name_for(name)
        if len(file_name) > MAX_FILE_NAME:
            problems.append(
                f"channels.{name}: the name is {len(name)} characters long; its files "
                f"need at most {MAX_FILE_NAME}: use a shorter name"
            )
            continue
        other = taken.setdefault(file_name, name)
        if other != name:
            problems.append(
                f"channels.{name}: its backlog and dead letters would be the files of channel "
                f'"{other}" (both are stored as "{file_name}": in file names, characters '
                'other than letters, digits, ".", "_" and "-" become "_" and leading dots '
                "are dropped), so each webhook would get the other's events; rename one"
            )
    return problems
