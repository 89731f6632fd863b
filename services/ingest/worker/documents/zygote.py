"""The sandbox's fork server: ``python -m services.ingest.worker.documents.zygote FD``.

Started once per worker by :class:`.sandbox.Sandbox` with one end of a
``SOCK_SEQPACKET`` socket pair as ``FD``. It imports the document libraries and their
models (:mod:`.preload`), leaves the network for good (a namespace of its own, when
the host allows; every child inherits it), then serves:

- ``("run", request_id, payload)`` with one file descriptor (the write end of a pipe):
  fork a child that applies its limits, runs the operation and writes the pickled
  outcome to that pipe; answer ``("started", request_id, pid)``.
- Every child that ends is reaped and reported: ``("exited", pid, exit code)``
  (negative: the signal that killed it).

When the worker goes away (the socket closes) it kills its children and exits.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import selectors
import signal
import socket
import sys
from typing import Any

MAX_MESSAGE = 1 << 20


def _limit(limits: dict[str, int]) -> None:
    os.setsid()  # its own process group: the worker kills the group
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (limits["memory_bytes"], limits["memory_bytes"]))
    output = limits["max_output_bytes"]
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _run_child(result_fd: int, payload: bytes) -> None:
    """In the forked child: never returns."""
    code = 0
    try:
        from services.ingest.worker.documents.errors import DocumentRejected
        from services.ingest.worker.documents.operations import OPERATIONS

        operation, arguments, limits = pickle.loads(payload)  # noqa: S301 (from our parent)
        _limit(limits)
        try:
            outcome: tuple[str, Any] = ("ok", OPERATIONS[operation](**arguments))
        except DocumentRejected as exc:
            outcome = ("rejected", exc.reason)
        except MemoryError:
            outcome = ("rejected", "processing the document needs more memory than allowed")
        except RecursionError:
            outcome = ("rejected", "the document is nested too deeply")
        except OSError as exc:  # the machine's fault (disk full, ...): worth a retry
            outcome = ("error", f"{type(exc).__name__}: {str(exc)[:300]}")
        except Exception as exc:
            # A library that chokes on this document will choke on every retry.
            outcome = ("failed", (type(exc).__name__, str(exc)[:300]))
        data = pickle.dumps(outcome)
        with os.fdopen(result_fd, "wb") as result:
            result.write(data)
    except BaseException:
        code = 70
    finally:
        os._exit(code)


def serve(control: socket.socket, network_isolated: bool) -> None:
    children: set[int] = set()
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ, "control")
    selector.register(wakeup_read, selectors.EVENT_READ, "signal")
    control.send(pickle.dumps(("ready", os.getpid(), network_isolated)))
    try:
        while True:
            for key, _ in selector.select():
                if key.data == "signal":
                    os.read(wakeup_read, 4096)
                elif not _serve_request(control, children):
                    return
            _reap(control, children)
    finally:
        for pid in children:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)


def _serve_request(control: socket.socket, children: set[int]) -> bool:
    try:
        message, fds, _, _ = socket.recv_fds(control, MAX_MESSAGE, 1)
    except ConnectionError:
        return False
    if not message:
        return False  # the worker closed its end
    _, request_id, payload = pickle.loads(message)  # noqa: S301 (from our parent)
    pid = os.fork()
    if pid == 0:
        control.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _run_child(fds[0], payload)
    os.close(fds[0])
    children.add(pid)
    control.send(pickle.dumps(("started", request_id, pid)))
    return True


def _reap(control: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        control.send(pickle.dumps(("exited", pid, os.waitstatus_to_exitcode(status))))


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    isolate = os.environ.get("QUARRY_SANDBOX_ISOLATE_NETWORK") == "1"
    import services.ingest.worker.documents.preload  # noqa: F401 (warms every child)
    from services.ingest.worker.documents.isolation import leave_network

    serve(control, leave_network() if isolate else False)


if __name__ == "__main__":
    main()
