"""The revision the running app was started from, and the file that says it.

The app's health gate must prove that the deployed commit is what serves.
Streamlit's ``/_stcore/health`` answers ``ok`` and nothing else, and its page is
drawn by JavaScript, so ``serve.py`` writes ``static/revision.txt`` when the process
starts, after the app passed its self-check, and Streamlit's static file serving
answers it at ``/app/static/revision.txt``.
"""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

REVISION_FILE = Path("static") / "revision.txt"
"""Where the record is written, relative to the app's directory."""

_SHA = re.compile(r"^[0-9a-f]{40}$")


class RevisionError(Exception):
    """The checkout's revision cannot be read."""


def _git_dir(root: Path) -> Path:
    dot_git = root / ".git"
    if dot_git.is_file():
        # A worktree or submodule: ".git" holds "gitdir: <path>".
        text = dot_git.read_text("utf-8").strip()
        if not text.startswith("gitdir:"):
            raise RevisionError(f"{dot_git} is not a git link file")
        target = Path(text[len("gitdir:") :].strip())
        return target if target.is_absolute() else (root / target).resolve()
    if dot_git.is_dir():
        return dot_git
    raise RevisionError(f"{root} is not a git checkout (no .git): deploy it with git")


def _common_dir(git_dir: Path) -> Path:
    common = git_dir / "commondir"
    if common.is_file():
        target = Path(common.read_text("utf-8").strip())
        return target if target.is_absolute() else (git_dir / target).resolve()
    return git_dir


def checkout_revision(root: Path) -> str:
    """Reads the commit checked out in ``root`` from ``.git``, without running git.

    Args:
        root: The checkout's top directory.

    Returns:
        The 40-hex SHA of ``HEAD``.

    Raises:
        RevisionError: No checkout, or ``HEAD`` names no commit.
    """
    git_dir = _git_dir(root)
    try:
        head = (git_dir / "HEAD").read_text("utf-8").strip()
    except OSError as e:
        raise RevisionError(f"cannot read {git_dir / 'HEAD'}: {e}") from e
    if not head.startswith("ref:"):
        sha = head.lower()
    else:
        ref = head[len("ref:") :].strip()
        sha = _resolve_ref(git_dir, ref)
    if not _SHA.match(sha):
        raise RevisionError(f"HEAD of {root} is not a commit: {sha[:60]!r}")
    return sha


def _resolve_ref(git_dir: Path, ref: str) -> str:
    for base in (git_dir, _common_dir(git_dir)):
        loose = base / ref
        if loose.is_file():
            return loose.read_text("utf-8").strip().lower()
    packed = _common_dir(git_dir) / "packed-refs"
    if packed.is_file():
        for line in packed.read_text("utf-8").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] == ref:
                return parts[0].lower()
    raise RevisionError(f"{ref} names no commit (an empty repository?)")


@dataclass(frozen=True)
class Revision:
    """What ``static/revision.txt`` says.

    Attributes:
        sha: The commit the process was started from.
        started: When it started, UTC, ISO 8601.
        pid: The process that serves (the Streamlit server).
        host: The host name (in docker, the container's id).
    """

    sha: str
    started: str
    pid: int
    host: str

    def render(self) -> str:
        """Formats the record: the app's name first (the hourly check looks for it).

        Returns:
            The file's text.
        """
        return (
            "Mangetamain\n"
            f"revision: {self.sha}\n"
            f"started: {self.started}\n"
            f"pid: {self.pid}\n"
            f"host: {self.host}\n"
        )

    @staticmethod
    def parse(text: str) -> Revision:
        """Reads a record written by :meth:`render`.

        Args:
            text: The file's text.

        Returns:
            The record.

        Raises:
            RevisionError: A field is missing or malformed.
        """
        fields = {}
        for line in text.splitlines()[1:]:
            key, sep, value = line.partition(":")
            if sep:
                fields[key.strip()] = value.strip()
        try:
            return Revision(
                sha=fields["revision"],
                started=fields["started"],
                pid=int(fields["pid"]),
                host=fields["host"],
            )
        except (KeyError, ValueError) as e:
            raise RevisionError(f"malformed revision record ({e})") from e


def now_utc() -> str:
    """The current time, UTC, to the second.

    Returns:
        Like ``2026-12-01T08:52:45Z``.
    """
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_revision(sha: str, pid: int) -> Revision:
    """A record for a process started now on this host.

    Args:
        sha: The commit.
        pid: The serving process.

    Returns:
        The record.
    """
    return Revision(sha=sha, started=now_utc(), pid=pid, host=socket.gethostname())


def write_revision(root: Path, revision: Revision) -> Path:
    """Writes the record atomically (temporary file, fsync, rename).

    Args:
        root: The app's directory.
        revision: The record.

    Returns:
        The path written.
    """
    path = root / REVISION_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(revision.render())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def read_revision(root: Path) -> Revision | None:
    """Reads the record, if there is one.

    Args:
        root: The app's directory.

    Returns:
        The record, or None when the file is absent or malformed.
    """
    try:
        return Revision.parse((root / REVISION_FILE).read_text("utf-8"))
    except (OSError, RevisionError):
        return None


def remove_revision(root: Path, pid: int | None = None) -> bool:
    """Removes the record, only the one of ``pid`` when given.

    Args:
        root: The app's directory.
        pid: Remove it only if this process wrote it.

    Returns:
        Whether a file was removed.
    """
    path = root / REVISION_FILE
    if pid is not None:
        current = read_revision(root)
        if current is None or current.pid != pid:
            return False
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
