"""No personal value in the server's logs (issue 16, item 16)."""

from __future__ import annotations

import logging

import pytest

from services import logs


@pytest.fixture
def redacting():
    before = logging.getLogRecordFactory()
    logs.redact_personal_data()
    yield
    logging.setLogRecordFactory(before)


def test_e_mails_and_phone_numbers_are_masked_in_messages_arguments_and_tracebacks(redacting, caplog):
    logger = logging.getLogger("streamlit.test")
    with caplog.at_level(logging.INFO):
        logger.info("sign-in failed for %s", "Lea.Martin+cfai@exemple.fr")
        logger.warning("call 06 12 34 56 78 or +33 6.12.34.56.78, booking RDV-2027-001 at 10:00")
        try:
            raise ValueError("candidate jules@exemple.fr has no programme")
        except ValueError:
            logger.exception("import failed")
    text = caplog.text
    assert "exemple.fr" not in text and "12 34" not in text and "6.12" not in text
    # One e-mail, two phone numbers, and the e-mail twice in the traceback (its source line and
    # the exception's message).
    assert text.count(logs.MASK) == 5
    # What is not personal stays readable: a booking ref, a time.
    assert "RDV-2027-001 at 10:00" in text
    assert "ValueError: candidate [masqué] has no programme" in text
