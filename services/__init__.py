"""Rencontres' services: everything the pages and the command line do, without Streamlit.

The packages, from the bottom up (the import rule is written in ``.importlinter`` and checked by
``lint-imports`` in CI):

- ``config``, ``i18n``, ``logs``: the settings, the translations and the log hygiene, used
  everywhere and using nothing;
- ``store``: the tables, the engine and its migrations, the data contract, the values of a cell,
  the scope of a figure, the audit log and the analytical reads;
- ``access`` and ``documents``: who may see what (accounts, roles, personal data) and the files
  the product writes (exports, calendars);
- ``imports``, ``advising``, ``jobdating``: the domains (contract files in; the advisors'
  interviews; the job datings), independent of each other;
- ``metrics``: every figure of the metrics, reading the domains;
- ``integrations``: the outside services (Cal.com, Whereby) feeding the domains;
- ``demo`` and ``startup``: the demo data and the start-up step, above the domains they fill;
- ``app``: what only the Streamlit app uses (cached reads, charts, filters, the web gate), and
  ``__main__``, the command line.
"""
