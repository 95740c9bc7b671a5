# gdap-audit in a container: built from this checkout and its Cargo.lock (`--locked`), run as a
# non-root user on a distroless base (glibc, CA certificates, no shell, no package manager).
#
#   docker build -t gdap-audit .
#   docker run --rm gdap-audit demo                       # smoke test: no credentials, no network
#   docker run --rm -e AZURE_TENANT_ID -e AZURE_CLIENT_ID -e AZURE_CLIENT_SECRET \
#       -v "$PWD/out:/out" gdap-audit scan --history /out/history.sqlite \
#       --format json --output /out/report.json --report sarif=/out/report.sarif
#
# The mounted directory must be writable by uid 65532 (the image's `nonroot` user).
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target directories are cache mounts, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --locked --release --bin gdap-audit \
    && install -D -m 0755 target/release/gdap-audit /out/gdap-audit

# Debian 12, like the build stage, so the binary finds the glibc it was linked against.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/gdap-audit /usr/local/bin/gdap-audit
USER nonroot
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/gdap-audit"]
CMD ["--help"]
