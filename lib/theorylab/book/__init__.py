"""Book tooling: the chapter runner, notebook cleaning, setup-cell sync and the status page.

Used from a checkout of the book (``python -m theorylab.book --help``); chapters never import it.
"""
