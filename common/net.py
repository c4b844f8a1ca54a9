"""Loopback and TCP probes shared by the launcher, the runtime and the Kafka checks."""

from __future__ import annotations

import os
import socket


def tcp_open(server: str, timeout: float = 1.0) -> bool:
    """Whether `host:port` accepts a TCP connection within `timeout` seconds."""
    host, _, port = server.strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def port_is_free(host: str, port: int) -> bool:
    """Whether a listener could bind `host:port` now.

    Binding (with SO_REUSEADDR, as the JVM does) rather than connecting: a
    port in TIME_WAIT is free for the broker, one held by anything else is not.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free on `host` right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
