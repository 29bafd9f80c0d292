"""The suite's offline guard (tests/offline_guard) catches installs and network access, in this
process and in child processes, so the export and training tests that run under it mean it."""
from __future__ import annotations

import socket
import subprocess
import sys

import pytest


@pytest.fixture
def own_log(tmp_path, monkeypatch):
    """Record this test's (intended) violations in its own file, not the session's."""
    log = tmp_path / "violations.log"
    monkeypatch.setenv("OCTCONV_OFFLINE_LOG", str(log))
    return log


@pytest.mark.parametrize("command, installer", [
    (["pip", "install", "x"], "pip"),
    (["/usr/bin/pip3", "install", "x"], "pip3"),
    ([sys.executable, "-m", "pip", "install", "onnx_graphsurgeon"], "pip"),
    ("python -m pip install x", "pip"),
    ("apt-get install -y foo", "apt-get"),
    (["bash", "-c", "cd /tmp && uv pip install x"], "uv"),
    ([sys.executable, "-c", "print(1)"], ""),
    (["git", "status"], ""),
    ([sys.executable, "script.py", "--name", "pip"], ""),
])
def test_installer_detection(offline_guard, command, installer):
    assert offline_guard.installer_in(command) == installer


def test_pip_in_this_process_is_refused_and_recorded(offline_guard, own_log):
    with pytest.raises(offline_guard.OfflineViolation, match="run-time install attempted"):
        subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    assert "pip" in own_log.read_text()


def test_pip_in_a_child_process_is_refused_and_recorded(own_log):
    child = "import subprocess; subprocess.run(['pip', 'install', 'onnx_graphsurgeon'])"
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "OfflineViolation" in proc.stderr
    assert "onnx_graphsurgeon" in own_log.read_text()


def test_connections_leave_the_machine_only_as_errors(offline_guard, own_log):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(offline_guard.OfflineViolation, match="network connection"):
            sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never a real host
    assert "192.0.2.1" in own_log.read_text()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # loopback stays allowed
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    with server, socket.create_connection(server.getsockname(), timeout=5):
        pass
