"""Tests of the supervisor: self-check, start, record, stop, restart (processes)."""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from mangetamain import revision as rev
from mangetamain import serve
from tests.conftest import git


def free_port():
    """A port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_server(port):
    """A stand-in server command answering ``ok`` at /_stcore/health (not Streamlit)."""
    code = textwrap.dedent(f"""
        import http.server
        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")
            def log_message(self, *a):
                pass
        http.server.HTTPServer(("127.0.0.1", {port}), H).serve_forever()
        """)
    return [sys.executable, "-c", code]


def break_app(checkout, line):
    """Commits an ``app.py`` that runs ``line`` first."""
    script = checkout / "app.py"
    script.write_text(line + "\n" + script.read_text())
    git(checkout, "commit", "-q", "-am", "break")


def test_self_check_passes_for_the_app_and_names_errors(checkout):
    assert serve.self_check(checkout / "app.py") == []
    break_app(checkout, "import nonexistent_module  # noqa")
    assert serve.self_check(checkout / "app.py") == [
        "No module named 'nonexistent_module'"
    ]


def test_self_check_reports_a_script_that_cannot_start(tmp_path):
    errors = serve.self_check(tmp_path / "missing.py")
    assert len(errors) == 1


def test_helpers():
    assert serve.health_url("", 8501) == "http://127.0.0.1:8501/_stcore/health"
    assert serve.health_url("0.0.0.0", 1) == "http://127.0.0.1:1/_stcore/health"
    assert serve.health_url("::1", 2) == "http://[::1]:2/_stcore/health"
    assert serve.streamlit_command("app.py", "", 8)[-4:] == [
        "--server.port",
        "8",
        "--server.headless",
        "true",
    ]
    assert serve.streamlit_command("app.py", "::", 8)[-2:] == ["--server.address", "::"]
    assert serve.answers_ok(f"http://127.0.0.1:{free_port()}/") is False


def test_child_env_puts_src_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/x")
    assert serve.child_env(tmp_path)["PYTHONPATH"] == f"{tmp_path / 'src'}:/x"
    monkeypatch.delenv("PYTHONPATH")
    assert serve.child_env(tmp_path)["PYTHONPATH"] == str(tmp_path / "src")


def test_port_is_free():
    port = free_port()
    assert serve.port_is_free("127.0.0.1", port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        assert not serve.port_is_free("127.0.0.1", port)
    assert serve.port_is_free("::1", free_port()) in (True, False)


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_run_writes_the_record_while_serving_and_removes_it_after(checkout):
    port = free_port()
    sha = git(checkout, "rev-parse", "HEAD")
    rev.write_revision(checkout, rev.Revision("d" * 40, "old", 1, "h"))
    seen = []

    def stop_once_recorded():
        wait_for(
            lambda: (r := rev.read_revision(checkout)) is not None and r.sha == sha
        )
        seen.append(rev.read_revision(checkout))
        # The supervisor (this process) forwards SIGTERM to the server it started.
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=stop_once_recorded)
    thread.start()
    code = serve.run(checkout, "127.0.0.1", port, 60, tiny_server(port))
    thread.join(60)
    assert code == 0
    assert seen[0].pid not in (None, os.getpid())
    assert rev.read_revision(checkout) is None


def test_run_refuses_a_broken_commit_and_serves_nothing(checkout):
    break_app(checkout, "raise RuntimeError('boom at import')")
    rev.write_revision(checkout, rev.Revision("d" * 40, "old", 1, "h"))
    port = free_port()
    assert serve.run(checkout, "127.0.0.1", port, 60, tiny_server(port)) == 1
    assert rev.read_revision(checkout) is None


def test_run_refuses_a_held_port_and_a_directory_without_git(checkout, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert serve.run(checkout, "127.0.0.1", port, 60, check=False) == 1
    assert serve.run(tmp_path, "127.0.0.1", free_port(), 60) == 2


def test_run_when_the_server_exits_or_never_answers(checkout):
    port = free_port()
    code = serve.run(
        checkout, "", port, 60, [sys.executable, "-c", "exit(3)"], check=False
    )
    assert code == 3
    hang = [sys.executable, "-c", "import time; time.sleep(60)"]
    assert serve.run(checkout, "", free_port(), 0.5, hang, check=False) == 1
    assert rev.read_revision(checkout) is None


def test_run_when_the_server_exits_as_it_starts_serving(checkout, monkeypatch):
    port = free_port()
    calls = []

    def answers_then_dies(url, timeout=2.0):
        calls.append(url)
        wait_for(lambda: len(calls) > 1 or True)
        time.sleep(1.0)
        return True

    monkeypatch.setattr(serve, "answers_ok", answers_then_dies)
    code = serve.run(
        checkout, "", port, 60, [sys.executable, "-c", "exit(0)"], check=False
    )
    assert code == 1


def run_cli(checkout, *args):
    return subprocess.run(
        [sys.executable, str(checkout / "serve.py"), "--app-dir", str(checkout), *args],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_restart_stops_the_old_process_and_waits_for_the_new_one(checkout):
    port = str(free_port())
    sha1 = git(checkout, "rev-parse", "HEAD")
    first = run_cli(checkout, "restart", "--port", port, "--address", "127.0.0.1")
    assert first.returncode == 0, first.stderr
    old = rev.read_revision(checkout)
    assert old.sha == sha1
    (checkout / "static/.gitkeep").write_text("x")
    git(checkout, "commit", "-q", "-am", "second")
    sha2 = git(checkout, "rev-parse", "HEAD")
    second = run_cli(checkout, "restart", "--port", port, "--address", "127.0.0.1")
    assert second.returncode == 0, second.stderr
    new = rev.read_revision(checkout)
    assert (new.sha, new.pid != old.pid) == (sha2, True)
    assert not serve._alive(old.pid)
    assert run_cli(checkout, "stop").returncode == 0
    assert rev.read_revision(checkout) is None
    assert not serve._alive(new.pid)


def test_restart_of_a_broken_commit_fails_with_the_log(checkout):
    break_app(checkout, "import nonexistent_module  # noqa")
    result = run_cli(checkout, "restart", "--port", str(free_port()))
    assert result.returncode == 1
    assert "No module named 'nonexistent_module'" in result.stderr
    assert rev.read_revision(checkout) is None


def test_restart_without_waiting_and_a_timeout(checkout):
    port = str(free_port())
    quick = run_cli(checkout, "restart", "--port", port, "--wait", "0")
    assert quick.returncode == 0
    assert "started the app" in quick.stderr
    slow = run_cli(checkout, "restart", "--port", port, "--wait", "0.1")
    assert slow.returncode == 1
    assert "does not serve" in slow.stderr
    run_cli(checkout, "stop")


def test_stop_without_a_process(tmp_path):
    assert serve.stop(tmp_path, 1) is False
    (tmp_path / "serve.pid").write_text("garbage")
    assert serve.stop(tmp_path, 1) is False
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "serve.pid").write_text(str(dead.pid))
    assert serve.stop(tmp_path, 1) is False


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path):
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
            "print('ready', flush=True); time.sleep(60)",
        ],
        start_new_session=True,
        stdout=subprocess.PIPE,
    )
    assert stubborn.stdout.readline() == b"ready\n"
    (tmp_path / "serve.pid").write_text(str(stubborn.pid))
    assert serve.stop(tmp_path, 0.5) is True
    assert stubborn.wait(30) == -signal.SIGKILL


def test_main_runs_in_process(checkout, monkeypatch):
    calls = []
    monkeypatch.setattr(serve, "run", lambda *a, **k: calls.append((a, k)) or 0)
    monkeypatch.setattr(serve, "restart", lambda *a: calls.append(a) or 0)
    assert serve.main(["--app-dir", str(checkout), "run", "--port", "9"]) == 0
    assert calls[-1] == ((checkout, "", 9, 120.0), {"check": True})
    argv = [
        "--app-dir",
        str(checkout),
        "restart",
        "--address",
        "::1",
        "--no-self-check",
    ]
    assert serve.main(argv) == 0
    assert calls[-1][2] == [
        "--port",
        "8501",
        "--start-timeout",
        "120.0",
        "--address",
        "::1",
        "--no-self-check",
    ]
    assert serve.main(["--app-dir", str(checkout), "stop"]) == 0


def test_alive_of_a_zombie():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: not serve._alive(child.pid))
    child.wait()
    assert serve._alive(os.getpid())


@pytest.mark.parametrize("missing", [True])
def test_tail_of_a_missing_log(tmp_path, missing):
    assert serve._tail(tmp_path / "none.log", 3) == []
