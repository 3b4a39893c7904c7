"""`manage.py runportal` on a fresh var directory: embedded database, admin account,
the four supervised children, and a clean stop on Ctrl-C (SIGINT)."""
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import psutil
import pytest

from tests.fixtures.s3 import free_port
from tests.fixtures.services import ROOT

START_TIMEOUT = 180
CHILDREN = {"web", "worker", "beat", "stub"}


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class Output:
    """Collects a process's output lines from a thread."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream):
        for line in iter(stream.readline, ""):
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, process, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text)
            if match:
                return match
            assert process.poll() is None, f"runportal exited with {process.returncode}:\n{self.text[-6000:]}"
            assert time.monotonic() < deadline, f"{pattern!r} not printed in {timeout} s:\n{self.text[-6000:]}"
            time.sleep(0.2)


def log_in(base_url: str, username: str, password: str) -> str:
    """Log in through the login form with a cookie jar; return the page logged in to."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{base_url}/accounts/login/?next=/account/api-keys/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token,
                                   "next": "/account/api-keys/"}).encode()
    request = urllib.request.Request(f"{base_url}/accounts/login/", data=data, headers={"Referer": f"{base_url}/"})
    with opener.open(request, timeout=10) as response:
        return response.geturl()


@pytest.fixture
def portal_process(tmp_path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "PORTAL_BASE_URL"}}
    env.update({
        "PORT": str(port),
        "PORTAL_VAR_DIR": str(tmp_path / "var"),  # its own embedded PostgreSQL, broker files, password
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_TASK_DEFAULT_QUEUE": f"runportal-test-{os.getpid()}",
        "CACHE_KEY_PREFIX": f"runportal-test-{os.getpid()}",
        "RUNPORTAL_STOP_TIMEOUT": "15",
        "PYTHONUNBUFFERED": "1",
    })
    process = subprocess.Popen([sys.executable, "manage.py", "runportal"], cwd=ROOT, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    output = Output(process.stdout)
    try:
        yield process, output, port, tmp_path / "var"
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for pid in re.findall(r"started \w+ \(pid (\d+)\)", output.text):
            try:
                os.killpg(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.e2e
def test_runportal_serves_logs_in_and_stops_its_whole_tree_on_sigint(portal_process):
    process, output, port, var_dir = portal_process
    url = output.wait_for(r"Portal running at (http://127\.0\.0\.1:\d+)/", process, START_TIMEOUT).group(1)
    assert url == f"http://127.0.0.1:{port}"
    password = output.wait_for(r"password: (\S+)\s+\(shown once", process, 5).group(1)
    children = {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", output.text)}
    assert set(children) == CHILDREN
    postmaster_pid = int((var_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])

    # The password shown once is the one on disk, readable by the owner only, and it logs in.
    password_file = var_dir / "admin-password.txt"
    assert password_file.read_text().strip() == password
    assert password_file.stat().st_mode & 0o777 == 0o600
    with urllib.request.urlopen(f"{url}/accounts/login/", timeout=10) as response:
        assert response.status == 200 and b"Log in" in response.read()
    with urllib.request.urlopen(f"{url}/static/admin/css/base.css", timeout=10) as response:
        assert response.status == 200  # static files served by the real WSGI server
    assert log_in(url, "admin", password) == f"{url}/account/api-keys/"
    # Every child is still up: none died at start-up.
    assert all(not gone(pid) for pid in children.values()), output.text[-6000:]

    os.kill(process.pid, signal.SIGINT)
    assert process.wait(90) == 0, output.text[-6000:]

    assert "all processes stopped" in output.text
    for name, pid in children.items():
        assert gone(pid), f"{name} (pid {pid}) survived"
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)  # nothing left in its process group either
    deadline = time.monotonic() + 15
    while not gone(postmaster_pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert gone(postmaster_pid), "the embedded PostgreSQL kept running"


@pytest.mark.e2e
def test_runportal_stops_the_tree_when_a_child_dies(portal_process):
    process, output, _port, _var_dir = portal_process
    output.wait_for(r"Portal running at ", process, START_TIMEOUT)
    children = {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", output.text)}

    os.killpg(children["beat"], signal.SIGKILL)

    assert process.wait(90) == 1
    assert re.search(r"beat exited unexpectedly with status -9; stopping the portal", output.text)
    assert all(gone(pid) for pid in children.values())
