"""The message catalogues: extract, update, compile and check them (`bureau i18n …`).

Thin over Babel's own `pybabel` commands (babel.messages.frontend), run from the repository
root with babel.cfg; the check reads the catalogues with Babel's parser.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bureau.i18n import DEFAULT_LOCALE, LOCALES

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = Path(__file__).resolve().parents[1] / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
KEYWORDS = [
    "_",
    "gettext",
    "ngettext:1,2",
    "lazy_ngettext:1,2",
    "lazy_gettext",
    "_l",
    "pgettext:1c,2",
    "lazy_pgettext:1c,2",
]


def translated_locales() -> list[str]:
    return [code for code in LOCALES if code != DEFAULT_LOCALE]


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def _pybabel(*arguments: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *arguments])  # type: ignore[no-untyped-call]


def extract(output: Path = TEMPLATE) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    keywords = [part for word in KEYWORDS for part in ("-k", word)]
    _pybabel(
        "extract", "-F", str(ROOT / "babel.cfg"), *keywords, "--no-location", "--sort-output",
        "--project", "Bureau", "-o", str(output), str(ROOT),
    )  # fmt: skip


def update() -> None:
    """Extract, then merge the new template into every language's .po (new empty, changed
    fuzzy), creating a missing one."""
    extract()
    for locale in translated_locales():
        command = "update" if po_path(locale).exists() else "init"
        _pybabel(
            command, "-i", str(TEMPLATE), "-d", str(TRANSLATIONS), "-l", locale,
            *(["--no-fuzzy-matching", "--ignore-obsolete"] if command == "update" else []),
        )  # fmt: skip


def compile_all() -> None:
    _pybabel("compile", "-d", str(TRANSLATIONS), "--statistics")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _mo_bytes(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


@dataclass
class CatalogueReport:
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check() -> CatalogueReport:
    """Every message the code marks is in every language's catalogue, translated, not fuzzy,
    and the committed .mo is the compiled .po."""
    report = CatalogueReport()
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "messages.pot"
        extract(fresh)
        wanted = _read(fresh)
    for locale in translated_locales():
        path = po_path(locale)
        if not path.exists():
            report.problems.append(f"{locale}: no catalogue at {path.relative_to(ROOT)}")
            continue
        catalog = _read(path, locale)
        for message in wanted:
            if not message.id:
                continue
            have = catalog.get(message.id, context=message.context)
            label = message.id if isinstance(message.id, str) else message.id[0]
            if have is None:
                report.problems.append(f"{locale}: missing: {label!r}")
            elif have.fuzzy:
                report.problems.append(f"{locale}: fuzzy: {label!r}")
            elif not (all(have.string) if isinstance(have.string, tuple) else have.string):
                report.problems.append(f"{locale}: untranslated: {label!r}")
        mo = path.with_suffix(".mo")
        if not mo.exists() or mo.read_bytes() != _mo_bytes(catalog):
            report.problems.append(
                f"{locale}: {mo.name} is not the compiled .po: run `bureau i18n compile`"
            )
    return report
