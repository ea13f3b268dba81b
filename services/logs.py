"""What the server's logs may hold: no e-mail address nor phone number, whoever writes the line
(our code, Streamlit, a library), in its message, its arguments or its traceback."""

from __future__ import annotations

import logging
import re

#: An e-mail address, and a French or international phone number (digits with spaces, dots, dashes).
_PERSONAL = re.compile(
    r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+"
    r"|(?<![\w.])(?:\+\d{2}[ .-]?|0)[1-9](?:[ .-]?\d{2}){4}(?![\w.])"
)
MASK = "[masqué]"


def redact(text: str) -> str:
    """The text with every e-mail address and phone number replaced by ``[masqué]``."""
    return _PERSONAL.sub(MASK, text)


def redact_personal_data() -> None:
    """From now on, every log record of the process is redacted as it is made (once per process)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "redacts_personal_data", False):
        return

    def making(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a badly formed call: its handler reports it, as without redaction
            return record
        if (redacted := redact(message)) != message:
            record.msg, record.args = redacted, ()
        if record.exc_info:
            # Formatters reuse exc_text when set: the traceback is written already redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    making.redacts_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(making)
