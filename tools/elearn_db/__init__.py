"""elearn-db: the database of a multi-tenant e-learning gamification platform, and its tooling.

Library modules do the work; :mod:`elearn_db.cli` only parses arguments, calls them and formats.
"""

__version__ = "0.1.0"
