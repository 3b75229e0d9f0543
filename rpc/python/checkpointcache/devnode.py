"""Start a CheckpointCache node from this repository's build, for tests, examples and benchmarks.

    with DevNode.start() as node:          # temp data dir, own Unix socket and TCP port
        client = CacheClient(node.unix_target)

Finds the node in this order: ``$CHECKPOINTCACHE_NODE`` (a checkpointcache.dll or an executable),
then ``rpc/CheckpointCache.Node/bin/Release/net10.0/checkpointcache.dll`` (and Debug) under the
repository root. Build it first: ``dotnet build -c Release rpc/CheckpointCache.Node``.
Not meant for production: run the node as a service there (see docs/).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(_PKG_DIR, "..", "..", ".."))
_NODE_DIR = os.path.join(REPO_ROOT, "rpc", "CheckpointCache.Node", "bin")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the node if the process that started it dies (a killed test run must not
    leave nodes behind)."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class NodeNotBuilt(RuntimeError):
    pass


def find_node() -> List[str]:
    """The command that runs the node, or raises NodeNotBuilt."""
    env = os.environ.get("CHECKPOINTCACHE_NODE")
    candidates = [env] if env else []
    for cfg in ("Release", "Debug"):
        candidates.append(os.path.join(_NODE_DIR, cfg, "net10.0", "checkpointcache.dll"))
    for c in candidates:
        if c and os.path.isfile(c):
            if c.endswith(".dll"):
                dotnet = shutil.which("dotnet") or "dotnet"
                return [dotnet, c]
            return [c]
    raise NodeNotBuilt("node not built: run `dotnet build -c Release rpc/CheckpointCache.Node` "
                       "or set CHECKPOINTCACHE_NODE (looked for %s)" % ", ".join(candidates))


class DevNode:
    """A node child process with its own data directory, Unix socket and TCP port."""

    def __init__(self, data_dir: str, socket_path: str, args: Sequence[str],
                 log_path: str, owns_dir: Optional[str]):
        self.data_dir = data_dir
        self.socket_path = socket_path
        #: gRPC endpoints the node reported in GetInfo after its last start ("unix:...", "http://...").
        self.endpoints: List[str] = []
        self.args = list(args)
        self.log_path = log_path
        self._owns_dir = owns_dir
        self.proc: Optional[subprocess.Popen] = None

    @property
    def unix_target(self) -> str:
        return "unix:" + self.socket_path

    @property
    def tcp_target(self) -> str:
        """host:port of the node's TCP listener (the OS chose the port; it changes on restart)."""
        for e in self.endpoints:
            if e.startswith("http://"):
                return e[len("http://"):].rstrip("/")
        raise RuntimeError("the node reported no TCP endpoint: %s" % self.endpoints)

    @classmethod
    def start(cls, *, ram: str = "128MiB", ssd: str = "1GiB", segment: str = "64MiB",
              direct_io: bool = False, extra_args: Sequence[str] = (),
              base_dir: Optional[str] = None, ready_timeout: float = 120.0) -> "DevNode":
        """Starts a node with a kv store of ``ram``/``ssd`` budgets. ``direct_io`` is off by
        default so that it also runs where the temp directory is a tmpfs (no O_DIRECT)."""
        cmd = find_node()
        root = tempfile.mkdtemp(prefix="ccnode-", dir=base_dir)
        data = os.path.join(root, "data")
        # Unix socket paths are limited to ~107 bytes: keep it short.
        sock = os.path.join(root, "node.sock")
        if len(sock) > 100:
            sock = os.path.join(tempfile.mkdtemp(prefix="ccs-", dir="/tmp"), "node.sock")
        args = cmd + [
            "serve",
            "--Node:UnixSocketPath=" + sock,
            "--Node:TcpPort=0",          # the OS picks free ports; GetInfo reports them
            "--Node:MetricsPort=0",
            "--Engine:DataDirectory=" + data,
            "--Engine:DirectIo=" + ("true" if direct_io else "false"),
            "--Engine:Namespaces:kv:Kind=Kv",
            "--Engine:Namespaces:kv:RamBytes=" + ram,
            "--Engine:Namespaces:kv:SsdBytes=" + ssd,
            # The SSD budget must hold the RAM tier plus 3 log segments: small segments keep a
            # test node's disk use small.
            "--Engine:Namespaces:kv:SegmentBytes=" + segment,
        ] + list(extra_args)
        node = cls(data, sock, args, os.path.join(root, "node.log"), root)
        node.launch(ready_timeout)
        return node

    def launch(self, ready_timeout: float = 120.0) -> None:
        """Starts (or restarts) the process with the same arguments and waits until it answers."""
        from .client import CacheClient  # local import: devnode has no grpc dependency otherwise
        from .errors import CacheError

        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=os.path.dirname(self.log_path),
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                                     env=dict(os.environ, DOTNET_CLI_TELEMETRY_OPTOUT="1",
                                              DOTNET_NOLOGO="1"))
        log.close()
        deadline = time.monotonic() + ready_timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("node exited with %s during start; log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.socket_path):
                c = CacheClient(self.unix_target, meta_timeout=2, retries=0)
                try:
                    self.endpoints = list(c.get_info().endpoints)
                    return
                except CacheError as e:
                    last = e
                finally:
                    c.close()
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("node did not answer within %.0fs (%s); log:\n%s"
                           % (ready_timeout, last, self.log_tail()))

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit; by pid."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, ready_timeout: float = 120.0) -> None:
        self.stop()
        self.launch(ready_timeout)

    def log_tail(self, n: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self._owns_dir, ignore_errors=True)
            sd = os.path.dirname(self.socket_path)
            if sd != self._owns_dir and os.path.basename(sd).startswith("ccs-"):
                shutil.rmtree(sd, ignore_errors=True)

    def __enter__(self) -> "DevNode":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
