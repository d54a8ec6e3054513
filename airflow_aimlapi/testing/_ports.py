"""Free TCP ports for servers a test starts later (Airflow components, log servers, fakes)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: Where :func:`free_port` looks: below Linux's default ephemeral range (32768-60999).
_LISTEN_PORTS = range(20000, 32768)


def _ephemeral_ports() -> range:
    # The kernel hands these out to outgoing connections and bind(0) in every process on the
    # machine, so a port picked from them can be taken in the seconds before an Airflow
    # component, slow to start, binds it (seen in CI as an api-server exiting at start-up).
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


#: Ports this process has handed out: a stack asks for several before any server binds one.
_HANDED_OUT: set[int] = set()
#: Not the global ``random``: a test (Hypothesis does) may seed that, and two processes seeded
#: alike would then pick the same ports.
_RANDOM = random.SystemRandom()


def free_port() -> int:
    """Return a TCP port that is free right now, for a server a test starts later.

    Chosen at random outside the kernel's ephemeral range, so no outgoing connection or
    ``bind(0)`` elsewhere on the machine takes it before the server binds it, never one this
    process handed out before, and checked free on every interface (Airflow's log servers listen
    on all of them). Where the ephemeral range leaves no room, the kernel picks (``bind(0)``).
    """
    ephemeral = _ephemeral_ports()
    outside = [p for p in _LISTEN_PORTS if p not in ephemeral]
    if not outside:
        return _kernel_port()
    candidates = [p for p in outside if p not in _HANDED_OUT]
    for port in _RANDOM.sample(candidates, min(200, len(candidates))):
        try:
            for host in ("0.0.0.0", "127.0.0.1"):
                with socket.socket() as sock:
                    sock.bind((host, port))
        except OSError:
            continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free TCP port found outside the ephemeral range")


def _kernel_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    _HANDED_OUT.add(port)
    return port
