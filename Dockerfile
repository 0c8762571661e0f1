# Burst's image: the burst binary, and the Go toolchain and module it was built from, so
# that `docker run --rm --user "$(id -u)" -v $PWD/fn:/src/fn burst fn build /src/fn -o /src/fn/fn.so` builds
# plugins that the image's servers load (a plugin must come from the same toolchain,
# flags and module versions as the binary that loads it). cgo is on: Go plugins need it.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -o /out/burst ./cmd/burst

FROM golang:${GO_VERSION}-bookworm
# The module's source and its dependencies, for `burst fn build`; no build cache.
COPY --from=build /go/pkg/mod /go/pkg/mod
COPY --from=build /src /src
COPY --from=build /out/burst /usr/local/bin/burst
WORKDIR /src
# Not root: a user of its own, owning the directories the volumes mount.
RUN useradd --system --uid 10001 --home-dir /data burst \
 && mkdir -p /data /certs /ca \
 && chown burst /data /certs /ca
USER burst
ENV BURST_DATA_DIR=/data \
    GOCACHE=/tmp/go-build \
    BURST_HTTP_ADDR=0.0.0.0:8080 \
    BURST_INVOKER_HTTP=0.0.0.0:8081 \
    GOTOOLCHAIN=local
VOLUME /data
# HTTP API, invoker probes, NATS clients, NATS routes.
EXPOSE 8080 8081 4222 6222
ENTRYPOINT ["burst"]
CMD ["serve"]
