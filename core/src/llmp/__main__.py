"""``python -m llmp``: the same as the ``llmp`` command (``python -m llmp demo``, ``routes``, ...)."""

from __future__ import annotations

from llmp._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
