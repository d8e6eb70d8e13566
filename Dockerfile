# brainlink-docs serve, for compose.yaml: the package installed from this checkout, run as an
# unprivileged user over a data volume.
FROM python:3.11-slim

WORKDIR /src
COPY pyproject.toml README.md ./
COPY brainlink_docs ./brainlink_docs
RUN pip install --no-cache-dir . \
    && useradd --system --uid 5990 --home-dir /data brainlink \
    && mkdir /data && chown brainlink /data

USER brainlink
WORKDIR /data
VOLUME /data
EXPOSE 5984
CMD ["brainlink-docs", "serve", "--host", "0.0.0.0", "--port", "5984", "--data-dir", "/data"]
