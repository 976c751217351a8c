# syntax=docker/dockerfile:1

# Build and runtime use the same Python: Debian 12's python3.11 at /usr/bin, which is the
# interpreter distroless/python3-debian12 ships. The venv built here links to it.
FROM debian:12.12-slim AS build
# No apt cache mount: CI's builders start empty, so BuildKit's layer cache (type=gha) is what
# saves this step, and Debian's docker-clean hook would empty such a mount anyway.
RUN apt-get update \
    && apt-get install --no-install-recommends --yes python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY function ./function
# The versions the tests ran with (constraints.txt); then pip and setuptools go: the
# runtime image needs neither.
RUN python3 -m venv /venv \
    && /venv/bin/pip install --no-cache-dir --disable-pip-version-check \
       --constraint constraints.txt . \
    && /venv/bin/pip uninstall --yes --disable-pip-version-check pip setuptools \
    && /venv/bin/python -c "import function.main"

FROM gcr.io/distroless/python3-debian12:nonroot AS image
COPY --from=build /venv /venv
ENV PATH=/venv/bin:$PATH
EXPOSE 9443
USER nonroot:nonroot
ENTRYPOINT ["/venv/bin/function"]
