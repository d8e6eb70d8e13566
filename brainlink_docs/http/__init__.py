"""The CouchDB-compatible HTTP server (aiohttp) over a ``Databases`` set of stores."""
