"""The official sources, listed and checked before anything is read, then read in parallel.

An import refuses ambiguity up front, with a message naming the files and indices, before
one per-architecture file is opened (and so before anything is written):

- a meta (`meta_archs`) that lists one architecture twice, or a string that is not a cell;
- two files for one architecture (`000001.pickle.pbz2` beside `1.pickle.pbz2`), or two
  `arch2infos` keys for one index (`1` and `"1"`);
- a file or key for an index the meta does not have (a meta of 10 beside `003000...`).

A file whose contents name another architecture is refused when it is read
(`arch_results.check_names`). Reading a NATS-tss folder is bz2 and unpickling, ~25 ms a
file, so the 15,625 files are read by worker processes; results come back in file order,
so the import writes the same store whatever the number of workers.
"""

from __future__ import annotations

import bz2
import multiprocessing
import os
import pickle
import re
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from nb201.benchmark.importers.arch_results import ArchJob, Filters, ImportFormatError, Row, arch_rows
from nb201.space import Arch
from nb201.util import REFUSED, load_plain_pickle

NATS_EXT = ".pickle.pbz2"
KIND_HELP = (
    "expected one of: a NAS-Bench-201 file (NAS-Bench-201-v1_0-e61699.pth / NAS-Bench-201-v1_1-096897.pth), "
    "a NATS-Bench topology folder (NATS-tss-v1_0-3ffb9-simple/ with meta.pickle.pbz2), or the single-file "
    "NATS-tss-v1_0-3ffb9.pickle.pbz2"
)
NOTHING_WRITTEN = "nothing was written"
_ARCH_FILE = re.compile(r"(\d+)" + re.escape(NATS_EXT))
PARALLEL_FROM = 256  # files: below this, starting worker processes costs more than it saves
_CHUNK = 16  # files per task sent to a worker (amortises the round trip)


def load_pbz2(path: Path, allow_pickle: bool = False) -> Any:
    """A bz2 pickle, plain data only (`nb201.util.PLAIN_DATA_GLOBALS`) unless trusted."""
    try:
        with bz2.BZ2File(path, "rb") as fh:
            return pickle.load(fh) if allow_pickle else load_plain_pickle(fh)
    except pickle.UnpicklingError as exc:
        if str(exc).startswith(REFUSED):
            raise ImportFormatError(
                f"{path} holds Python objects beyond plain data ({exc}). If you trust the file, "
                "re-run with allow_pickle=True (CLI: --allow-pickle)."
            ) from None
        raise ImportFormatError(f"{path} is not a readable bz2 pickle ({exc}); {KIND_HELP}.") from None
    except (OSError, EOFError) as exc:
        raise ImportFormatError(f"{path} is not a readable bz2 pickle ({exc}); {KIND_HELP}.") from None


def _shown(items: Sequence[Any], limit: int = 5) -> str:
    head = ", ".join(map(str, items[:limit]))
    return head + (f" and {len(items) - limit} more" if len(items) > limit else "")


def meta_index(meta_archs: Any, where: str) -> list[tuple[int, str]]:
    """(our index, arch string) of every official index of a `meta_archs` list; refuses a
    string that is not a NAS-Bench-201 cell, and an architecture listed twice (two official
    indices for one cell would serve one of them under the other's number)."""
    if not isinstance(meta_archs, (list, tuple)):
        raise ImportFormatError(
            f"{where}: 'meta_archs' should be a list of arch strings, got {type(meta_archs).__name__}."
        )
    out: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    twice: list[str] = []
    for i, text in enumerate(meta_archs):
        try:
            arch = Arch.from_string(text)
        except ValueError as exc:
            hint = " (this looks like the NATS-Bench *size* space; only the topology space is NAS-Bench-201)"
            raise ImportFormatError(
                f"{where}: architecture {i} is {text!r}, not a NAS-Bench-201 cell"
                f"{hint if isinstance(text, str) and ':' in text else ''}: {exc}"
            ) from None
        key = str(arch)
        if key in first:
            twice.append(f"{key} at indices {first[key]} and {i}")
        first.setdefault(key, i)
        out.append((arch.index, key))
    if twice:
        raise ImportFormatError(
            f"{where}: meta_archs lists an architecture twice: {_shown(twice, 3)}; a meta lists each "
            f"cell once, so this one cannot say which index is which. {NOTHING_WRITTEN}."
        )
    return out


def _out_of_range(where: str, meta_where: str, n: int, bad: list[str]) -> ImportFormatError:
    return ImportFormatError(
        f"{where}: results for architectures the meta does not list: {_shown(bad)}; {meta_where} lists "
        f"{n} architectures (indices 0..{n - 1}). The meta and the results disagree (from different "
        f"releases, or a truncated meta); {NOTHING_WRITTEN}."
    )


def _job(index: list[tuple[int, str]], official: int, where: str) -> ArchJob:
    ours, arch = index[official]
    return ArchJob(official=official, ours=ours, arch=arch, where=where)


def folder_jobs(folder: Path, index: list[tuple[int, str]]) -> list[tuple[Path, ArchJob]]:
    """(file, job) of every per-architecture file of a NATS-tss folder, in index order."""
    by_index: dict[int, list[Path]] = {}
    for p in folder.iterdir():
        if m := _ARCH_FILE.fullmatch(p.name):
            by_index.setdefault(int(m.group(1)), []).append(p)
    if not by_index:
        raise ImportFormatError(
            f"{folder} has meta{NATS_EXT} but no per-architecture NNNNNN{NATS_EXT} files."
        )
    clashes = [
        f"index {i}: {', '.join(sorted(p.name for p in ps))}"
        for i, ps in sorted(by_index.items())
        if len(ps) > 1
    ]
    if clashes:
        raise ImportFormatError(
            f"{folder}: two files for one architecture ({_shown(clashes, 3)}); keep one per index "
            f"(the official name is NNNNNN{NATS_EXT}, e.g. {min(by_index):06d}{NATS_EXT}). {NOTHING_WRITTEN}."
        )
    bad = [f"{i} ({by_index[i][0].name})" for i in sorted(by_index) if i >= len(index)]
    if bad:
        raise _out_of_range(str(folder), f"meta{NATS_EXT}", len(index), bad)
    return [(by_index[i][0], _job(index, i, str(by_index[i][0]))) for i in sorted(by_index)]


def table_jobs(
    arch2infos: Mapping[Any, Any], index: list[tuple[int, str]], where: str
) -> list[tuple[Any, ArchJob]]:
    """(key, job) of every `arch2infos` entry of a single-file source, in index order."""
    by_index: dict[int, list[Any]] = {}
    for key in arch2infos:
        try:
            official = int(key)
        except (TypeError, ValueError):
            raise ImportFormatError(
                f"{where}: arch2infos key {key!r} is not an architecture index."
            ) from None
        by_index.setdefault(official, []).append(key)
    clashes = [f"index {i}: keys {keys!r}" for i, keys in sorted(by_index.items()) if len(keys) > 1]
    if clashes:
        raise ImportFormatError(
            f"{where}: arch2infos holds one architecture twice ({_shown(clashes, 3)}); {NOTHING_WRITTEN}."
        )
    bad = [str(i) for i in sorted(by_index) if not 0 <= i < len(index)]
    if bad:
        raise _out_of_range(where, "its meta_archs", len(index), bad)
    return [
        (by_index[i][0], _job(index, i, f"{where} arch2infos[{by_index[i][0]!r}]")) for i in sorted(by_index)
    ]


def _read_file(task: tuple[Path, ArchJob, Filters, bool]) -> list[Row]:
    """One per-architecture file -> its rows (runs in a worker process)."""
    path, job, filters, allow_pickle = task
    xdata = load_pbz2(path, allow_pickle)
    if not isinstance(xdata, Mapping):
        raise ImportFormatError(
            f"{path}: expected a dict {{hp: ArchResults state}}, got {type(xdata).__name__}."
        )
    return arch_rows(xdata, job, filters)


def default_workers(n_files: int) -> int:
    """One worker per usable core (at most 8) for a large folder, else in process."""
    if n_files < PARALLEL_FROM:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))


def read_files(
    jobs: list[tuple[Path, ArchJob]], filters: Filters, allow_pickle: bool, workers: int
) -> Iterator[tuple[ArchJob, list[Row]]]:
    """(job, rows) of every file, in the order of `jobs`; `workers` > 1 reads them in that
    many processes. The first error stops the reading: queued files are cancelled."""
    tasks = [(path, job, filters, allow_pickle) for path, job in jobs]
    if workers <= 1:
        for task in tasks:
            yield task[1], _read_file(task)
        return
    # spawn: a fresh interpreter per worker, safe beside threads (tqdm, torch) in the parent
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        for task, rows in zip(tasks, pool.map(_read_file, tasks, chunksize=_CHUNK)):
            yield task[1], rows
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
