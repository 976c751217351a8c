# syntax=docker/dockerfile:1

# Build and runtime use the same Python: Debian 12's python3.11 at /usr/bin, which is the
# interpreter distroless/python3-debian12 ships. The venv built here links to it.
FROM debian:12.12-slim AS build
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    apt-get update \
    && apt-get install --no-install-recommends --yes python3-venv \
    && python3 -m venv /venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY function ./function
RUN /venv/bin/pip install --no-cache-dir . \
    && /venv/bin/python -c "import function.main"

FROM gcr.io/distroless/python3-debian12:nonroot AS image
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH
EXPOSE 9443
USER nonroot:nonroot
ENTRYPOINT ["/venv/bin/function"]
