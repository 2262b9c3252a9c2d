"""Real servers on loopback for tests and benchmarks: PostgreSQL and ``chroma run``.

``PostgresCluster`` runs Debian's PostgreSQL 15 binaries (``pg_config --bindir``: off
the PATH) on a free loopback port, its data in a temp dir that the ``postgres`` user
owns when we are root (PostgreSQL refuses to run as root). ``stop`` keeps the data so
``start`` brings the same database back, as an operator restarting it would; ``close``
removes it, unless the cluster was made in a folder of the caller's (``root``), which
a later ``PostgresCluster(root)`` opens again. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import chromadb
import psycopg


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pg_bindir() -> Path:
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


class PostgresCluster:
    user = "newsqa"
    password = "newsqa-test"
    database = "newsqa"

    def __init__(self, root: Path | None = None) -> None:
        self.port = free_port()
        self.kept = root is not None
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="newsqa-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        self._bin = pg_bindir()
        self.started = False
        if (self.data / "PG_VERSION").exists():
            return  # a kept cluster, opened again
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)  # the postgres user must reach it
        if self._as_root:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        secret = self.root / "password"
        secret.write_text(self.password)
        if self._as_root:
            os.chown(secret, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", self.user, "--auth=scram-sha-256",
            f"--pwfile={secret}", "-E", "UTF8", "--locale=C.UTF-8",
        )  # fmt: skip
        secret.unlink()

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str, password: str | None = None) -> str:
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
        self.started = True
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as db:
            if not db.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone():
                db.execute(f'CREATE DATABASE "{self.database}"')

    def stop(self, mode: str = "fast") -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
            self.started = False

    def close(self) -> None:
        if self.kept:
            self.stop()
            return
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def fresh_database(self, name: str) -> str:
        """A new empty database on this cluster, by URL (one per test keeps them apart)."""
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}\n{log}")


def wait_for_port(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


class ChromaServer:
    """A real ``chroma run`` on loopback; ``stop`` and ``start`` again keep its port and
    its data, as an operator restarting it would."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
        command = [chroma, "run", "--host", "127.0.0.1", "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--path", str(self.path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                return
            except Exception:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    self.stop()
                    raise RuntimeError("chroma run did not start") from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=30)
            self._process = None
