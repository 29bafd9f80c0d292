"""Offline guard for the test suite: running an installer or reaching the network is an error.

The test session imports this module and puts its folder first on ``PYTHONPATH``, so every
Python child process (scripts, paddle2onnx conversions, distributed workers) imports it too, as
``sitecustomize``. A subprocess running an installer (pip, uv, conda, apt ...) or a socket
connecting anywhere but this machine raises :class:`OfflineViolation` and is recorded in the
file ``$OCTCONV_OFFLINE_LOG``, which the session checks at its end, so an attempt is caught
even when the code that made it swallows the exception.
"""
from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess

__all__ = ["OfflineViolation", "installer_in", "install", "LOG_VARIABLE"]

LOG_VARIABLE = "OCTCONV_OFFLINE_LOG"
_INSTALLERS = re.compile(r"^(pip[0-9.]*|easy_install|uv|conda|mamba|micromamba|apt|apt-get|"
                         r"npm|ensurepip)$")


class OfflineViolation(RuntimeError):
    """A run-time install or network connection under the offline guard."""


def _words(command) -> list:
    """The words of a command line, given as a string or a list (whose items may be scripts)."""
    parts = [command] if isinstance(command, (str, bytes, os.PathLike)) else list(command)
    return [word for part in parts for word in re.split(r"[\s;&|()'\"]+", os.fsdecode(part))]


def installer_in(command) -> str:
    """The installer a command line runs ('' if none): ``pip``, ``python -m pip``, ``uv`` ..."""
    words = [os.path.basename(w) for w in _words(command) if w]
    for position, word in enumerate(words):
        if _INSTALLERS.match(word) and (position == 0 or words[position - 1] in ("-m", "sudo", "env")
                                        or os.path.basename(words[0]).startswith(("sh", "bash"))):
            return word
    return ""


def _record(what: str) -> None:
    log = os.environ.get(LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"pid {os.getpid()}: {what}\n")
    raise OfflineViolation(f"offline guard: {what}")


def _local_addresses() -> set:
    addresses = {"localhost"}
    try:
        addresses.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return addresses


def _is_local(address) -> bool:
    if not isinstance(address, tuple):  # AF_UNIX paths and the like
        return True
    host = address[0]
    try:
        return ipaddress.ip_address(host).is_loopback or host in _local_addresses()
    except ValueError:  # a host name
        return host in _local_addresses()


def install() -> None:
    """Wrap subprocess creation, os.system and socket connections (idempotent)."""
    if getattr(subprocess.Popen, "_offline_guard", False):
        return
    popen_init = subprocess.Popen.__init__

    def guarded_init(self, args, *rest, **kwargs):
        installer = installer_in(args)
        if installer:
            _record(f"run-time install attempted ({installer}): {args!r}")
        popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = guarded_init
    subprocess.Popen._offline_guard = True

    system = os.system

    def guarded_system(command):
        if installer_in(command):
            _record(f"run-time install attempted (os.system): {command!r}")
        return system(command)

    os.system = guarded_system

    for name in ("connect", "connect_ex"):
        original = getattr(socket.socket, name)

        def guarded(self, address, _original=original, _name=name):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
                _record(f"network connection attempted (socket.{_name}): {address!r}")
            return _original(self, address)

        setattr(socket.socket, name, guarded)


if os.environ.get(LOG_VARIABLE):
    install()
