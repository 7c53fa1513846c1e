package server

import (
	"context"
	"runtime"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
	"github.com/quantprep/quantprep/internal/buildinfo"
)

// maxRecvMsgSize is the receive limit of one request message: room for a
// chunk of ChunkSize plus its framing, and never below gRPC's default.
func maxRecvMsgSize(cfg Config) int { return max(4<<20, 2*cfg.ChunkSize+64<<10) }

// ServerInfo reports the server's version and limits.
func (s *preprocessService) ServerInfo(context.Context, *quantprepv1.ServerInfoRequest) (*quantprepv1.ServerInfoResponse, error) {
	return &quantprepv1.ServerInfoResponse{
		Version:                buildinfo.Version(),
		GoVersion:              runtime.Version(),
		MaxUploadBytes:         s.cfg.MaxUploadBytes,
		MaxRequestMessageBytes: int64(maxRecvMsgSize(s.cfg)),
		ResponseChunkBytes:     int64(s.cfg.ChunkSize),
		SharedDir:              s.cfg.SharedDir != "",
	}, nil
}

// Drain reports the PreprocessService NOT_SERVING on the health service
// (readiness probes ask for it: they fail, and the endpoints drop the pod)
// while the server still serves, and the server as a whole ("", what liveness
// probes ask for) stays SERVING: call it on SIGTERM, wait for the endpoints to
// update, then GracefulStop.
func (s *Server) Drain() {
	s.health.SetServingStatus(quantprepv1.PreprocessService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_NOT_SERVING)
}
