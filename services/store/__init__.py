"""The store: the tables (``models``), the engine, transactions and migrations (``database``,
``migrations/``), the data contract (``contract``) and the values of a cell (``values``), the scope
of every figure (``scope``, ``events``), the channel rules, the append-only audit log and the
analytical reads over DuckDB (``analytics``).

It is the bottom of the domains: it may use ``config``, ``i18n`` and ``logs`` only, and every other
package may use it.
"""
