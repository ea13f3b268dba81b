"""Contract files in: reading a CSV file (encodings, quotes, headers), validating each row
against the contract, writing the whole file or nothing, and the files sent from the data page.

It may use the store and ``access`` (a first real import ends the demo accounts), nothing above.
"""
