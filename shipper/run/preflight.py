"""What ``shipper check`` can tell about a run's start without starting it: the state
directory and the tailed file's directory, looked at and never created or written.

A run refuses a state directory that is not a directory, is another user's, is
writable by group or others, or holds a link where shipper keeps a file
(``spool.state``); it creates a missing one, with its parents. ``state_dir_problem``
says in advance what such a start would say; a missing one is fine if its nearest
existing parent lets this user create it. ``source_path_problem`` catches the typo
that would otherwise only show as a run waiting forever for a file: a ``path``
whose directory does not exist. Both describe this user on this machine: ``check``
shows them as warnings, since a config is often checked elsewhere (CI, another user)
than where it runs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shipper.errors import StateError
from shipper.spool.state import StateDir


def state_dir_problem(root: Path) -> str | None:
    """Why ``shipper run`` as this user would refuse ``root`` as its state directory."""
    if os.path.lexists(root):
        if not os.path.exists(root):
            return f"source.state_dir: {root} is a symbolic link to nothing"
        try:
            StateDir(root).check()  # the directory exists: check() creates nothing
        except StateError as exc:
            return f"source.state_dir: {exc}"
        if not os.access(root, os.W_OK | os.X_OK):
            return f"source.state_dir: {root} is not writable by this user"
        return None
    parent = _nearest_existing(root)
    if parent is None or not stat.S_ISDIR(os.stat(parent).st_mode):
        return f"source.state_dir: {root} cannot be created: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return (
            f"source.state_dir: {root} does not exist and this user may not create it in "
            f"{parent}; create it (mode 0700, owned by the user shipper runs as) or pick "
            "another directory"
        )
    return None


def source_path_problem(path: str | None) -> str | None:
    """A tailed ``path`` whose directory does not exist: likely a typo, as the file
    cannot appear there without someone creating the directory first."""
    if path is None:
        return None
    directory = Path(path).expanduser().absolute().parent
    if directory.is_dir():
        return None
    return (
        f"source.path: the directory {directory} does not exist, so {Path(path).name} "
        "cannot appear there until the directory is made; is the path mistyped?"
    )


def _nearest_existing(path: Path) -> Path | None:
    for parent in path.absolute().parents:
        if os.path.exists(parent):
            return parent
    return None
