"""The stored texts' digest follows the rendering exactly; the columns follow the languages."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pytest

from query.exports.texts import DIGEST_PARAM, guarded, texts_sql
from schemas.readable import catalogs
from schemas.readable.catalogs import LANGUAGES
from schemas.readable.sql import readable_sql
from schemas.stored_texts import (
    MATERIALIZED_LANGUAGES,
    add_columns,
    digest_column,
    stored_sql,
    stored_text_columns,
    text_columns,
    texts_digest,
)


@pytest.fixture
def fresh_caches() -> Iterator[None]:
    stored_sql.cache_clear()
    texts_digest.cache_clear()
    yield
    stored_sql.cache_clear()
    texts_digest.cache_clear()


def test_each_language_has_its_own_digest_and_it_is_a_uint64() -> None:
    digests = [texts_digest(lang) for lang in LANGUAGES]
    assert len(set(digests)) == len(LANGUAGES)
    assert all(0 < d < 2**64 for d in digests)


@pytest.mark.usefixtures("fresh_caches")
def test_any_catalog_edit_changes_that_languages_digest_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {lang: texts_digest(lang) for lang in LANGUAGES}
    original = catalogs.messages

    def edited(lang: str) -> Mapping[str, str]:
        texts = dict(original(lang))
        if lang == "fr":
            texts["outcome.failed"] += "!"
        return texts

    monkeypatch.setattr(catalogs, "messages", edited)
    stored_sql.cache_clear()
    texts_digest.cache_clear()
    after = {lang: texts_digest(lang) for lang in LANGUAGES}
    assert after["fr"] != before["fr"]
    assert after["en"] == before["en"]


def test_the_stored_expressions_are_the_exports_sql_on_the_bare_details_column() -> None:
    for lang in LANGUAGES:
        exported = readable_sql(lang)
        stored = stored_sql(lang)
        assert stored == {k: v.replace("activity.details", "details") for k, v in exported.items()}
        assert "activity.details" not in " ".join(stored.values())


def test_columns_per_language() -> None:
    assert text_columns("en") == {
        "action_text": "action_text",
        "status_text": "status_text",
        "additional_info": "additional_info",
    }
    assert "fr" in MATERIALIZED_LANGUAGES and "en" not in MATERIALIZED_LANGUAGES
    assert text_columns("fr")["additional_info"] == "additional_info_fr"
    assert next(iter(stored_text_columns())) == "texts_digest_en"
    for lang in MATERIALIZED_LANGUAGES:
        statement = add_columns(lang)
        assert statement.count("ADD COLUMN IF NOT EXISTS") == 4
        assert f"{digest_column(lang)} UInt64 MATERIALIZED {texts_digest(lang)}" in statement


def test_an_export_reads_stored_columns_only_with_the_stale_row_guard() -> None:
    assert texts_sql(True, "fr") == text_columns("fr")
    assert texts_sql(False, "fr") == readable_sql("fr")
    where, params = guarded(True, "fr", "partner_id = {p:String}", {"p": "x"})
    assert where.startswith("(partner_id = {p:String}) AND NOT throwIf(texts_digest_fr != ")
    assert params == {"p": "x", DIGEST_PARAM: texts_digest("fr")}
    assert guarded(False, "fr", "w", {}) == ("w", {})
