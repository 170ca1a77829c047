"""The voice page at ``/`` and the API docs at ``/docs``: local files only (no CDN, offline).

The page is served from web/; Swagger UI's files come from the ``swagger-ui-bundle`` package.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

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


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI over /openapi.json, from local files."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="assistant API",
        swagger_js_url="/docs-static/swagger-ui-bundle.js",
        swagger_css_url="/docs-static/swagger-ui.css",
        swagger_favicon_url="/docs-static/favicon-32x32.png",
    )


def mount(app: FastAPI) -> None:
    """Serve the page and its files (``/static/...``), and the docs (``/docs``)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=WEB), name="static")
    app.mount("/docs-static", StaticFiles(directory=Path(str(swagger_ui_path))), name="docs")
