"""Which file a tail may read at its path: symlinks followed only as configured, regular files only.

The log's directory usually belongs to the application writing the log, and
whoever controls it can swap the tailed name for something else between two
polls. ``TailedPath`` decides, on every look, what the tail may open there:

- A symlink given as the path at start is the operator's choice (Kubernetes'
  ``/var/log/containers/*.log`` links into ``/var/log/pods/``): it is resolved
  once, and the file it named is watched in *its* directory from then on
  (rotation included). If the link is later re-pointed, its new target is
  followed only in that same directory (a ``current.log`` moved on to the next
  day's file); a target elsewhere is refused with a warning and the file being
  read stays the one read.
- A symlink that appears at the watched name later (after a rotation, say) is
  followed only to a file in the same directory, one link deep; the file is
  then opened by that name in our directory, never through the link's own
  path components. A symlink to ``/etc/shadow`` is never followed.
- A directory, FIFO, socket or device at the name, or a file we may not read,
  is not an error that ends the run: a warning (once per kind until a file is
  opened again) and a wait until a regular file is there.

Every open is ``O_NOFOLLOW`` (a name swapped for a symlink after it was
checked fails to open, and is looked at again at the next poll) and
``O_NONBLOCK`` (a FIFO cannot hang the open), then ``fstat`` must say regular
file. A look costs one ``lstat`` (plus a ``readlink`` when the path was a
configured symlink): it is made once per poll at the end of the file, never
per line.

Limits: a hard link to another file in the same filesystem is a regular file
like any other (most systems forbid linking files one may not read:
``fs.protected_hardlinks``); a symlink found at the path at start is trusted as
configured, even if someone else put it there while shipper was stopped.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symlink",
}
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW
# The name changed under us (gone, or swapped for a symlink or a socket after the lstat):
# look again at the next poll.
_CHANGED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)


class Refused(Exception):
    """What stands at ``path`` is not a regular file we may read: ``kind`` names the case
    in a few words (warnings are given once per kind), ``what`` says it of ``path``."""

    def __init__(self, kind: str, path: str, what: str) -> None:
        super().__init__(f"{path} {what}")
        self.kind = kind
        self.path = path
        self.what = what


@dataclass(frozen=True)
class _Found:
    path: str  # to open with O_NOFOLLOW: the name itself, or the link's target in our directory
    st: os.stat_result


class TailedPath:
    """The configured ``path`` and the file a tail may read there now (see the module)."""

    def __init__(self, path: Path) -> None:
        self.configured = path
        self._link = _read_link(path)
        # Absolute, so that a relative path's directory compares with a link's target.
        if self._link is not None:
            self.watched = Path(os.path.realpath(path))
            log.info("%s: a symlink to %s; reading that file", path, self.watched)
        else:
            self.watched = Path(os.path.abspath(path))
        self._directories = self._directories_of(self.watched)
        self._warned: set[str] = set()

    @property
    def directory(self) -> Path:
        """Where the watched file lives, and where its rotated copies are looked for."""
        return self.watched.parent

    def look(self) -> os.stat_result | None:
        """The regular file there now (``lstat``), or ``None``: missing, or refused (warned)."""
        try:
            found = self._find()
        except Refused as refused:
            self._warn(refused)
            return None
        return found.st if found is not None else None

    def open(self) -> tuple[int, os.stat_result] | None:
        """Open the regular file there now; ``None`` if missing or refused (warned)."""
        try:
            found = self._find()
            opened = None if found is None else open_regular(found.path)
        except Refused as refused:
            self._warn(refused)
            return None
        if opened is not None and self._warned:
            log.info("%s: a regular file again; reading it", self.configured)
            self._warned.clear()
        return opened

    @property
    def is_refused(self) -> bool:
        """Whether the last look found something it would not read (and said so)."""
        return bool(self._warned)

    def _find(self) -> _Found | None:
        if self._link is not None:
            self._follow_repointed_link()
        where = str(self.watched)
        try:
            st = os.lstat(where)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except PermissionError as exc:
            raise Refused("permission", where, f"cannot be looked at ({exc.strerror})") from None
        if stat.S_ISLNK(st.st_mode):
            where = self._link_target(where)
            try:
                st = os.lstat(where)
            except (FileNotFoundError, NotADirectoryError):
                return None  # a dangling link: as good as missing
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(where, st)
        return _Found(where, st)

    def _link_target(self, where: str) -> str:
        """The file in our directory a symlink at ``where`` names; ``Refused`` if elsewhere."""
        try:
            text = os.readlink(where)
        except OSError:
            return where  # no longer a link: the lstat that follows says what it is
        target = os.path.normpath(os.path.join(self.directory, text))
        if os.path.dirname(target) not in self._directories:
            raise Refused(
                "outside symlink",
                where,
                f"is now a symlink to {text!r}, outside its directory: not followed",
            )
        # By its name in our directory: the link's own path components are not trusted.
        return os.path.join(self.directory, os.path.basename(target))

    def _follow_repointed_link(self) -> None:
        """A configured symlink re-pointed within the watched file's directory is followed;
        re-pointed elsewhere, it is not (said once until a file is opened again)."""
        text = _read_link(self.configured)
        if text is None or text == self._link:
            return  # gone or replaced by a file: we go on reading what it named
        self._link = text
        target = Path(os.path.realpath(self.configured))
        if str(target.parent) in self._directories:
            log.info("%s: the symlink now points to %s; following it", self.configured, target)
            self.watched = target
            return
        if "outside symlink" not in self._warned:
            self._warned.add("outside symlink")
            log.warning(
                "%s: the symlink now points to %r, outside %s: not followed; still reading %s",
                self.configured,
                text,
                self.directory,
                self.watched,
            )

    def _warn(self, refused: Refused) -> None:
        if refused.kind in self._warned:
            return
        self._warned.add(refused.kind)
        is_ours = refused.path == os.path.abspath(self.configured)  # else name what was found
        what = refused.what if is_ours else str(refused)
        log.warning("%s: %s; waiting for a regular file to read there", self.configured, what)

    @staticmethod
    def _directories_of(path: Path) -> frozenset[str]:
        """The directory of ``path`` as written and as resolved: a symlink's target may name
        it either way."""
        parent = os.path.normpath(path.parent)
        return frozenset((parent, os.path.realpath(parent)))


def open_regular(path: str) -> tuple[int, os.stat_result] | None:
    """Open ``path`` for reading if it is a regular file and not a symlink.

    ``None`` if it is gone or changed since it was looked at; ``Refused`` if it
    is something else or may not be read.
    """
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except PermissionError as exc:
        raise Refused("permission", path, f"cannot be read ({exc.strerror})") from None
    except OSError as exc:
        if exc.errno in _CHANGED:
            return None
        if exc.errno == errno.ENXIO:  # a socket
            raise Refused("a socket", path, "is a socket, not a regular file") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise _not_regular(path, st)
    return fd, st


def _not_regular(path: str, st: os.stat_result) -> Refused:
    kind = _KINDS.get(stat.S_IFMT(st.st_mode), "something else")
    return Refused(kind, path, f"is {kind}, not a regular file")


def _read_link(path: Path) -> str | None:
    """The text of the symlink at ``path``; ``None`` if it is not one (or is missing)."""
    try:
        return os.readlink(path)
    except OSError:
        return None
