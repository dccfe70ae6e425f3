"""Finds user-visible text that is not marked for translation (`bureau i18n check`).

Templates: every piece of literal text in a Jinja template (outside ``{% trans %}`` and
``_()``), and the words in ``title``, ``alt``, ``placeholder``, ``aria-label`` and
``value`` of a button, once the markup is stripped. Python: string literals given where a
reader will see them — ``flash()``, ``abort()``'s description, a WTForms field's label or a
validator's ``message=``, a ``ValidationError`` — in the modules under ``bureau/``.

What is not words (a reference like BR-2027-00042, a symbol, a brand: EXEMPT) passes.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from bureau.i18n.catalogues import ROOT

# Text that reads the same in every language: product and format names, units, codes.
EXEMPT = frozenset(
    {"Bureau", "ICS", "iCal", "CSV", "PDF", "JSON", "API", "UTC", "IMAP", "SMTP", "OK", "ID",
     "URL", "HTTP", "CalDAV", "BR", "INV", "QR", "Celery", "Redis", "PostgreSQL", "SQLite",
     "OpenAPI", "ISO", "Bootstrap", "MIME", "GDPR", "SLA", "p50", "p95", "p99", "HTML", "SHA",
     "PID"}
)  # fmt: skip
_WORD = re.compile(r"[^\W\d_]{2,}")
_SHOWN_ATTRIBUTES = frozenset({"title", "alt", "placeholder", "aria-label"})
# The agreement the bureau starts from is its legal text, which its admin edits and words.
TEMPLATE_EXEMPT = ("contracts/default_agreement.html",)


@dataclass(frozen=True)
class Unmarked:
    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.text!r}"


def words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text) if word not in EXEMPT]


class _Shown(HTMLParser):
    """The text a browser would show from a piece of markup (tags' shown attributes too,
    unless ``attributes`` is False: the page's running text alone)."""

    def __init__(self, *, attributes: bool = True) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._attributes = attributes

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs if self._attributes else ():
            if value and (name in _SHOWN_ATTRIBUTES or (name == "value" and tag == "button")):
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def shown_text(markup: str, *, attributes: bool = True) -> str:
    parser = _Shown(attributes=attributes)
    parser.feed(markup)
    parser.close()
    return html.unescape(" ".join(parser.parts))


# A trans block is marked text; any other Jinja construct is a value, not words.
_TRANS_BLOCK = re.compile(r"\{%-?\s*trans\b.*?\{%-?\s*endtrans\s*-?%\}", re.S)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


def _blank(match: re.Match[str]) -> str:
    """A construct as a placeholder with its line breaks, so line numbers still hold."""
    return "\N{SECTION SIGN}" + "\n" * match.group(0).count("\n")


class _Lines(_Shown):
    """_Shown that remembers the line each piece of text starts on."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        before = len(self.parts)
        super().handle_starttag(tag, attrs)
        self.found.extend((self.getpos()[0], text) for text in self.parts[before:])

    def handle_data(self, data: str) -> None:
        before = len(self.parts)
        super().handle_data(data)
        self.found.extend((self.getpos()[0], text) for text in self.parts[before:])


def in_template(source: str, name: str) -> Iterator[Unmarked]:
    plain = _JINJA.sub(_blank, _TRANS_BLOCK.sub(_blank, source))
    if name.endswith((".txt", ".ics")):
        pieces = list(enumerate(plain.splitlines(), start=1))
    else:
        parser = _Lines()
        parser.feed(plain)
        parser.close()
        pieces = [(line, html.unescape(text)) for line, text in parser.found]
    for line, text in pieces:
        if words(text):
            yield Unmarked(name, line, " ".join(text.split())[:80])


def templates(root: Path = ROOT / "templates") -> Iterator[Unmarked]:
    for path in sorted(root.rglob("*")):
        if path.suffix not in (".html", ".txt") or not path.is_file():
            continue
        name = path.relative_to(root).as_posix()
        if name.startswith(TEMPLATE_EXEMPT):
            continue
        yield from in_template(path.read_text(encoding="utf-8"), f"templates/{name}")


_MARKERS = frozenset(
    {"_", "gettext", "lazy_gettext", "_l", "ngettext", "lazy_ngettext", "pgettext", "lazy_pgettext"}
)
_FIELD = re.compile(r"[A-Z]\w*Field$")


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) for v in node.values if isinstance(v, ast.Constant))
    return None


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _shown_arguments(call: ast.Call) -> Iterator[ast.AST]:
    name = _name(call)
    if name == "flash" and call.args:
        yield call.args[0]
    elif name == "abort" and len(call.args) > 1:
        yield call.args[1]
    elif name in ("ValidationError", "StopValidation") and call.args:
        yield call.args[0]
    elif _FIELD.search(name):
        if call.args:
            yield call.args[0]
        yield from (k.value for k in call.keywords if k.arg in ("label", "description"))
    for keyword in call.keywords:
        if keyword.arg == "message" and name not in ("error", "warning", "info", "debug"):
            yield keyword.value


def in_module(source: str, name: str) -> Iterator[Unmarked]:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or _name(node) in _MARKERS:
            continue
        for argument in _shown_arguments(node):
            text = _literal(argument)
            if text is not None and words(text):
                yield Unmarked(name, getattr(argument, "lineno", node.lineno), text[:80])


def modules(root: Path = ROOT / "bureau") -> Iterator[Unmarked]:
    for path in sorted(root.rglob("*.py")):
        yield from in_module(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())


def everything(prefixes: tuple[str, ...] = ()) -> list[Unmarked]:
    found = [*templates(), *modules()]
    return [item for item in found if not prefixes or item.path.startswith(prefixes)]
