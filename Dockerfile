# quantprep's container image: the gRPC service (`quantprep serve`) as a static,
# cgo-free binary on distroless, running as the nonroot user.
#
#   docker build -t quantprep \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#   docker run --rm -p 50051:50051 quantprep
#
# The build step is scripts/build.sh, the same script CI runs and checks
# (scripts/image-build.sh replays this file's build steps without Docker).

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a source change reuses the download layer. api/ and
# client/ are modules of their own, which go.mod replaces with the tree's.
COPY go.mod go.sum ./
COPY api/go.mod api/go.sum ./api/
COPY client/go.mod client/go.sum ./client/
RUN go mod download
COPY . .
ARG VERSION=""
ARG REVISION=""
RUN VERSION="${VERSION}" REVISION="${REVISION}" scripts/build.sh /out/quantprep

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=""
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="quantprep" \
      org.opencontainers.image.description="Prepares ONNX models for quantization: a gRPC service and CLI" \
      org.opencontainers.image.source="https://github.com/quantprep/quantprep" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/quantprep /usr/local/bin/quantprep
# The server listens on all interfaces inside the container (its own default,
# 127.0.0.1, suits a process on a workstation) and spools uploads under /tmp,
# which a read-only root filesystem must mount writable (deploy/ does).
ENV QUANTPREP_LISTEN=:50051 \
    QUANTPREP_TEMP_DIR=/tmp
EXPOSE 50051
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/quantprep", "serve"]
