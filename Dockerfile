# brainlink-docs serve, for compose.yaml: the package installed from this checkout, run as an
# unprivileged user over a data volume. Bookworm for its ICU 72.1, the one CouchDB 3.5 links:
# PyICU builds against it (so the build needs g++ and pkg-config, removed afterwards).
FROM python:3.11-slim-bookworm

WORKDIR /src
COPY pyproject.toml README.md ./
COPY brainlink_docs ./brainlink_docs
RUN apt-get update \
    && apt-get install -y --no-install-recommends libicu-dev pkg-config g++ \
    && pip install --no-cache-dir . \
    && apt-get purge -y --auto-remove g++ pkg-config \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 5990 --home-dir /data brainlink \
    && mkdir /data && chown brainlink /data

USER brainlink
WORKDIR /data
VOLUME /data
EXPOSE 5984
CMD ["brainlink-docs", "serve", "--host", "0.0.0.0", "--port", "5984", "--data-dir", "/data"]
