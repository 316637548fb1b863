"""Certificate search on SQLite and PostgreSQL: the text is found as typed, LIKE's wildcards
in it ("_", "%") match only themselves (before, a search for "_" listed every certificate)."""
from __future__ import annotations

from ca import service as ca_service
from ca.search import search_certificates
from ca.testing import soft_region
from store.testing import *  # noqa: F401,F403

CREDIT_CODE = "91350100M000100Y43"


def _issue(home, ks, name: str) -> str:
    key_ref = ks.generate(f"key-{len(name)}-{abs(hash(name))}", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject=f"C=CN,O={name},CN={name}", credit_code=CREDIT_CODE)
    return format(cert.serial_number, "x")


def _names(page) -> set[str]:
    return {row.subject for row in page.rows}


def test_wildcards_in_the_text_match_themselves(eseal_home) -> None:
    ks, _ = soft_region(eseal_home, "search test passphrase")
    for name in ("张_三科技", "张X三科技", "百分之100%公司", "百分之1000公司"):
        _issue(eseal_home, ks, name)
    underscore = search_certificates(eseal_home, text="张_三")
    assert underscore.total == 1 and all("张_三" in s for s in _names(underscore)), _names(underscore)
    percent = search_certificates(eseal_home, text="100%")
    assert percent.total == 1 and all("100%" in s for s in _names(percent)), _names(percent)
    assert search_certificates(eseal_home, text="_").total == 1
    assert search_certificates(eseal_home, text="\\").total == 0
    assert search_certificates(eseal_home, text="科技").total == 2      # plain text as before


def test_a_serial_is_found_by_a_part_of_it(eseal_home) -> None:
    ks, _ = soft_region(eseal_home, "search test passphrase")
    serial = _issue(eseal_home, ks, "某某局")
    found = search_certificates(eseal_home, text=serial[2:12].upper())
    assert found.total == 1 and int(found.rows[0].serial, 16) == int(serial, 16)


def test_the_subject_is_found_as_the_list_shows_it(eseal_home) -> None:
    """The list shows "Common Name: 某某局"; searching for that text found nothing while every
    colon was taken out of it (for serials typed as 1f:2e:...)."""
    ks, _ = soft_region(eseal_home, "search test passphrase")
    serial = _issue(eseal_home, ks, "某某局")
    shown = search_certificates(eseal_home, text="某某局").rows[0].subject
    label = shown[shown.index("某某局") - 4:shown.index("某某局") + 3]
    assert ":" in label
    assert search_certificates(eseal_home, text=label).total == 1
    colons = ":".join(serial[i:i + 2] for i in range(2, 12, 2))
    assert search_certificates(eseal_home, text=colons).total == 1
