"""The French catalogue is complete, compiled, up to date with the source, and used by the UI."""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from comptoir.web.tests.helpers import post_login

PO = Path(settings.LOCALE_PATHS[0]) / "fr" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
SOURCE_ROOT = Path(settings.BASE_DIR)


def parse_po(path: Path) -> list[dict]:
    """Entries of a .po file as dicts: msgid, msgid_plural, msgstr (list of forms), flags."""
    entries: list[dict] = []
    entry: dict | None = None
    field: tuple[str, int] | None = None
    for line in [*path.read_text(encoding="utf-8").split("\n"), ""]:
        if not line.strip() or line.startswith("#~"):
            if entry is not None:
                entries.append(entry)
            entry, field = None, None
            continue
        if entry is None:
            entry = {"msgid": "", "msgid_plural": None, "msgctxt": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        else:
            keyword, _, rest = line.partition(" ")
            if keyword.startswith('"'):
                rest = line
            elif keyword.startswith("msgstr["):
                field = ("msgstr", int(keyword[7:-1]))
            elif keyword == "msgstr":
                field = ("msgstr", 0)
            else:
                field = (keyword, -1)
            text = ast.literal_eval(rest)  # PO strings use C escapes, which Python reads the same
            assert field is not None, f"continuation line without a keyword: {line!r}"
            name, index = field
            if name == "msgstr":
                entry["msgstr"][index] = entry["msgstr"].get(index, "") + text
            else:
                entry[name] = (entry[name] or "") + text
    return entries


def nplurals(header: str) -> int:
    match = re.search(r"nplurals=(\d+)", header)
    assert match, "the .po header has no Plural-Forms"
    return int(match.group(1))


# %(name)s and %s / %d conversions, {name} brace fields, and HTML-like tags must survive translation.
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*\d*(?:\.\d+)?[sdifrx%]|\{[^{}]*\}|</?[A-Za-z][^>]*>")


def placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    return parse_po(PO)


def test_header_is_french_utf8_and_not_fuzzy(catalogue):
    header = catalogue[0]
    assert header["msgid"] == ""
    assert "fuzzy" not in header["flags"]
    assert "Language: fr\n" in header["msgstr"][0]
    assert "charset=UTF-8" in header["msgstr"][0]


def test_every_entry_is_translated_and_not_fuzzy(catalogue):
    forms = nplurals(catalogue[0]["msgstr"][0])
    problems = []
    for entry in catalogue[1:]:
        if "fuzzy" in entry["flags"]:
            problems.append(f"fuzzy: {entry['msgid']!r}")
        expected = range(forms) if entry["msgid_plural"] is not None else range(1)
        if sorted(entry["msgstr"]) != list(expected):
            problems.append(f"wrong number of plural forms: {entry['msgid']!r}")
        if any(not entry["msgstr"].get(i, "").strip() for i in expected):
            problems.append(f"untranslated: {entry['msgid']!r}")
    assert len(catalogue) > 300
    assert not problems, "\n".join(problems)


def test_placeholders_and_tags_are_kept(catalogue):
    problems = []
    for entry in catalogue[1:]:
        for index, translated in entry["msgstr"].items():
            source = entry["msgid"] if index == 0 or entry["msgid_plural"] is None else entry["msgid_plural"]
            # The singular French form may leave out a count the English singular also omits; never add one.
            if placeholders(source) != placeholders(translated):
                problems.append(f"{entry['msgid']!r} [{index}]: {translated!r}")
    assert not problems, "\n".join(problems)


def test_french_typography_is_consistent(catalogue):
    """Guillemets « » rather than English quotes, and no plain space before : ; ? ! or inside « »."""
    problems = []
    for entry in catalogue[1:]:
        for translated in entry["msgstr"].values():
            if re.search(r" [;?!»]| :|« ", translated) or re.search(r"[“”]", translated):
                problems.append(repr(translated))
    assert not problems, "\n".join(problems)


def test_compiled_catalogue_matches_the_po(catalogue):
    """The committed .mo (CI does not compile) holds exactly the .po's current translations."""
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    stale = []
    for entry in catalogue[1:]:
        msgid = entry["msgid"] if entry["msgctxt"] is None else f"{entry['msgctxt']}\x04{entry['msgid']}"
        if entry["msgid_plural"] is None:
            if compiled.get(msgid) != entry["msgstr"][0]:
                stale.append(entry["msgid"])
        elif any(compiled.get((msgid, i)) != text for i, text in entry["msgstr"].items()):
            stale.append(entry["msgid"])
    assert not stale, "run `comptoir compilemessages`; the .mo is stale for:\n" + "\n".join(map(repr, stale))


def test_catalogue_has_every_string_of_the_source(tmp_path, catalogue):
    """Extract the strings from a copy of the source, as makemessages does, and find each in the .po."""
    assert shutil.which("xgettext"), "makemessages needs GNU gettext (apt install gettext)"
    copy = tmp_path / "src"
    shutil.copytree(
        SOURCE_ROOT,
        copy,
        ignore=shutil.ignore_patterns("locale", "tests", "__pycache__", "comptoir-data", "static", "*.mo", "*.po"),
    )
    (copy / "locale").mkdir()
    previous = Path.cwd()
    os.chdir(copy)
    try:
        # The copy's own locale dir only: the committed catalogue must not be touched.
        with override_settings(LOCALE_PATHS=[copy / "locale"]):
            call_command("makemessages", locale=["fr"], no_obsolete=True, verbosity=0)
    finally:
        os.chdir(previous)
    fresh = parse_po(copy / "locale" / "fr" / "LC_MESSAGES" / "django.po")
    known = {(e["msgctxt"], e["msgid"], e["msgid_plural"]) for e in catalogue}
    missing = [e["msgid"] for e in fresh[1:] if (e["msgctxt"], e["msgid"], e["msgid_plural"]) not in known]
    assert len(fresh) > 300
    assert not missing, "run makemessages -l fr and translate:\n" + "\n".join(map(repr, missing))


ENGLISH_LOGIN = ["Log in", "Password", "Language"]
FRENCH_LOGIN = ["Se connecter", "Mot de passe"]
ENGLISH_HOME = ["Settings", "Home", "Log out", "Search…", "Your roles", "Two-factor authentication"]
FRENCH_HOME = ["Paramètres", "Accueil", "Se déconnecter", "Rechercher…", "Vos rôles"]
ENGLISH_SETTINGS = ["Settings", "Users", "Sites", "API keys", "Trade name", "Legal name", "Share capital"]
FRENCH_SETTINGS = ["Paramètres", "Utilisateurs", "Établissements", "Clés d’API", "Nom commercial", "Raison sociale"]


def visible_text(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    # Keep attribute texts people see or hear (placeholder, title, aria-label), drop the markup.
    attrs = " ".join(re.findall(r'(?:placeholder|title|aria-label)="([^"]*)"', html))
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html) + " " + attrs)


def absent(words: list[str], text: str) -> list[str]:
    return [w for w in words if not re.search(r"(?<!\w)" + re.escape(w) + r"(?!\w)", text)]


@pytest.mark.django_db
def test_login_page_in_french_by_default_and_in_english_on_request(client):
    french = visible_text(client.get("/login/"))
    assert '<html lang="fr">' in client.get("/login/").content.decode()
    assert absent(FRENCH_LOGIN, french) == []
    assert absent(ENGLISH_LOGIN, french) == ENGLISH_LOGIN
    switched = client.post("/language/", {"language": "en", "next": "/login/"})
    assert switched.status_code == 302
    english = visible_text(client.get("/login/"))
    assert absent(ENGLISH_LOGIN, english) == []
    assert absent(FRENCH_LOGIN, english) == FRENCH_LOGIN


@pytest.mark.django_db
def test_home_and_settings_in_french_then_in_english(client, personas):
    user = personas.users["management"]
    assert post_login(client, user.email).status_code == 302
    pages = {"/": (FRENCH_HOME, ENGLISH_HOME), "/settings/company/": (FRENCH_SETTINGS, ENGLISH_SETTINGS)}
    for url, (french_words, english_words) in pages.items():
        text = visible_text(client.get(url))
        assert absent(french_words, text) == [], url
        assert absent(english_words, text) == english_words, url
    assert client.post("/language/", {"language": "en", "next": "/"}).status_code == 302
    user.refresh_from_db()
    assert user.language == "en"
    for url, (french_words, english_words) in pages.items():
        text = visible_text(client.get(url))
        assert absent(english_words, text) == [], url
        assert absent(french_words, text) == french_words, url


@pytest.mark.django_db
def test_form_errors_are_french(client, personas):
    """Messages built in Python (lazy translations) follow the language too, placeholders filled in."""
    response = client.post("/login/", {"email": personas.users["sales"].email, "password": "wrong-password"})
    assert response.status_code == 422
    assert "L’e-mail ou le mot de passe est incorrect." in response.content.decode()
