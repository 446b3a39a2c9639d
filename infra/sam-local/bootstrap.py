"""Runs awslambdaric's runtime loop, and ends quietly when the Runtime API goes away.

``sam local`` stops a container by stopping the emulator (its PID 1), which
closes the Runtime API under the client's pending ``/next`` request. The
client's native part then prints ``LAMBDA_RUNTIME Failed to get next invocation.
No Response from endpoint``, and the Python part raises. On Lambda
that is the sandbox being torn down, not an error of the function; so while
(and only while) the runtime waits for the next event, its stderr points at
``/dev/null`` (stdout too), and a failed wait ends the process with status 0. A failed wait
while the emulator is still up cannot be told apart here, so the message is
kept in that case: it is printed again, and the process fails as before.
Everything the function prints, and every other error of the runtime (the
handler cannot be imported, a result cannot be posted), is untouched.
"""

import os
import signal
import socket
import sys
from urllib.parse import urlsplit

from awslambdaric import __main__ as ric
from awslambdaric import lambda_runtime_client


def _runtime_api_is_up(address: str) -> bool:
    """Whether the emulator still accepts connections on AWS_LAMBDA_RUNTIME_API (host:port)."""
    parts = urlsplit(f"//{address}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=1):
            return True
    except OSError:
        return False


class _QuietNext:
    """Stands in for the native client's ``next()``: stderr muted while it blocks."""

    def __init__(self, native: object) -> None:
        self._native = native

    def __getattr__(self, name: str) -> object:
        return getattr(self._native, name)

    def next(self) -> object:
        # The native client logs to stdout or stderr depending on its build: mute both.
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        null = os.open(os.devnull, os.O_WRONLY)
        for fd in saved:
            os.dup2(null, fd)
        os.close(null)
        try:
            return self._native.next()
        except Exception as error:
            self._restore(saved)
            if not _runtime_api_is_up(os.environ.get("AWS_LAMBDA_RUNTIME_API", "")):
                os._exit(0)  # the emulator is gone: the container is being stopped
            print(f"LAMBDA_RUNTIME Failed to get next invocation: {error}", file=sys.stderr, flush=True)
            raise
        finally:
            self._restore(saved)
            for copy in saved.values():
                os.close(copy)

    @staticmethod
    def _restore(saved: dict[int, int]) -> None:
        for fd, copy in saved.items():
            os.dup2(copy, fd)


def main() -> None:
    # A stop that reaches the runtime first ends it as cleanly as one that closes the API first.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if lambda_runtime_client.runtime_client is not None:
        lambda_runtime_client.runtime_client = _QuietNext(lambda_runtime_client.runtime_client)
    ric.main(sys.argv)


if __name__ == "__main__":
    main()
