"""The files the product writes for people: tables as CSV and Excel with formula injection
neutralised, the printable summary (``exports``), and iCalendar files (``calendars``).

It may use the store only.
"""
