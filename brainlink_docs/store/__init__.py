"""Document stores: the ``DocumentStore`` interface and its implementations."""
