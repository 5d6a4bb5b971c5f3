"""Translations: the committed catalogues are complete, they compile and are used; money formatting."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import force_locale, gettext

from booking.core.i18n import CATALOGUES, compile_catalogues, current_language, format_yuan
from tests.conftest import csrf_token

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ("zh_CN", "en")
# the extra keywords passed to `pybabel extract` (docs/translations.md)
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}


def load_catalogue(locale: str):
    with (CATALOGUES / locale / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=locale)


def babel_method_map() -> list[tuple[str, str]]:
    """babel.cfg's sections, ``[method: pattern]``, as extract_from_dir wants them."""
    config = configparser.ConfigParser()
    config.read(ROOT / "babel.cfg", encoding="utf-8")
    pairs = []
    for section in config.sections():
        method, _, pattern = section.partition(":")
        pairs.append((pattern.strip(), method.strip()))
    return pairs


def extracted_msgids() -> set[str]:
    msgids = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=babel_method_map(), keywords=KEYWORDS
    ):
        msgids.add(message[0] if isinstance(message, tuple) else message)
    return msgids


# --- catalogue completeness ------------------------------------------------------------------------------


def test_babel_cfg_covers_every_package_and_the_templates():
    patterns = dict(babel_method_map())
    assert patterns == {
        "booking/**.py": "python",
        "instruments/**.py": "python",
        "vouchers/**.py": "python",
        "*/templates/**.html": "jinja2",
    }


def test_extraction_finds_the_strings_of_views_forms_and_templates():
    msgids = extracted_msgids()
    # one from each kind of source: a template, a form label (lazy), a view message, a role label
    assert {"Register a team", "Team name", "E-mail or password is wrong.", "lab manager"} <= msgids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_extracted_message_is_in_the_catalogue(locale):
    catalogue = load_catalogue(locale)
    missing = sorted(extracted_msgids() - {m.id for m in catalogue if m.id})
    assert not missing, f"run the pybabel commands in docs/translations.md and translate: {missing}"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_and_reviewed(locale):
    catalogue = load_catalogue(locale)
    messages = [m for m in catalogue if m.id]
    assert messages
    untranslated = [m.id for m in messages if not m.string]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert not untranslated, f"{locale}: no translation for {untranslated}"
    assert not fuzzy, f"{locale}: fuzzy (unreviewed) translations for {fuzzy}"
    assert not list(catalogue.obsolete), f"{locale}: drop obsolete entries (pybabel update --ignore-obsolete)"


def test_chinese_catalogue_is_in_chinese():
    catalogue = load_catalogue("zh_CN")
    not_chinese = [m.id for m in catalogue if m.id and not any("\u4e00" <= ch <= "\u9fff" for ch in m.string)]
    assert not not_chinese, f"left in English: {not_chinese}"


def test_english_catalogue_repeats_the_source_strings():
    catalogue = load_catalogue("en")
    assert all(m.string == m.id for m in catalogue if m.id)


# --- compiling and using the catalogues ------------------------------------------------------------------


def test_catalogues_compile_to_where_gettext_looks(tmp_path):
    compile_catalogues(tmp_path)
    zh = Translations.load(str(tmp_path), ["zh_Hans_CN"])  # how Babel spells the locale zh_CN
    assert zh.gettext("Sign in") == "登录"
    en = Translations.load(str(tmp_path), ["en"])
    assert en.gettext("lab manager") == "lab manager"


def test_compiling_again_rewrites_only_stale_catalogues(tmp_path):
    compile_catalogues(tmp_path)
    mo_files = sorted(tmp_path.rglob("*.mo"))
    assert len(mo_files) == len(LOCALES)
    mtimes = [p.stat().st_mtime_ns for p in mo_files]
    compile_catalogues(tmp_path)
    assert [p.stat().st_mtime_ns for p in mo_files] == mtimes


def test_app_translates_with_the_committed_catalogues(app):
    with app.test_request_context():
        with force_locale("zh_CN"):
            assert gettext("Register a team") == "登记团队"
            assert current_language() == "zh_CN"
        with force_locale("en"):
            assert gettext("Register a team") == "Register a team"
            assert current_language() == "en"


def test_default_language_is_chinese(app):
    with app.test_request_context():
        assert current_language() == "zh_CN"
        assert gettext("Teams") == "团队"


def test_form_validation_messages_follow_the_language(client, make, login):
    login(make.user("founder"))
    token = csrf_token(client, "/teams/new")
    data = {
        "name": "",
        "university": "U",
        "organization": "O",
        "district_code": "500106",
        "csrf_token": token,
    }
    assert "该字段是必填字段" in client.post("/teams/new", data=data).get_data(as_text=True)
    client.get("/language/en")
    assert "This field is required." in client.post("/teams/new", data=data).get_data(as_text=True)


# --- money ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "shown"),
    [
        (0, "¥0.00"),
        (1, "¥0.01"),
        (99, "¥0.99"),
        (100, "¥1.00"),
        (123456, "¥1,234.56"),
        (100000000, "¥1,000,000.00"),
        (-5, "-¥0.05"),
        (-123456, "-¥1,234.56"),
        (None, "—"),
    ],
)
def test_format_yuan(fen, shown):
    assert format_yuan(fen) == shown


def test_yuan_filter_in_templates(app):
    with app.test_request_context():
        template = app.jinja_env.from_string("{{ a|yuan }} / {{ b|yuan }} / {{ c|yuan }}")
        assert template.render(a=123456, b=-5, c=None) == "¥1,234.56 / -¥0.05 / —"


def test_processes_compiling_at_once_never_collide(tmp_path):
    """gunicorn's workers (and the test processes) start together and compile into one folder: each
    writes its own temporary file and renames it, so none fails on another's half-written file."""
    script = (
        "import sys, pathlib\n"
        "from booking.core.i18n import compile_catalogues\n"
        "target = pathlib.Path(sys.argv[1])\n"
        "for _ in range(40):\n"
        "    for mo in target.rglob('*.mo'):\n"
        "        mo.unlink(missing_ok=True)\n"
        "    compile_catalogues(target)\n"
    )
    root = Path(__file__).resolve().parents[2]
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root, stderr=subprocess.PIPE)
        for _ in range(6)
    ]
    errors = [run.communicate(timeout=120)[1].decode() for run in runs]
    assert [run.returncode for run in runs] == [0] * 6, [e[-500:] for e in errors if e]
    assert Translations.load(str(tmp_path), ["zh_Hans_CN"]).gettext("Sign in") == "登录"
    assert not list(tmp_path.rglob("*.tmp"))
