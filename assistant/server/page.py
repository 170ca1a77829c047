"""The voice page at ``/``: static files only (no CDN, works offline), served from web/."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).with_name("web")
# The page loads nothing from elsewhere; say so, so an injected script could not either.
POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
    "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter()


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    """The voice page."""
    return FileResponse(
        WEB / "index.html",
        headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"},
    )


def mount(app: FastAPI) -> None:
    """Serve the page and its files (``/static/...``)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")
