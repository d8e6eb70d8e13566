"""View indexes kept in SQLite, brought up to date incrementally from a store's changes."""
