"""Credentials and access control: password hashing, sessions, ``_security`` checks."""
