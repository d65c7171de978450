"""A real multi-node Ray cluster on this machine, owned process by process.

Why not `ray.cluster_utils.Cluster`: the tests must kill one node's processes by pid
mid-sweep and must stop every process they started whatever the outcome, so each node is
a `ray start --block` child we own, and every process it spawns is found again either as
its descendant or by a marker in its environment (orphans re-parented to init keep the
marker), then signalled by pid. Nothing here uses `ray stop`, which would hit other
people's Ray processes on a shared machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

RAY = str(Path(sys.executable).with_name("ray"))
MARKER = "NB201_TEST_RAY_CLUSTER"

# Fail fast in tests: a killed node is noticed in about 5 s instead of about 30 s. Five
# missed checks, not two: a raylet starved of CPU for 2 s on a loaded 2-core machine must
# not be declared dead (it then exits, and the tests lose their worker node).
FAST_FAILURE_ENV = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "5",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayNode:
    """One `ray start --block` process and everything it spawned."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        # Every node on this machine has the same IP; its raylet port tells them apart in ray.nodes().
        self.node_manager_port = int(args[args.index("--node-manager-port") + 1])
        self._log_fh = open(log, "wb")  # noqa: SIM115 - closed in kill()
        self.proc = subprocess.Popen(
            [RAY, "start", "--block", *args], stdout=self._log_fh, stderr=subprocess.STDOUT, env=env
        )
        self.seen: set[int] = {self.proc.pid}

    def pids(self) -> set[int]:
        """Pids of this node's processes alive now (remembered across calls)."""
        try:
            kids = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kids = []
        self.seen |= {k.pid for k in kids}
        return {p for p in self.seen if psutil.pid_exists(p)}

    def listed_alive(self) -> bool:
        """Whether the cluster, as the connected driver sees it, counts this node alive."""
        import ray

        return any(n["Alive"] and n["NodeManagerPort"] == self.node_manager_port for n in ray.nodes())

    def node_id(self) -> str:
        import ray

        (node,) = [n for n in ray.nodes() if n["Alive"] and n["NodeManagerPort"] == self.node_manager_port]
        return node["NodeID"]

    def alive_in_ray(self) -> bool:
        """Alive here (its `ray start` process runs) and alive for the cluster."""
        return self.proc.poll() is None and self.listed_alive()

    def running_tasks(self, function: str) -> list[int]:
        """Pids of this node's workers executing `function` now (Ray titles them ray::<name>)."""
        busy = []
        for pid in self.pids():
            try:
                cmd = psutil.Process(pid).cmdline()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if cmd and cmd[0].startswith(f"ray::{function}"):
                busy.append(pid)
        return busy

    def wait_started(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray node {self.name} exited early:\n{self.log.read_text()}")
            if b"Ray runtime started" in self.log.read_bytes():
                self.pids()
                return
            time.sleep(0.2)
        raise TimeoutError(f"ray node {self.name} did not start in {timeout}s:\n{self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> list[int]:
        """Signal every process of this node by pid; return the pids signalled."""
        pids = sorted(self.pids())
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        psutil.wait_procs([_proc(p) for p in pids if _proc(p) is not None], timeout=10)
        self.proc.poll()
        self._log_fh.close()
        return pids


def _proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


class LocalRayCluster:
    """A head plus worker nodes on this machine, each `num_cpus` CPUs, in a private temp dir."""

    def __init__(self, num_cpus: int = 1) -> None:
        self.num_cpus = num_cpus
        self.token = uuid.uuid4().hex
        # Short path: Ray's unix sockets live under it and must stay under 107 bytes.
        self.tmp = Path(tempfile.mkdtemp(prefix="nb201ray-", dir="/tmp"))
        self.port = free_port()
        self.nodes: list[RayNode] = []
        self.extra_pids: set[int] = set()
        # No token authentication on this throw-away loopback cluster, said explicitly:
        # with RAY_AUTH_MODE unset, Ray 2.60 decides per process (a local ray.init()
        # writes ~/.ray/auth_token, a `ray start` head then demands it, `ray start` workers
        # do not send it), so results would depend on what earlier runs left in $HOME.
        self.auth = {"RAY_AUTH_MODE": "disabled"}
        self.env = {**os.environ, **FAST_FAILURE_ENV, **self.auth, MARKER: self.token}
        self.env.pop("RAY_ADDRESS", None)
        self.address: str | None = None

    def _common_args(self) -> list[str]:
        return [
            "--num-cpus",
            str(self.num_cpus),
            "--num-gpus",
            "0",
            "--object-store-memory",
            str(100 * 1024**2),
            "--disable-usage-stats",
            # Fixed ports for the agents: with port 0 the raylet waits at most 15 s for
            # each agent to write its chosen port to a file, and dies when a loaded
            # machine is slower than that.
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
            "--node-manager-port",
            str(free_port()),
            "--min-worker-port",
            "0",
            "--max-worker-port",
            "0",
        ]

    def start_head(self) -> str:
        def args() -> list[str]:  # fresh ports on every attempt
            return [
                "--head",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--include-dashboard=false",
                "--dashboard-port",
                str(free_port()),
                "--ray-client-server-port",
                str(free_port()),
                "--temp-dir",
                str(self.tmp),
                *self._common_args(),
            ]

        node = self._start("head", args)
        # Ray replaces a loopback --node-ip-address by the host's reachable IP; read back
        # the address it really listens on from its own message.
        text = node.log.read_text()
        marker = "ray start --address='"
        if marker in text:
            self.address = text.split(marker, 1)[1].split("'", 1)[0]
        else:
            self.address = f"127.0.0.1:{self.port}"
        return self.address

    def add_node(self) -> RayNode:
        assert self.address, "start_head() first"
        name = f"worker{len(self.nodes)}"
        return self._start(
            name, lambda: ["--address", self.address, "--node-ip-address", "127.0.0.1", *self._common_args()]
        )

    def _start(self, name: str, args, attempts: int = 3) -> RayNode:
        """Start a node, retrying: Ray gives a raylet a fixed 30 s to register with the GCS,
        which a loaded 2-core machine sometimes misses; the failed try is killed by pid."""
        for attempt in range(1, attempts + 1):
            node = RayNode(name, args(), self.env, self.tmp / f"{name}-{attempt}.log")
            self.nodes.append(node)
            try:
                node.wait_started()
                return node
            except (RuntimeError, TimeoutError):
                node.kill()
                if attempt == attempts:
                    raise
                if name == "head":
                    self.port = free_port()
        raise AssertionError("unreachable")

    def wait_for_cpus(self, cpus: float, timeout: float = 60.0) -> None:
        """Block until the connected driver sees `cpus` CPUs alive in the cluster."""
        import ray

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = sum(n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"])
            if alive >= cpus:
                return
            time.sleep(0.3)
        raise TimeoutError(f"cluster did not reach {cpus} CPUs in {timeout}s: {ray.nodes()}")

    def wait_until_dead_in_ray(self, node: RayNode, timeout: float = 60.0) -> None:
        """Block until the connected driver sees `node` dead: a node killed a moment ago still
        counts as alive until the health checks notice, and would be mistaken for a live one."""
        deadline = time.monotonic() + timeout
        while node.listed_alive():
            if time.monotonic() > deadline:
                raise TimeoutError(f"ray still counts node {node.name} alive {timeout}s after its death")
            time.sleep(0.3)

    def spawn(self, argv: list[str], **kwargs) -> subprocess.Popen:
        """Start a process (e.g. a driver) that the cluster owns and will stop at the end."""
        proc = subprocess.Popen(argv, env={**self.env, **kwargs.pop("env", {})}, **kwargs)
        self.extra_pids.add(proc.pid)
        return proc

    def marked_pids(self) -> set[int]:
        """Processes that carry this cluster's marker (orphaned Ray workers included)."""
        found = set()
        for p in psutil.process_iter():
            try:
                if p.environ().get(MARKER) == self.token:
                    found.add(p.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        found.discard(os.getpid())
        return found

    def owned_pids(self) -> set[int]:
        pids = set(self.extra_pids)
        for node in self.nodes:
            pids |= node.pids()
        return {p for p in pids | self.marked_pids() if psutil.pid_exists(p)} - {os.getpid()}

    def shutdown(self) -> set[int]:
        """Stop every process this cluster started, by pid; return any that survived."""
        for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            pids = self.owned_pids()
            procs = []
            for pid in pids:
                try:
                    os.kill(pid, sig)
                    procs.append(psutil.Process(pid))
                except (ProcessLookupError, psutil.NoSuchProcess):
                    pass
            psutil.wait_procs(procs, timeout=wait)
        for node in self.nodes:
            node.proc.poll()
            node._log_fh.close()
        survivors = self.owned_pids()
        if not survivors:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return survivors
