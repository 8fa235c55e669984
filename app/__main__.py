"""``python -m app [--host H] [--port P]``: serve the sentiment model (knobs: app/settings.py)."""

from __future__ import annotations

import argparse
import sys

from app.server import serve
from app.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="Serve the sentiment model over HTTP.",
        epilog="Knobs by environment: APP_CPU_WORK_MS, APP_STARTUP_DELAY_S, MODEL_NAME, "
               "APP_MODEL_PATH, APP_MAX_TEXTS (see app/README.md).")
    parser.add_argument("--host", default=None,
                        help="address to listen on (default: $APP_HOST or 127.0.0.1)")
    parser.add_argument("--port", default=None,
                        help="TCP port (default: $APP_PORT or 8080)")
    parser.add_argument("--log-level", default="info",
                        choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    try:
        serve(args.host, args.port, log_level=args.log_level)
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
