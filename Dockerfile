# quantprep's container image: the gRPC service (`quantprep serve`) as a static,
# cgo-free binary on distroless, running as the nonroot user.
#
#   docker build -t quantprep .
#   docker run --rm -p 50051:50051 quantprep
#
# The build step is scripts/build.sh, the same script CI runs and checks.

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/build.sh /out/quantprep

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/quantprep /usr/local/bin/quantprep
# The server listens on all interfaces inside the container (its own default,
# 127.0.0.1, suits a process on a workstation) and spools uploads under /tmp,
# which a read-only root filesystem must mount writable (deploy/ does).
ENV QUANTPREP_LISTEN=:50051 \
    QUANTPREP_TEMP_DIR=/tmp
EXPOSE 50051
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/quantprep", "serve"]
