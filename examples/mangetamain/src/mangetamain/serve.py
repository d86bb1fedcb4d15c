"""Start, supervise and restart the app: what serves is provably the deployed commit.

``python serve.py run`` (the container's command) does, in order:

1. removes a ``static/revision.txt`` left by an earlier process;
2. reads the commit checked out (``.git``, without git);
3. runs the app's script once headless (Streamlit's ``AppTest``): a commit whose
   script raises, at import or in its first run, stops here with status 1 and
   never serves;
4. starts ``streamlit run`` on a port no other process holds, and waits for its
   ``/_stcore/health``;
5. writes ``static/revision.txt`` (the app's name, the commit, the start time, the
   server's pid), which Streamlit serves at ``/app/static/revision.txt``: the
   deploy's health gate expects the SHA there, the hourly check ``Mangetamain``;
6. forwards SIGTERM/SIGINT to the server and, when it ends, removes its record.

``python serve.py restart`` is the ``restart-command`` of an app run as a plain
process (no docker): it stops the supervisor recorded in ``.run/serve.pid``, starts
a new one detached, and waits until it serves (or says why not, with status 1).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mangetamain import revision as rev

SCRIPT = "app.py"
"""The app's Streamlit script, relative to the app's directory."""


def log(message: str) -> None:
    """Writes one line to stderr, prefixed so it reads well in container logs.

    Args:
        message: The line.
    """
    print(f"serve: {message}", file=sys.stderr, flush=True)


def self_check(script: Path, timeout: float = 120.0) -> list[str]:
    """Runs the app's script once, headless, as a session would.

    Args:
        script: The Streamlit script.
        timeout: How long the run may take, in seconds.

    Returns:
        The errors the script raised (empty when it ran cleanly).
    """
    from streamlit.testing.v1 import AppTest

    try:
        at = AppTest.from_file(str(script), default_timeout=timeout).run()
    except Exception as e:  # AppTest raises when the run times out or cannot start.
        return [f"{type(e).__name__}: {e}"]
    return [str(e.value) for e in at.exception]


def port_is_free(address: str, port: int) -> bool:
    """Whether no process listens on the port (so our server is the one that answers).

    Args:
        address: The address the server will bind ("" for every address).
        port: The port.

    Returns:
        True when the port can be bound.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # As servers do: connections in TIME_WAIT do not hold the port, a listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def health_url(address: str, port: int) -> str:
    """The local health URL of the server.

    Args:
        address: The bound address ("" or a wildcard means loopback).
        port: The port.

    Returns:
        ``http://<host>:<port>/_stcore/health``.
    """
    host = address if address not in ("", "0.0.0.0", "::") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/_stcore/health"


def answers_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether the URL answers ``200`` with body ``ok``.

    Args:
        url: The URL.
        timeout: Seconds for the request.

    Returns:
        True on ``200 ok``.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return bool(resp.status == 200 and resp.read().strip() == b"ok")
    except (OSError, urllib.error.URLError):
        return False


def streamlit_command(script: str, address: str, port: int) -> list[str]:
    """The server's command line.

    Args:
        script: The script, relative to the app's directory.
        address: The address to bind ("" for Streamlit's default).
        port: The port.

    Returns:
        The argument vector.
    """
    cmd = [sys.executable, "-m", "streamlit", "run", script]
    cmd += ["--server.port", str(port), "--server.headless", "true"]
    if address:
        cmd += ["--server.address", address]
    return cmd


def child_env(root: Path) -> dict[str, str]:
    """The server's environment: ours, with the app's ``src`` first on ``PYTHONPATH``.

    Args:
        root: The app's directory.

    Returns:
        The environment.
    """
    env = dict(os.environ)
    paths = [str(root / "src")] + [p for p in env.get("PYTHONPATH", "").split(":") if p]
    env["PYTHONPATH"] = ":".join(paths)
    return env


def run(
    root: Path,
    address: str,
    port: int,
    start_timeout: float,
    command: Sequence[str] | None = None,
    check: bool = True,
) -> int:
    """Checks, starts and supervises the server (``serve.py run``).

    Args:
        root: The app's directory (a git checkout).
        address: The address to bind.
        port: The port.
        start_timeout: Seconds the server may take to answer its health endpoint.
        command: The server's command (default: ``streamlit run``).
        check: Run the self-check first.

    Returns:
        The exit status: 0 after a clean stop, 1 when the app cannot serve, 2 when the
        directory is not a checkout.
    """
    if rev.remove_revision(root):
        log(f"removed the revision record of an earlier process ({rev.REVISION_FILE})")
    try:
        sha = rev.checkout_revision(root)
    except rev.RevisionError as e:
        log(str(e))
        return 2
    log(f"commit {sha}")
    if check:
        errors = self_check(root / SCRIPT)
        if errors:
            for error in errors:
                log(f"self-check failed: {SCRIPT} raised: {error}")
            log("not serving this commit: fix the error above (the deploy rolls back)")
            return 1
        log(f"self-check passed: {SCRIPT} ran cleanly")
    if not port_is_free(address, port):
        log(f"port {port} is held by another process: stop it first")
        return 1
    child = subprocess.Popen(
        list(command or streamlit_command(SCRIPT, address, port)),
        cwd=root,
        env=child_env(root),
        stdin=subprocess.DEVNULL,
    )
    forward = _forward_signals(child)
    try:
        url = health_url(address, port)
        deadline = time.monotonic() + start_timeout
        while not answers_ok(url):
            if child.poll() is not None:
                log(f"the server exited with status {child.returncode} before serving")
                return child.returncode or 1
            if time.monotonic() > deadline:
                log(f"the server did not answer {url} within {start_timeout:g}s")
                child.terminate()
                child.wait()
                return 1
            time.sleep(0.2)
        if child.poll() is not None:
            log("the server exited as it started serving")
            return child.returncode or 1
        record = rev.new_revision(sha, child.pid)
        rev.write_revision(root, record)
        log(f"serving {sha[:7]} (pid {child.pid}); wrote {rev.REVISION_FILE}")
        code = child.wait()
        log(f"the server stopped with status {code}")
        return code if code > 0 else 0
    finally:
        rev.remove_revision(root, pid=child.pid)
        forward()


def _forward_signals(child: subprocess.Popen[Any]) -> Any:
    """Forwards SIGTERM and SIGINT to the child; returns a function undoing it."""
    previous = {}

    def handler(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child, not reaped yet) is not serving.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def stop(run_dir: Path, timeout: float) -> bool:
    """Stops the supervisor recorded in ``run_dir/serve.pid``: SIGTERM, then SIGKILL.

    Args:
        run_dir: The directory of the pid file and the log.
        timeout: Seconds to wait after SIGTERM.

    Returns:
        Whether a running supervisor was stopped.
    """
    pidfile = run_dir / "serve.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    pidfile.unlink(missing_ok=True)
    if not _alive(pid):
        return False
    log(f"stopping the app (pid {pid})")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            log(f"pid {pid} still runs {timeout:g}s after SIGTERM: SIGKILL")
            os.killpg(pid, signal.SIGKILL)
            break
        time.sleep(0.1)
    return True


def restart(root: Path, run_dir: Path, argv: Sequence[str], wait: float) -> int:
    """Restarts the app run as a plain process (``serve.py restart``).

    Args:
        root: The app's directory.
        run_dir: Where the pid file and the log are.
        argv: The arguments of ``serve.py run`` (port, address).
        wait: Seconds to wait until the new process serves (0: do not wait).

    Returns:
        0 once the new process serves (or at once without waiting), 1 when it exits or
        does not serve in time.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    stop(run_dir, timeout=20.0)
    logfile = run_dir / "serve.log"
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(root / "serve.py"), "run", *argv],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    (run_dir / "serve.pid").write_text(f"{proc.pid}\n")
    log(f"started the app (pid {proc.pid}), log in {logfile}")
    if wait <= 0:
        return 0
    sha = rev.checkout_revision(root)
    deadline = time.monotonic() + wait
    while True:
        record = rev.read_revision(root)
        if record is not None and record.sha == sha and _alive(record.pid):
            log(f"serving {sha[:7]} (pid {record.pid})")
            return 0
        if proc.poll() is not None:
            log(f"the app exited with status {proc.returncode}; its log ends with:")
            for line in _tail(logfile, 15):
                log(f"  {line}")
            return 1
        if time.monotonic() > deadline:
            log(f"the app does not serve {sha[:7]} after {wait:g}s; see {logfile}")
            return 1
        time.sleep(0.2)


def _tail(path: Path, n: int) -> list[str]:
    try:
        return path.read_text("utf-8", errors="replace").splitlines()[-n:]
    except OSError:
        return []


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: ``run``, ``restart`` or ``stop``.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="serve.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--app-dir", type=Path, default=Path.cwd())
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "restart"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, default=8501)
        p.add_argument("--address", default="")
        p.add_argument("--start-timeout", type=float, default=120.0)
        p.add_argument("--no-self-check", action="store_true")
        if name == "restart":
            p.add_argument("--run-dir", type=Path)
            p.add_argument("--wait", type=float, default=180.0)
    p = sub.add_parser("stop")
    p.add_argument("--run-dir", type=Path)
    args = parser.parse_args(argv)
    root = args.app_dir.resolve()
    if args.command == "run":
        return run(
            root,
            args.address,
            args.port,
            args.start_timeout,
            check=not args.no_self_check,
        )
    run_dir = args.run_dir or root / ".run"
    if args.command == "stop":
        stop(run_dir, timeout=20.0)
        return 0
    forwarded = ["--port", str(args.port), "--start-timeout", str(args.start_timeout)]
    if args.address:
        forwarded += ["--address", args.address]
    if args.no_self_check:
        forwarded.append("--no-self-check")
    return restart(root, run_dir, forwarded, args.wait)
