"""Serve the WhatsApp simulator: `python -m simulator --port 8080 --rasa-webhook URL`.

Reads WHATSAPP_API_TOKEN, WHATSAPP_PHONE_NUMBER_ID and WHATSAPP_APP_SECRET (required) and
WHATSAPP_BUSINESS_ACCOUNT_ID, WHATSAPP_API_VERSION (optional), as the channel does. Point the
channel at it with WHATSAPP_GRAPH_API_URL=http://127.0.0.1:<port>. Listens on 127.0.0.1 only.
LOG_LEVEL (default WARNING) sets how much it logs; secrets and phone numbers are masked.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional

from aiohttp import web

from connectors import redact
from simulator.app import make_app
from simulator.settings import DEFAULT_BUSINESS_NAME, DEFAULT_RASA_WEBHOOK, Settings, SettingsError

HOST = "127.0.0.1"


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default 8080)")
    parser.add_argument("--rasa-webhook", default=DEFAULT_RASA_WEBHOOK,
                        help=f"the channel's webhook URL (default {DEFAULT_RASA_WEBHOOK})")
    parser.add_argument("--business-name", default=DEFAULT_BUSINESS_NAME, help="shown in the chat header")
    parser.add_argument("--display-phone-number", default=None,
                        help="the business number in webhooks (digits; default 15550001234)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    """Serve the simulator until interrupted."""
    args = parse_args(argv)
    redact.install()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
                        format="%(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env(rasa_webhook=args.rasa_webhook, business_name=args.business_name,
                                     display_phone_number=args.display_phone_number)
    except SettingsError as exc:
        sys.exit(str(exc))
    root = f"http://{HOST}:{args.port}"

    def announce(_: str) -> None:
        print(f"WhatsApp simulator: {root}/\n"
              f"  Graph API stand-in: {root}/{settings.api_version} (set WHATSAPP_GRAPH_API_URL={root})\n"
              f"  webhooks go to:     {settings.rasa_webhook}", flush=True)

    web.run_app(make_app(settings), host=HOST, port=args.port, print=announce, shutdown_timeout=2.0,
                access_log=None)


if __name__ == "__main__":
    main()
