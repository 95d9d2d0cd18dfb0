"""A roster drop: the CSV files in one folder, taken whole or not at all.

This module holds what does not depend on where the files live: the errors a caller sorts by what it
must do, the pure rules (which names are acceptable, which files a drop needs, whether the folder stood
still while we copied it, the drop's fingerprint) and the one algorithm that applies them, written
against a two-method folder interface that the SFTP and the local-folder sources implement.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Union

MANIFEST = "manifest.csv"
# What each format needs; the caller picks (the transport does not know which format it is fetching).
CLEVER_CSV_REQUIRED = ("schools.csv", "students.csv", "sections.csv", "enrollments.csv", "teachers.csv")
ONEROSTER_CSV_REQUIRED = (MANIFEST,)  # the manifest then names the rest

# A list of names, or a function given the folder of downloaded files that returns the names (for a
# caller that must look at the files to know the format). A manifest.csv, when present, always adds
# the files it lists as bulk or delta.
RequiredFiles = Union[Iterable[str], Callable[[Path], Iterable[str]], None]

_CHUNK = 64 * 1024
_MAX_MANIFEST = 1 << 20  # read whole for its list of files; a real one is a few hundred bytes
_MAX_NAME = 255


# ---------------------------------------------------------------------------------------------- errors
class DropError(Exception):
    """Fetching a drop failed. ``source`` names where (user@host:port and folder, or the local path).

    Subclasses say what the caller must do. Messages never contain passwords, passphrases or key
    material: they are built from the source description and file names only.
    """

    retry_later = False

    def __init__(self, source: str, message: str):
        # Both in args, so the error survives pickling (a worker process handing it back).
        super().__init__(source, message)
        self.source = source
        self.message = message

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


class DropConfigError(DropError):
    """A person must fix the settings or the server account; retrying unchanged will fail again."""


class AuthenticationFailed(DropConfigError):
    """The server refused our user name with the password or key we offered."""


class HostKeyRejected(DropConfigError):
    """The server's host key is not the pinned one, or no key is pinned. Nothing was sent to it."""

    def __init__(self, source: str, message: str, expected: tuple[str, ...] = (), presented: str = ""):
        super().__init__(source, message)
        self.expected = expected
        self.presented = presented


class DropFolderMissing(DropConfigError):
    """The folder to read the drop from does not exist (or this account may not read it)."""


class DropTransientError(DropError):
    """The server could not be reached or the connection broke: retry later, settings are fine."""

    retry_later = True


class IncompleteDrop(DropError):
    """The folder does not hold a whole drop yet (missing files, files still being written).

    Nothing was taken. A caller retries later, and must never treat this as an empty roster.
    """

    retry_later = True

    def __init__(self, source: str, message: str, *, missing: tuple[str, ...] = (),
                 changed: Mapping[str, str] | None = None, ignored: tuple["Ignored", ...] = ()):
        super().__init__(source, message)
        self.missing = missing
        self.changed = dict(changed or {})
        self.ignored = ignored


# ----------------------------------------------------------------------------------------- plain values
@dataclass(frozen=True)
class Entry:
    """One name in a folder listing, as either source reports it."""

    name: str
    size: int | None
    mtime: float | None
    is_file: bool = True


@dataclass(frozen=True)
class Ignored:
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name!r} ({self.reason})"


@dataclass(frozen=True)
class FetchedDrop:
    """A whole drop copied to ``path`` (a temporary folder, removed when the ``fetch`` block ends)."""

    path: Path
    fingerprint: str  # sha256 hex over sorted names and content hashes; equal drops, equal fingerprints
    files: Mapping[str, int]  # name -> size in bytes, every CSV taken (manifest included)
    source_description: str
    ignored: tuple[Ignored, ...] = field(default=())  # names left out, with why, for the run report
    # name -> sha256 hex of its bytes, as hashed while copying: a file's content key when it has no
    # volatile column (connectors/sftp/content_key.py), so it is not read again for that
    content_sha256: Mapping[str, str] = field(default_factory=dict)


class DropFolder(Protocol):
    """What the algorithm needs from a source: a listing and a file's bytes, errors already sorted."""

    def list(self) -> list[Entry]: ...

    def read_chunks(self, entry: Entry) -> Iterator[bytes]: ...


# ---------------------------------------------------------------------------------------- pure checks
def name_problem(name: str) -> str | None:
    """Why ``name`` is not a plain file name we may copy into our folder, or None when it is.

    A listing comes from a server we do not control: a name with a separator or ``..`` could make
    us write outside the temporary folder, control characters garble logs and reports, and a hidden
    name is usually an upload tool's temporary file.
    """
    if not name:
        return "empty name"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if ".." in name:
        return "contains '..'"
    if name.startswith("."):
        return "hidden file"
    if any(unicodedata.category(ch) == "Cs" for ch in name):
        return "not valid UTF-8"  # how Python shows undecodable bytes of a local file name
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        return "contains control characters"
    if len(name) > _MAX_NAME:
        return "name too long"
    return None


def classify(entries: Iterable[Entry]) -> tuple[dict[str, Entry], tuple[Ignored, ...]]:
    """Split a listing into the CSV files of the drop and the names we leave out (with why)."""
    accepted: dict[str, Entry] = {}
    seen_folded: dict[str, str] = {}
    ignored: list[Ignored] = []
    for entry in sorted(entries, key=lambda e: e.name):
        reason = name_problem(entry.name)
        if reason is None and not entry.is_file:
            reason = "not a regular file"
        if reason is None and not entry.name.lower().endswith(".csv"):
            reason = "not a CSV file"
        if reason is None and entry.name.casefold() in seen_folded:
            # Two names differing only in case would overwrite each other on a case-insensitive disk.
            reason = f"same name as {seen_folded[entry.name.casefold()]!r} apart from letter case"
        if reason:
            ignored.append(Ignored(entry.name, reason))
            continue
        seen_folded[entry.name.casefold()] = entry.name
        accepted[entry.name] = entry
    return accepted, tuple(ignored)


def manifest_required_files(text: str) -> dict[str, str]:
    """Files a OneRoster manifest.csv says are in the drop: ``file.<name>`` rows valued bulk or delta."""
    required = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) < 2:
            continue
        prop, value = row[0].strip(), row[1].strip().lower()
        if prop.startswith("file.") and value in ("bulk", "delta"):
            required[prop[len("file."):] + ".csv"] = f"listed in {MANIFEST} as {value}"
    return required


def missing_files(present: Iterable[str], required: Mapping[str, str]) -> tuple[str, ...]:
    """Each required name that is absent, described for a person (with a case-mismatch hint)."""
    present = list(present)
    by_folded = {name.casefold(): name for name in present}
    problems = []
    for name in sorted(required):
        if name in present:
            continue
        hint = ""
        other = by_folded.get(name.casefold())
        if other:
            hint = f"; found {other!r}, but names are case-sensitive"
        problems.append(f"{name} ({required[name]}{hint})")
    return tuple(problems)


def changed_files(before: Mapping[str, Entry], after: Mapping[str, Entry],
                  downloaded: Mapping[str, int]) -> dict[str, str]:
    """Files that moved while we copied them: a sign the drop is still being uploaded.

    We compare the first listing with the bytes we got and with a second listing taken after the
    copy. SFTP v3 reports times in whole seconds, so a rewrite of the same size within one second
    goes unseen; size changes, which an upload in progress makes, are always seen.
    """
    changes = {}
    for name, first in before.items():
        got = downloaded.get(name)
        second = after.get(name)
        if got is not None and first.size is not None and got != first.size:
            changes[name] = f"listed as {first.size} bytes, downloaded {got}"
        elif second is None:
            changes[name] = "disappeared while being copied"
        elif (second.size, second.mtime) != (first.size, first.mtime):
            changes[name] = "size or modification time changed while being copied"
    for name in after.keys() - before.keys():
        changes[name] = "appeared while the drop was being copied"
    return changes


def drop_fingerprint(content_sha256: Mapping[str, str]) -> str:
    """sha256 over the sorted names and each file's content sha256 (hex in, hex out).

    Names cannot contain NUL (name_problem refuses control characters) and digests have a fixed
    length, so the byte stream below is unambiguous: different drops cannot collide by framing.
    """
    outer = hashlib.sha256()
    for name in sorted(content_sha256):
        outer.update(name.encode("utf-8") + b"\0" + bytes.fromhex(content_sha256[name]))
    return outer.hexdigest()


# ----------------------------------------------------------------------------------------- the algorithm
@contextmanager
def fetch_drop(open_folder: Callable[[], AbstractContextManager[DropFolder]], required: RequiredFiles,
               source: str, workdir: str | Path | None = None) -> Iterator[FetchedDrop]:
    """Copy a whole drop to a new temporary folder, yield it, and remove the folder afterwards.

    The source (an SSH connection) is closed before the caller gets the drop: parsing may take a
    while and needs only the local copy.
    """
    parent = Path(workdir or tempfile.gettempdir())
    remove_stale_copies(parent)
    # The process id in the name lets a later run find the copy of a process that was killed (a drop holds
    # every family's contacts: it must not stay on disk) and tell it from a copy still being read.
    target = Path(tempfile.mkdtemp(prefix=f"rostersync-drop-{os.getpid()}-", dir=parent))
    try:
        with open_folder() as folder:
            drop = take_drop(folder, target, required, source)
        yield drop
    finally:
        shutil.rmtree(target, ignore_errors=True)


_COPY_NAME = re.compile(r"rostersync-drop-(\d+)-")


def stale_copies(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """The drop copies among ``names`` whose process is gone (pure)."""
    return [name for name in names if (m := _COPY_NAME.match(name)) and not alive(int(m.group(1)))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another account's process: alive, and not ours to judge
        return True
    return True


def remove_stale_copies(parent: Path) -> list[str]:
    """Remove the drop copies a killed process left in ``parent``; returns their names.

    Only on this machine's view of processes: a folder shared by several machines (an unusual workdir)
    could hold another machine's copy under a process id that is free here, so keep workdirs local.
    """
    try:
        names = [entry.name for entry in os.scandir(parent) if entry.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    stale = stale_copies(names, _alive)
    for name in stale:
        shutil.rmtree(parent / name, ignore_errors=True)
    return stale


def take_drop(folder: DropFolder, target: Path, required: RequiredFiles, source: str) -> FetchedDrop:
    """List, copy and list again; raise IncompleteDrop unless every rule holds."""
    before, ignored = classify(folder.list())
    if not before:
        raise IncompleteDrop(source, "no CSV files in the folder yet; try again later", ignored=ignored)

    sizes: dict[str, int] = {}
    hashes: dict[str, str] = {}
    # The manifest goes first so that a drop missing a file it names fails before the big files are
    # copied: a scheduler polling a half-uploaded folder should not download it again and again.
    order = sorted(before, key=lambda name: (name != MANIFEST, name))
    needed = _static_required(required)
    _raise_if_missing(before, needed, source, ignored)
    for name in order:
        sizes[name], hashes[name] = _copy(folder, before[name], target)
        if name == MANIFEST:
            needed.update(_read_manifest(target, source, ignored))
            _raise_if_missing(before, needed, source, ignored)
    if callable(required):
        needed.update({name: "required for this format" for name in required(target)})
        _raise_if_missing(before, needed, source, ignored)

    after, _ = classify(folder.list())
    changes = changed_files(before, after, sizes)
    if changes:
        detail = "; ".join(f"{name!r}: {why}" for name, why in sorted(changes.items()))
        raise IncompleteDrop(source, f"files still changing ({detail}); nothing was taken, try again later",
                             changed=changes, ignored=ignored)
    return FetchedDrop(target, drop_fingerprint(hashes), sizes, source, ignored, hashes)


def _static_required(required: RequiredFiles) -> dict[str, str]:
    if required is None or callable(required):
        return {}
    names = [required] if isinstance(required, str) else list(required)
    return {name: "required for this format" for name in names}


def _raise_if_missing(present: Mapping[str, Entry], needed: Mapping[str, str], source: str,
                      ignored: tuple[Ignored, ...]) -> None:
    missing = missing_files(present, needed)
    if missing:
        raise IncompleteDrop(source, f"missing {', '.join(missing)}; nothing was taken, try again later",
                             missing=missing, ignored=ignored)


def _read_manifest(target: Path, source: str, ignored: tuple[Ignored, ...]) -> dict[str, str]:
    if (target / MANIFEST).stat().st_size > _MAX_MANIFEST:
        return {}  # not a manifest (a real one is a few hundred bytes): the format reader says what is wrong
    try:
        return manifest_required_files((target / MANIFEST).read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, csv.Error):
        # Not text we can read (UTF-16, a spreadsheet saved as .csv, a runaway quote): waiting will not
        # fix that, so "incomplete, try again later" would be the wrong answer. The folder is copied
        # without the manifest's list, and the format reader, which reads the manifest again, refuses the
        # drop naming the file, the line and what is wrong. (A manifest caught mid-upload is still caught:
        # the second listing sees it change.)
        return {}


def _copy(folder: DropFolder, entry: Entry, target: Path) -> tuple[int, str]:
    """Copy one file into ``target`` and return (bytes copied, sha256 hex)."""
    destination = target / entry.name
    # classify() already refused separators and "..": this is the last line of defence, kept because
    # a mistake here writes outside the folder.
    if destination.parent != target or name_problem(entry.name):
        raise ValueError(f"refusing to write {entry.name!r} outside {target}")
    digest = hashlib.sha256()
    size = 0
    with open(destination, "xb") as out:  # "x": never overwrite, even if two entries collide
        for chunk in folder.read_chunks(entry):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return size, digest.hexdigest()
