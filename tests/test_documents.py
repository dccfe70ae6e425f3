"""The one PDF renderer: text (Chinese names included) survives, and it fetches nothing."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from bureau.documents import _static_file, render_pdf


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_page_becomes_a_pdf_with_its_words_and_chinese_names() -> None:
    pdf = render_pdf("<html><body><h1>Speaking agreement</h1><p>张伟 (Zhang Wei)</p></body></html>")
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf)
    assert "Speaking agreement" in text
    assert "张伟" in text
    assert "Page 1 of 1" in text  # print.css was loaded through the static-only fetcher


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "data:text/css,x"]
)
def test_the_renderer_fetches_only_the_projects_static_files(url: str) -> None:
    with pytest.raises(ValueError, match="may not load"):
        _static_file(url)


def test_a_page_with_a_remote_image_still_prints_without_fetching_it() -> None:
    html = '<html><body><img src="http://169.254.169.254/x.png"><p>Invoice</p></body></html>'
    assert "Invoice" in _text(render_pdf(html))
