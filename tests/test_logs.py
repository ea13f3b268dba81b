"""No personal value in the server's logs (issue 16, item 16)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services import logs
from services.store.models import Candidate


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


def test_a_database_error_never_carries_the_values_of_its_statement(engine, redacting, caplog):
    # SQLAlchemy writes a statement's parameters into a failed statement's message
    # (« [parameters: ('Léa', 'Martin', …)] », docs: create_engine(hide_parameters=False) by
    # default). A webhook applied behind the answer logs such an error with its traceback
    # (services/integrations/webhooks.py): the redaction masks e-mails and phone numbers, not the
    # names of the minors. The store's engines hide the parameters.
    table = Candidate.__table__
    row = {
        "ref": "C-1",
        "first_name": "Zéphyrine",
        "last_name": "Quintal",
        "email": "z@exemple.fr",
        "created_at": datetime(2020, 4, 8, tzinfo=UTC),
    }
    with engine.begin() as connection:
        connection.execute(table.insert().values(**row))
    with caplog.at_level(logging.INFO), pytest.raises(sa.exc.IntegrityError) as error:
        try:
            with engine.begin() as connection:
                connection.execute(table.insert().values(**row))  # the same ref again
        except sa.exc.IntegrityError:
            logging.getLogger("services.integrations.webhooks").exception("webhook : échec")
            raise
    assert "Zéphyrine" not in str(error.value) and "Quintal" not in str(error.value)
    assert "Zéphyrine" not in caplog.text and "Quintal" not in caplog.text
