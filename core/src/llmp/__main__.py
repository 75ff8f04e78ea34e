"""``python -m llmp demo``: the command-line entry (the full CLI builds on this)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["demo"]:
        from llmp._demo import main as demo

        return demo(args[1:])
    if args[:1] == ["routes"]:
        import llmp

        for route in llmp.routes():
            print(f"{route.pattern:<20} {route.provider:<12} {route.plugin}")
        return 0
    print("usage: python -m llmp {demo,routes}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
