"""Fan a sweep out over a Ray cluster: one Ray task per kernel task (a run spec, a search,
one architecture of the proxy table job; see `nb201.train.task`).

Why it is this thin: the fault tolerance lives in the task kernel (`nb201.train.task`), not
here. A task resumes from its own epoch checkpoint, writes its result atomically under its
own lock and skips itself when a valid result exists, so Ray only has to (re)start tasks:
a task retried after its worker or node died resumes where the checkpoint left it; a task
executed twice finds the result and does nothing; a driver killed and restarted
re-submits only the specs whose result is missing.
What this module adds is placement (CPU threads or the GPU Ray assigned), a bounded number
of tasks in flight (a 15,625 x 3 x 3 sweep must not be submitted at once), and outcomes
yielded in completion order so the sweep's progress bar moves as runs finish.

Ray is imported only here, and this module only when `engine="ray"` is asked for, so the
default local engine needs no Ray at all.
"""

from __future__ import annotations

import math
import os
import time
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nb201.data.cache import ENV_DATA_DIR
from nb201.train.outcome import RunOutcome, is_expected_failure

if TYPE_CHECKING:
    from nb201.train.task import Task

_INSTALL_HINT = "install it with `pip install 'nb201[ray]'` (or `pip install 'ray[default]'`)"


def _ray():
    try:
        import ray
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(f"engine='ray' needs the `ray` package; {_INSTALL_HINT}.") from e
    return ray


def _run_task(spec: Task, out_dir: str, num_cpus: float) -> RunOutcome:
    """The body of one Ray task: place the run on the assigned device, then run it.

    Ray sets CUDA_VISIBLE_DEVICES to the GPU(s) it assigned, so "cuda" is that GPU; with a
    fractional `num_gpus` several tasks share it. On a CPU-only node torch gets as many
    threads as the task reserved CPUs, so K concurrent tasks do not oversubscribe a node.
    """
    import ray

    from nb201.train.task import execute

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    return execute(spec, out_dir, num_threads=max(1, math.floor(num_cpus)), device=device)


def _number(name: str, value: Any, low: float) -> float:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not math.isfinite(value) or value < low:
        raise ValueError(f"RayEngine: {name} must be a number >= {low}, got {value!r}.")
    return value


class RayEngine:
    """Run `nb201.train.task.execute` for every task (run spec, search, proxy task) as Ray tasks,
    yielding outcomes as they complete.

    address: None starts a private local Ray instance (even if a cluster runs here);
        "auto" joins the cluster named by RAY_ADDRESS or else the one this machine belongs
        to (started with `ray start`); "host:6379" joins that cluster's head;
        "ray://host:10001" joins a remote cluster through Ray Client.
    num_cpus, num_gpus: resources reserved per task (per run). `num_gpus` may be a
        fraction: 0.25 packs four small networks on one GPU.
    max_retries: how often Ray restarts a task whose worker process or node died; each
        restart resumes from the run's last epoch checkpoint. An exception raised by the
        run itself is not retried (it would fail the same way). As with `LocalEngine`, one
        that `nb201.train.outcome.is_expected_failure` accepts (out of memory, a missing
        or unreadable file) becomes a `failed` outcome without a record, so a later sweep
        tries that run again; any other (a bug) is raised here with the worker's traceback.
    runtime_env: passed to `ray.init` (e.g. {"env_vars": {...}}); nb201 must already be
        installed on every node, see docs/cluster.md.
    max_in_flight: tasks submitted but not finished at any time; default twice the number
        of tasks the cluster can run at once (re-read as nodes join or leave), so workers
        never idle while the driver holds only a small window of a huge sweep.
    local_num_cpus, local_num_gpus: size of the local instance when address is None
        (default: what Ray detects on this machine).
    memory, resources: further per-task reservations (bytes of RAM; custom resources).
    init_kwargs: any other `ray.init` keyword (e.g. {"log_to_driver": False}).

    `out_dir` must be a folder every node sees at the same path (a network file system);
    the engine checks that the records the workers write become visible to the driver.
    If this process is already connected to Ray, that connection is used as it is
    (`address`, `runtime_env` and `init_kwargs` apply only to a new connection).
    """

    def __init__(
        self,
        address: str | None = None,
        num_cpus: float = 1,
        num_gpus: float = 0,
        max_retries: int = 3,
        runtime_env: dict[str, Any] | None = None,
        max_in_flight: int | None = None,
        local_num_cpus: int | None = None,
        local_num_gpus: int | None = None,
        memory: int | None = None,
        resources: dict[str, float] | None = None,
        init_kwargs: dict[str, Any] | None = None,
        visibility_timeout: float = 60.0,
    ) -> None:
        self.address = address
        self.num_cpus = _number("num_cpus", num_cpus, 0)
        self.num_gpus = _number("num_gpus", num_gpus, 0)
        if self.num_cpus == 0 and self.num_gpus == 0:
            raise ValueError(
                "RayEngine: num_cpus and num_gpus are both 0, so Ray would start every task at once; "
                "reserve at least one, e.g. num_cpus=1 or num_gpus=0.25."
            )
        if self.num_gpus > 1 and self.num_gpus != int(self.num_gpus):
            raise ValueError(f"RayEngine: num_gpus above 1 must be a whole number, got {num_gpus!r}.")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < -1:
            raise ValueError(
                f"RayEngine: max_retries must be an integer >= 0 (or -1 for unlimited), got {max_retries!r}."
            )
        self.max_retries = max_retries
        if max_in_flight is not None and (
            isinstance(max_in_flight, bool) or not isinstance(max_in_flight, int) or max_in_flight < 1
        ):
            raise ValueError(f"RayEngine: max_in_flight must be a positive integer, got {max_in_flight!r}.")
        self.max_in_flight = max_in_flight
        self.runtime_env = runtime_env
        self.local_num_cpus = local_num_cpus
        self.local_num_gpus = local_num_gpus
        self.memory = memory
        self.resources = dict(resources or {})
        self.init_kwargs = dict(init_kwargs or {})
        self.visibility_timeout = _number("visibility_timeout", visibility_timeout, 0)
        self._started_ray = False
        self._remote = None

    # -- connection -------------------------------------------------------------------
    def connect(self) -> None:
        """Join (or start) the Ray cluster; a no-op when this process is already connected."""
        ray = _ray()
        if ray.is_initialized():
            return
        # "local" rather than None: ray.init(None) would join a cluster some earlier
        # `ray start` left on this machine; None here means a private instance.
        kwargs: dict[str, Any] = {"address": self.address or "local", **self.init_kwargs}
        runtime_env = self._runtime_env()
        if runtime_env is not None:
            kwargs["runtime_env"] = runtime_env
        if self.address is None:
            kwargs.setdefault("num_cpus", self.local_num_cpus)
            kwargs.setdefault("num_gpus", self.local_num_gpus)
        try:
            ray.init(**kwargs)
        except ConnectionError as e:
            raise ConnectionError(
                f"RayEngine could not join the Ray cluster at {self.address!r} ({e}); start one with "
                "`ray start --head` (docs/cluster.md) or pass address=None for a local instance."
            ) from e
        self._started_ray = True

    def _runtime_env(self) -> dict[str, Any] | None:
        """The user's runtime_env, plus the driver's NB201_DATA_DIR (made absolute) so that
        tasks look for data and caches where the notebook does."""
        data_dir = os.environ.get(ENV_DATA_DIR)
        if not data_dir:
            return self.runtime_env
        env = dict(self.runtime_env or {})
        env_vars = dict(env.get("env_vars") or {})
        env_vars.setdefault(ENV_DATA_DIR, str(Path(data_dir).expanduser().resolve()))
        env["env_vars"] = env_vars
        return env

    def close(self) -> None:
        """Disconnect from Ray if this engine connected (stops a local instance it started)."""
        if self._started_ray:
            _ray().shutdown()
            self._started_ray = False

    def __enter__(self) -> RayEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- scheduling -------------------------------------------------------------------
    def task_resources(self) -> dict[str, float]:
        """What one run reserves; the sweep multiplies wall times by it for CPU/GPU hours."""
        return {"CPU": self.num_cpus, "GPU": self.num_gpus, **self.resources}

    def slots(self) -> int:
        """How many runs the cluster can execute at once now (at least 1)."""
        total = _ray().cluster_resources()
        fits = [total.get(k, 0.0) / v for k, v in self.task_resources().items() if v > 0]
        return max(1, int(min(fits) + 1e-9)) if fits else 1

    def _check_fits(self) -> None:
        total = _ray().cluster_resources()
        missing = {k: v for k, v in self.task_resources().items() if v > 0 and total.get(k, 0.0) < v}
        if missing:
            warnings.warn(
                f"RayEngine: no node of the cluster offers {missing} per task now (cluster: "
                f"{ {k: total.get(k, 0.0) for k in missing} }); tasks wait until such a node joins. "
                "Lower num_cpus/num_gpus or add nodes.",
                RuntimeWarning,
                stacklevel=3,
            )

    def _task(self):
        if self._remote is None:
            ray = _ray()
            options: dict[str, Any] = {
                "num_cpus": self.num_cpus,
                "num_gpus": self.num_gpus,
                "max_retries": self.max_retries,
                # Only worker/node death is retried; a run's own exception is final.
                "retry_exceptions": False,
            }
            if self.memory is not None:
                options["memory"] = self.memory
            if self.resources:
                options["resources"] = self.resources
            self._remote = ray.remote(_run_task).options(**options)
        return self._remote

    def _window(self) -> int:
        return self.max_in_flight or 2 * self.slots()

    def map(self, specs: Sequence[Task], out_dir: str | Path) -> Iterator[RunOutcome]:
        """Run every spec on the cluster; yield one outcome per spec, in completion order.

        Specs whose valid result already exists are reported `skipped` without being submitted,
        and a spec listed twice runs once. Interrupting the iteration (or an error in the
        driver) cancels the tasks still in flight; their checkpoints remain, so the next
        sweep resumes them.
        """
        from nb201.train.task import is_done

        if "://" in str(out_dir):
            raise ValueError(
                f"RayEngine: out_dir {str(out_dir)!r} is a URL; records are written with POSIX renames, "
                "so mount the storage on every node (NFS, a cluster file system, a CSI volume) and pass "
                "that path (docs/cluster.md)."
            )
        out = Path(out_dir).expanduser().resolve()  # workers do not share the driver's cwd
        out.mkdir(parents=True, exist_ok=True)
        ray = _ray()

        todo: list[Task] = []
        seen: dict[str, int] = {}
        for spec in specs:
            rid = spec.run_id
            if rid in seen:
                seen[rid] += 1
                continue
            seen[rid] = 1
            if is_done(spec, out):  # a valid result: skipped (a torn one is left to the task)
                yield RunOutcome(rid, "skipped", None, 0.0, str(spec.result_path(out)))
            else:
                todo.append(spec)
        if not todo:
            paths = {s.run_id: str(s.result_path(out)) for s in specs}
            for rid, n in seen.items():
                for _ in range(n - 1):
                    yield RunOutcome(rid, "skipped", None, 0.0, paths[rid])
            return

        self.connect()
        self._check_fits()
        task = self._task()
        pending = iter(todo)
        in_flight: dict[Any, Task] = {}
        finished: dict[str, RunOutcome] = {}
        try:
            while True:
                window = self._window()
                while len(in_flight) < window:
                    spec = next(pending, None)
                    if spec is None:
                        break
                    in_flight[task.remote(spec, str(out), self.num_cpus)] = spec
                if not in_flight:
                    break
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                for ref in ready:
                    spec = in_flight.pop(ref)
                    outcome = self._collect(ray, ref, spec)
                    finished[spec.run_id] = outcome
                    yield outcome
        finally:
            if in_flight:  # the consumer stopped early: do not leave the cluster training
                for ref in in_flight:
                    # force: end the worker process rather than raise KeyboardInterrupt in it.
                    # An interrupt can land inside an import (torch imports sympy lazily) and
                    # leave a half-imported module in a worker that Ray would reuse, failing
                    # the next task there ("module 'sympy' has no attribute 'core'"). Nothing
                    # is lost: records and checkpoints are written by atomic rename.
                    ray.cancel(ref, force=True)
        for rid, n in seen.items():
            for _ in range(n - 1):
                first = finished.get(rid)
                if first is None or first.path == "":
                    yield first or RunOutcome(rid, "failed", "never ran", 0.0, "")
                else:
                    yield RunOutcome(rid, "skipped", None, 0.0, first.path)

    def _collect(self, ray, ref, spec: Task) -> RunOutcome:
        """The task's outcome: `failed` for an expected failure (see `is_expected_failure`) or
        workers that kept dying; a bug in the run is raised."""
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayTaskError as e:  # run_one itself raised (bad input, bug, OOM)
            cause = e.cause if getattr(e, "cause", None) is not None else e
            if not is_expected_failure(cause):
                raise  # a bug: the RayTaskError carries the worker's traceback
            head = "".join(traceback.format_exception_only(type(cause), cause)).strip()
            return RunOutcome(spec.run_id, "failed", f"{head}\n{str(e)[-2000:]}", 0.0, "")
        except ray.exceptions.RayError as e:  # worker/node died more than max_retries times
            reason = (
                f"{type(e).__name__} after {self.max_retries} retries: {e}. The run's checkpoint is "
                "kept; running the sweep again resumes it."
            )
            return RunOutcome(spec.run_id, "failed", reason, 0.0, "")
        if outcome.path:
            self._await_visible(Path(outcome.path))
        if outcome.status == "skipped":
            # The record did not exist when this task was submitted, so an earlier attempt
            # of it (killed after writing the record, then retried) or another driver wrote
            # it during this sweep: report the task's result (the record's status for a
            # training run), not "done before".
            from nb201.train.task import finished_outcome

            outcome = finished_outcome(spec, outcome.path) or outcome
        return outcome

    def _await_visible(self, path: Path) -> None:
        """A record a worker wrote must be visible here, else out_dir is not shared."""
        deadline = time.monotonic() + self.visibility_timeout
        while not path.exists():
            if time.monotonic() >= deadline:
                raise FileNotFoundError(
                    f"RayEngine: a worker wrote the run record {path}, but it is not visible from the "
                    f"driver after {self.visibility_timeout:.0f}s: out_dir is not shared between the "
                    "nodes. Put it on a file system every node mounts at the same path (NFS, Lustre, "
                    "a ReadWriteMany volume; docs/cluster.md)."
                )
            time.sleep(0.5)
