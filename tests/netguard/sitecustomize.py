"""Loaded by Python processes whose PYTHONPATH starts with this folder: refuse and log any
connection or name lookup that leaves the machine, so tests can prove a run stayed offline.

Loopback and Unix sockets are allowed (Beam's workers talk to the runner over
loopback gRPC). Every refused attempt is appended to the file named by
NETGUARD_LOG.
"""

import ipaddress
import os
import socket

_LOG = os.environ.get("NETGUARD_LOG")
_LOCAL_NAMES = {"localhost", "ip6-localhost", "", None}


def _record(what: str) -> None:
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(what + "\n")


def _is_local_host(host) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(address, family) -> None:
    if family == getattr(socket, "AF_UNIX", None) or not isinstance(address, tuple):
        return
    if not _is_local_host(address[0]):
        _record(f"connect {address!r}")
        raise OSError(f"network access refused in tests: {address!r}")


_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self, address):
    _guard(address, self.family)
    return _connect(self, address)


def _guarded_connect_ex(self, address):
    _guard(address, self.family)
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):
    if not _is_local_host(host):
        _record(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"name lookup refused in tests: {host!r}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect
socket.socket.connect_ex = _guarded_connect_ex
socket.getaddrinfo = _guarded_getaddrinfo
