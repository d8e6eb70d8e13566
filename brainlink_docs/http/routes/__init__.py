"""Route handlers by resource: server, database, documents, attachments, bulk, changes."""
