"""The demo upload page (/demo) and the browser module it uses (/static/upload.js).

Off by default. The page embeds one of the signer's API tokens so a person can try an upload
without writing code, which is why the settings refuse SIGNER_DEMO unless the signer listens
on a loopback address only.
"""

from __future__ import annotations

import html
import ipaddress
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from signer.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_TEMPLATE = STATIC_DIR / "demo.html"
CONFIG_PLACEHOLDER = "__SIGNER_DEMO_CONFIG__"

# The page holds a bearer token: keep it out of caches, referrers and other sites' frames, and
# let it run only its own scripts. Storage is another origin, so connections and images may go
# to any http(s) host the signer's URLs name.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        "connect-src 'self' http: https:; img-src 'self' http: https: blob: data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def is_loopback_listen(listen: str) -> bool:
    """True when a ``host:port`` listen address accepts connections from this machine only."""
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def render_demo_page(
    *, token: str, profiles: Sequence[str], default_profile: str | None, signer_url: str = ""
) -> str:
    """The page with its config (token, profile names) in a meta tag, HTML-escaped."""
    config: dict[str, Any] = {
        "token": token,
        "profiles": list(profiles),
        "default_profile": default_profile,
        "signer_url": signer_url,
    }
    attribute = html.escape(json.dumps(config, separators=(",", ":")), quote=True)
    return PAGE_TEMPLATE.read_text(encoding="utf-8").replace(CONFIG_PLACEHOLDER, attribute)


def demo_routes(settings: Settings) -> list[BaseRoute]:
    """GET /demo (the page, rendered once) and /static/* (its assets and upload.js)."""
    page = render_demo_page(
        token=settings.api_tokens[0],
        profiles=sorted(settings.policy.profiles),
        default_profile=settings.policy.default_profile,
    )

    async def demo_page(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers=PAGE_HEADERS)

    return [
        Route("/demo", demo_page, methods=["GET"], name="demo"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
