"""``python -m bench`` (``make bench``): the gateway benchmark (see bench/gateway.py).

The auth benchmark runs on its own: ``python -m bench.auth``.
"""

from bench.gateway import main

if __name__ == "__main__":
    raise SystemExit(main())
