"""Citizen ID (GB 11643), unified social credit code (GB 32100), organization code (GB 11714)."""
import datetime as dt

import pytest

from ca import identifiers
from ca.errors import InvalidIdentifier

# GB 11643-1999's own example number, and lower-case x accepted and normalised.
GOOD_IDS = ["11010519491231002X", "11010519491231002x"]
# Widely published valid USCC (check char '3'); the ones below were computed by hand
# from GB 32100's weights (see test_uscc_check_char_examples).
GOOD_USCC = ["91350100M000100Y43"]


@pytest.mark.parametrize("value", GOOD_IDS)
def test_citizen_id_accepts_valid(value):
    assert identifiers.citizen_id(value) == value.upper()


@pytest.mark.parametrize("value, message", [
    ("110105194912310021", "wrong check character '1' (expected 'X')"),
    ("11010519491231002Y", "check character must be a digit or 'X'"),
    ("1101051949123100", "must have 18 characters, got 16"),
    ("11010519491331002X", "birth date '19491331' is not a valid date"),
    ("99010519491231002X", "'99' is not a province code"),
    ("1101051949A231002X", "first 17 characters must be digits"),
    ("110105189912310021", None),
])
def test_citizen_id_refuses_with_reason(value, message):
    with pytest.raises(InvalidIdentifier) as err:
        identifiers.citizen_id(value)
    if message:
        assert message in str(err.value)


def test_citizen_id_birth_date_in_future_refused():
    body = "11010520300101001"
    value = body + identifiers.citizen_id_check_char(body)
    with pytest.raises(InvalidIdentifier, match="birth date 2030-01-01 is out of range"):
        identifiers.citizen_id(value, today=dt.date(2026, 1, 1))


def test_citizen_id_check_char_known():
    # GB 11643 appendix example: 11010519491231002 -> X
    assert identifiers.citizen_id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("value", GOOD_USCC)
def test_uscc_accepts_valid(value):
    assert identifiers.unified_social_credit_code(value.lower()) == value


def test_uscc_check_char_examples():
    # Two codes published as failing their check character, with the value GB 32100 gives.
    assert identifiers.uscc_check_char("91350100M0001TGQX") == "1"
    assert identifiers.uscc_check_char("91350211M0000XUF4") == "R"
    assert identifiers.uscc_check_char("91350100M000100Y4") == "3"


@pytest.mark.parametrize("value, message", [
    ("91350100M000100Y44", "wrong check character '4' (expected '3')"),
    ("91350100M0001TGQXM", "wrong check character 'M' (expected '1')"),
    ("91350100M000100Y4", "must have 18 characters, got 17"),
    ("91350100M000100YI3", "character(s) 'I' not allowed"),
    ("9135010OM000100Y43", "character(s) 'O' not allowed"),
    ("B1350100M000100Y43", "'B' is not a registration authority code"),
    ("913501A0M000100Y43", "must be the administrative division code"),
])
def test_uscc_refuses_with_reason(value, message):
    with pytest.raises(InvalidIdentifier) as err:
        identifiers.unified_social_credit_code(value)
    assert message in str(err.value)


def test_organization_code():
    assert identifiers.organization_code("M000100Y-4") == "M000100Y4"
    with pytest.raises(InvalidIdentifier, match="wrong check character '5' \\(expected '4'\\)"):
        identifiers.organization_code("M000100Y5")
