"""PDF from HTML for the bureau's paper (contracts, invoices): one renderer, WeasyPrint.

The HTML is the same page the reader sees in the browser, rendered by a template; the PDF is
made from it with ``static/css/print.css``. WeasyPrint may fetch only the project's own static
files: the text of a document comes partly from the public (names, organizations), and a
renderer that followed any URL in it would let a request reach the network from the worker.
Chinese, Japanese and Korean names need a CJK font installed (Debian: ``fonts-noto-cjk``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bureau.resources import resource_dir

PRINT_CSS = "css/print.css"


def _static_file(url: str) -> Path:
    """The project's static file ``url`` names; anything else is refused."""
    static = resource_dir("static").resolve()
    if url.startswith("file://"):
        path = Path(url.removeprefix("file://").split("?")[0]).resolve()
        if path.is_relative_to(static) and path.is_file():
            return path
    raise ValueError(f"documents may not load {url[:80]!r}")


def render_pdf(html: str) -> bytes:
    """The PDF of ``html`` (a whole page from a template), printed with ``print.css``."""
    # Imported here: WeasyPrint loads Pango at import, which only the processes that print need.
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            return URLFetcherResponse(url, _static_file(url).read_bytes())

    fetcher = StaticOnly()
    static = resource_dir("static")
    stylesheets = [CSS(filename=str(static / PRINT_CSS), url_fetcher=fetcher)]
    document = HTML(string=html, base_url=static.as_uri() + "/", url_fetcher=fetcher)
    pdf = document.write_pdf(stylesheets=stylesheets)
    assert pdf is not None
    return bytes(pdf)
