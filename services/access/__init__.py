"""Who may see and do what: staff accounts and their sign-in sessions (``accounts``), the
pages and personal data of each role (``roles``), and personal data over time: ages and
consents, retention, the rights of access and erasure (``privacy``).

It may use the store only; the domains above ask it what a viewer may see.
"""
