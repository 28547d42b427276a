"""A pytest plugin that fails any test reaching a host other than the loopback interface.

Register it in ``tests/conftest.py`` with ``pytest_plugins = ["network_guard"]`` (``tests/``
is on ``sys.path``). At configure time it wraps ``socket.socket.connect``/``connect_ex`` and
``socket.getaddrinfo``: a non-loopback destination raises ``NetworkBlocked`` (an ``OSError``,
so client libraries see a connection failure) and is recorded; an autouse fixture then fails
the test that made the attempt, even when a library swallowed the error and retried.
Unix sockets, ``localhost``, 127.0.0.0/8 and ::1 are allowed, so local servers still work.
Other processes (a server started by a fixture) are not affected.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

blocked: list[str] = []
_originals: dict[str, Any] = {}


class NetworkBlocked(OSError):
    """A test tried to reach a non-loopback host."""


def is_loopback(host: Any) -> bool:
    if host is None or host == "" or host == b"":
        return True  # getaddrinfo(None, port) resolves to the local wildcard / loopback
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost


def _refuse(what: str) -> None:
    blocked.append(what)
    raise NetworkBlocked(f"tests must not reach the network: {what} (only loopback is allowed)")


def _check_address(sock: socket.socket, address: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        if not is_loopback(address[0]):
            _refuse(f"connect to {address[0]}:{address[1]}")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    return _originals["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _originals["connect_ex"](self, address)


def _guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if not is_loopback(host):
        _refuse(f"resolve {host!r}")
    return _originals["getaddrinfo"](host, port, *args, **kwargs)


def install() -> None:
    """Wrap the socket functions (idempotent)."""
    if _originals:
        return
    _originals.update(
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
        getaddrinfo=socket.getaddrinfo,
    )
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


def uninstall() -> None:
    if not _originals:
        return
    socket.socket.connect = _originals["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _originals["connect_ex"]  # type: ignore[method-assign]
    socket.getaddrinfo = _originals["getaddrinfo"]
    _originals.clear()


def pytest_configure(config: pytest.Config) -> None:
    install()


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall()


@pytest.fixture(autouse=True)
def _no_network() -> Iterator[None]:
    """Fail the test if it tried to reach a non-loopback host, even if the error was caught."""
    blocked.clear()
    yield
    if blocked:
        attempts = "; ".join(dict.fromkeys(blocked))
        blocked.clear()
        pytest.fail(f"test tried to reach the network: {attempts}", pytrace=False)
