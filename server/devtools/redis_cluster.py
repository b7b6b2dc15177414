"""Start a throw-away Redis Cluster on free loopback ports (for ``make cluster`` and tests).

Six ``redis-server --cluster-enabled yes`` processes, joined by ``redis-cli --cluster
create … --cluster-replicas 1`` into three masters with one replica each, ready once every
node's ``CLUSTER INFO`` says ``cluster_state:ok``. The owner stops them all (``stop``), and
may kill or fail over one node in between (failover tests).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from server.devtools.redis_embed import free_port

NODES = 6
REPLICAS = 1


def _command(port: int, *words: str, timeout: float = 2.0) -> str:
    """Send one inline command to 127.0.0.1:``port`` and return the raw reply text."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall((" ".join(words) + "\r\n").encode())
        chunks: list[bytes] = []
        sock.settimeout(timeout)
        while True:
            chunk = sock.recv(65536)
            chunks.append(chunk)
            text = b"".join(chunks)
            if text.startswith((b"+", b"-", b":")) and text.endswith(b"\r\n"):
                break
            if text.startswith(b"$"):
                head, _, rest = text.partition(b"\r\n")
                if len(rest) >= int(head[1:]) + 2:
                    break
            if not chunk:
                break
        return b"".join(chunks).decode(errors="replace")


@dataclass
class EmbeddedCluster:
    """Six ``redis-server`` children in cluster mode, owned by whoever started them."""

    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]]
    workdir: Path
    killed: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The Salon URL of this cluster: one seed node, the client finds the others."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    @property
    def seed_urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{port}" for port in self.live_ports()]

    def live_ports(self) -> list[int]:
        return [p for p in self.ports if p not in self.killed]

    def role(self, port: int) -> str:
        """``master`` or ``slave``, as the node at ``port`` says of itself."""
        info = _command(port, "INFO", "replication")
        return "master" if "role:master\r\n" in info else "slave"

    def masters(self) -> list[int]:
        return [p for p in self.live_ports() if self.role(p) == "master"]

    def master_of(self, slot: int) -> int:
        """The port of the live master serving ``slot``."""
        for port in self.live_ports():
            nodes = _command(port, "CLUSTER", "NODES")
            for line in nodes.splitlines():
                parts = line.split()
                if len(parts) < 9 or "master" not in parts[2] or "fail" in parts[2]:
                    continue
                for span in parts[8:]:
                    low, _, high = span.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        return int(parts[1].split(":")[1].split("@")[0])
            break
        raise RuntimeError(f"no master serves slot {slot}")

    def replica_of(self, master_port: int) -> int:
        """The port of a live replica of the master at ``master_port``."""
        for port in self.live_ports():
            if port != master_port and self.role(port) == "slave":
                info = _command(port, "INFO", "replication")
                if f"master_port:{master_port}\r\n" in info:
                    return port
        raise RuntimeError(f"no replica of {master_port}")

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: no goodbye to the cluster)."""
        self.processes[port].kill()
        self.processes[port].wait()
        self.killed.add(port)

    def revive(self, port: int) -> None:
        """Start a killed node again on its port and config: it rejoins as a replica."""
        exe = shutil.which("redis-server") or "redis-server"
        self.processes[port] = _spawn(exe, port, self.workdir)
        _wait_ping(port, self.processes[port])
        self.killed.discard(port)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Wait until every live node says the cluster is ok."""
        wait_ok(self.live_ports(), timeout)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> EmbeddedCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ok(ports: list[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if all("cluster_state:ok" in _command(p, "CLUSTER", "INFO") for p in ports):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the Redis Cluster on {ports} did not reach cluster_state:ok")


def _spawn(exe: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    node_dir = workdir / str(port)
    node_dir.mkdir(exist_ok=True)
    return subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            # A master that stops answering is failed over to its replica after this long.
            "--cluster-node-timeout",
            "1000",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(node_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ping(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode} on port {port}")
        try:
            if _command(port, "PING", timeout=0.2).startswith("+PONG"):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on port {port}")


def start_cluster(binary: str = "redis-server", cli: str = "redis-cli") -> EmbeddedCluster:
    """Start six cluster-mode nodes on 127.0.0.1, create the cluster, wait until it is ok."""
    exe, cli_exe = shutil.which(binary), shutil.which(cli)
    if exe is None or cli_exe is None:
        raise RuntimeError(
            f"{binary}/{cli} missing: run `make cluster` (it installs Debian's redis-server)"
        )
    ports: list[int] = []
    while len(ports) < NODES:
        # The cluster bus listens on port + 10000: both must be free.
        port = free_port()
        if port + 10000 <= 65535 and port not in ports:
            ports.append(port)
    workdir = Path(tempfile.mkdtemp(prefix="salon-cluster-"))
    processes = {port: _spawn(exe, port, workdir) for port in ports}
    cluster = EmbeddedCluster(ports, processes, workdir)
    try:
        for port, process in processes.items():
            _wait_ping(port, process)
        subprocess.run(
            [
                cli_exe,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                str(REPLICAS),
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=60,
        )
        cluster.wait_ok()
        _wait_replicas(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_replicas(cluster: EmbeddedCluster, timeout: float = 30.0) -> None:
    """Wait until each master has a replica that finished its first sync."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        masters = cluster.masters()
        synced = 0
        for port in masters:
            info = _command(port, "INFO", "replication")
            if "connected_slaves:1" in info and "state=online" in info:
                synced += 1
        if len(masters) == NODES // (REPLICAS + 1) and synced == len(masters):
            return
        time.sleep(0.1)
    raise RuntimeError("the Redis Cluster's replicas did not come online")
