"""Atomic file writes: a reader never sees a torn file, a crash never leaves one.

Everything nb201 persists (run records, checkpoints, caches, benchmark tables, report
sidecars) goes through here: write to a unique temporary file in the same folder, flush
to disk, then `os.replace`, which is atomic on POSIX file systems.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(f)` on a temporary file beside `path`, then move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".{os.getpid()}.tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, **dumps_kwargs: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, **dumps_kwargs) + "\n")


# Not in the os module: linux/fs.h and fcntl.h.
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where the
    system or file system cannot (other OSes, old kernels, some network file systems)."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # not supported here
        return False
    raise OSError(err, os.strerror(err), str(b))


def fsync_tree(folder: str | Path) -> None:
    """Flush every file of `folder`, and the folder itself, to disk: a folder about to be
    swapped in must be complete on disk, not only in the page cache, before the swap."""
    folder = Path(folder)
    for p in folder.iterdir():
        if p.is_file() and not p.is_symlink():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_dir(folder)


def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entries (renames into it) to disk, where the file system can."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot sync a directory
        pass
    finally:
        os.close(fd)


def replace_dir(new: str | Path, final: str | Path) -> None:
    """Put the finished folder `new` in the place of `final`.

    Where the kernel allows, the two are exchanged in one step, so a reader always finds
    `final`, old or new, and a crash at any point leaves a complete one there. Elsewhere the
    old folder is moved aside first: `final` is then missing for a moment (a crash in that
    moment leaves the old copy in `.<name>.old-<pid>`, nothing is deleted before the swap).
    """
    new, final = Path(new), Path(final)
    if not final.exists():
        os.replace(new, final)
        return
    import shutil

    if _exchange(new, final):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old folder
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if old.exists():
        shutil.rmtree(old)
    os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def move_aside(path: str | Path, reason: str, dest_dir: str | Path | None = None) -> Path:
    """Move a file that cannot be trusted (torn, edited, another task's) into `dest_dir`
    (default `<its folder>/rejected/`) beside `<name>.reason.txt`, and return where it went.
    Never deletes: a second file of the same name gets a numbered name."""
    path = Path(path)
    dest_dir = path.parent / "rejected" if dest_dir is None else Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest, n = dest_dir / path.name, 0
    while dest.exists() or dest.with_suffix(".reason.txt").exists():
        n += 1
        dest = dest_dir / f"{path.stem}.{n}{path.suffix}"
    atomic_write_text(dest.with_suffix(".reason.txt"), f"{reason}\n")
    os.replace(path, dest)
    return dest


# ---- locks and leftovers ---------------------------------------------------------------------


class LockBusy(TimeoutError):
    """Another process holds the lock (and did not release it within the timeout)."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "another process"
    return f"process {text}" if text else "another process"


@contextlib.contextmanager
def file_lock(
    path: str | Path, *, timeout: float | None = None, remove: bool = False, what: str = ""
) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` for the `with` block.

    Waits for the lock (forever when `timeout` is None; `timeout=0` tries once) and raises
    `LockBusy` naming the holder's pid otherwise. The kernel drops the lock when its holder
    dies, so a killed process never leaves a stale lock. With `remove=True` the file is
    deleted on release; a waiter that then finds it locked a file no longer at `path`
    retries, so two processes can never both believe they hold it.
    """
    path = Path(path)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
        except FileNotFoundError:  # the folder was removed between the two calls: again
            continue
        try:
            _acquire(fd, deadline, path, what)
            if os.fstat(fd).st_ino == _inode(path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed the file while we waited: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        os.close(fd)  # releases the flock


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return -1


def _acquire(fd: int, deadline: float | None, path: Path, what: str) -> None:
    import fcntl

    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if deadline is not None and time.monotonic() >= deadline:
                raise LockBusy(
                    f"{what or path} is locked by {_holder(path)} ({path}); wait for it to finish "
                    "(the lock is released when that process exits) and try again."
                ) from None
            time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_LEFTOVER = re.compile(r"^\..+\.(?:tmp|old)-(\d+)$|^\..+\.(\d+)\.tmp$")


def clean_leftovers(folder: str | Path) -> list[Path]:
    """Delete the temporary files and folders (`.<name>.tmp-<pid>`, `.<name>.old-<pid>`,
    `.<name>.<random>.<pid>.tmp`) that a killed writer left in `folder`; those of a writer
    that still runs are kept. Returns what was removed. Call it while holding the folder's
    lock, so that no writer of this machine is between creating and renaming them."""
    import shutil

    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        m = _LEFTOVER.match(p.name)
        if not m or pid_alive(int(m.group(1) or m.group(2))):
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
        removed.append(p)
    return removed
