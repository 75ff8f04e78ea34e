"""What keeping keys out of logs and errors costs (`llmp._secrets`).

    .venv/bin/python bench/scrubbing.py

The scrubbing log record factory runs only for records that are created. With logging off (the
logger below its level) ``logger.debug(...)`` returns before any record exists, so the cost
with the factory installed must equal the cost without it. With logging on, each record pays one
format and one regular-expression scan of its message. Best of 7 runs, ns per call.
"""

from __future__ import annotations

import logging
import secrets
import sys
import timeit

from llmp import _secrets, errors

N = 200_000
REPEATS = 7


def best_ns(statement: str, scope: dict[str, object], number: int = N) -> float:
    return min(timeit.repeat(statement, globals=scope, number=number, repeat=REPEATS)) / number * 1e9


class Formatting(logging.Handler):
    """Formats each record (what a real handler does) and drops it."""

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def measure() -> dict[str, float]:
    off = logging.getLogger("bench.off")
    off.setLevel(logging.WARNING)
    on = logging.getLogger("bench.on")
    on.setLevel(logging.DEBUG)
    on.addHandler(Formatting())
    on.propagate = False
    scope = {"off": off, "on": on, "errors": errors, "headers": {"content-type": "application/json"}}
    return {
        "logger.debug(...), logging off": best_ns("off.debug('sent %s', headers)", scope),
        "logger.debug(...), logging on": best_ns("on.debug('sent %s', headers)", scope, N // 4),
        "ProviderError(...)": best_ns("errors.ServerError('upstream failed', provider='x')", scope),
    }


def main() -> None:
    print(f"python {sys.version.split()[0]}, ns per call, best of {REPEATS}")
    measure()  # warm-up: the first round pays for caches and specialisation
    before = measure()
    for _ in range(3):  # a realistic process: a few providers' keys
        _secrets.register("sk-" + secrets.token_urlsafe(32))
    after = measure()
    print(f"{'':<36}{'no key':>10}{'3 keys':>10}{'ratio':>8}")
    for name, ns in before.items():
        print(f"{name:<36}{ns:>10.0f}{after[name]:>10.0f}{after[name] / ns:>8.2f}")
    text = "Invalid header value: Bearer sk-not-a-registered-key " + "x" * 150
    scope = {"scrub": _secrets.scrub, "text": text}
    print(f"\nscrub() of a 200-character message with 3 keys: {best_ns('scrub(text)', scope):.0f} ns")


if __name__ == "__main__":
    main()
