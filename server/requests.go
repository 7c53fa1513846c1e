package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"go.uber.org/zap"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	quantprepv1 "github.com/quantprep/quantprep/api/quantprep/v1"
)

// Metadata keys the server reads and answers with.
const (
	RequestIDKey = "x-request-id"
	VersionKey   = "quantprep-version"
)

// RetryDelay is the RetryInfo a busy server suggests.
const RetryDelay = time.Second

// maxRequestIDLen bounds a client's x-request-id, which goes into every log line.
const maxRequestIDLen = 128

// requestInfo is what the server learns about one call as it goes, for its log
// lines, its metrics and its summary. The interceptors fill it; the handler's
// goroutines read it, hence the lock.
type requestInfo struct {
	id    string
	start time.Time

	mu                sync.Mutex
	model             string
	bytesIn, bytesOut int64
}

type requestKey struct{}

// requestFrom returns the call's requestInfo, or nil outside a call.
func requestFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestKey{}).(*requestInfo)
	return ri
}

// requestLogger is log with the call's request id, for the handler's own lines.
func requestLogger(ctx context.Context, log *zap.Logger) *zap.Logger {
	if ri := requestFrom(ctx); ri != nil {
		return log.With(zap.String("request_id", ri.id))
	}
	return log
}

// requestID takes the client's x-request-id if it is printable and short,
// else makes one up.
func requestID(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(RequestIDKey); len(v) > 0 && v[0] != "" && len(v[0]) <= maxRequestIDLen &&
			strings.IndexFunc(v[0], func(r rune) bool { return r < 0x21 || r > 0x7e }) < 0 {
			return v[0]
		}
	}
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// begin starts a call's requestInfo and puts it, and its id as a log field,
// into the context.
func begin(ctx context.Context) (context.Context, *requestInfo) {
	ri := &requestInfo{id: requestID(ctx), start: time.Now()}
	ctx = context.WithValue(ctx, requestKey{}, ri)
	return logging.InjectFields(ctx, logging.Fields{"request_id", ri.id}), ri
}

// requestLogFields adds the model's name and the bytes moved to the request
// log's lines (the logging middleware asks at the start and at the end of a call).
func requestLogFields(ctx context.Context, _ interceptors.CallMeta) logging.Fields {
	ri := requestFrom(ctx)
	if ri == nil {
		return nil
	}
	ri.mu.Lock()
	defer ri.mu.Unlock()
	var f logging.Fields
	if ri.model != "" {
		f = append(f, "model", ri.model)
	}
	if ri.bytesIn > 0 || ri.bytesOut > 0 {
		f = append(f, "bytes_in", ri.bytesIn, "bytes_out", ri.bytesOut)
	}
	return f
}

func (x *extras) requestsUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, ri := begin(ctx)
	grpc.SetHeader(ctx, metadata.Pairs(RequestIDKey, ri.id, VersionKey, x.version))
	return handler(ctx, req)
}

// requestsStream is the outermost stream interceptor: it gives the call its
// request id, counts the bytes moved both ways, stamps the summary with the
// request id and the version, and at the end records the outcome and gives
// busy refusals their RetryInfo.
func (x *extras) requestsStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, ri := begin(ss.Context())
	err := handler(srv, &infoStream{ServerStream: ss, ctx: ctx, ri: ri, x: x})
	if info.FullMethod != quantprepv1.PreprocessService_Preprocess_FullMethodName {
		return err
	}
	reason := rejection(err)
	// Busy refusals say when to retry; a request too large for the server, or
	// for its own quota, would only fail again. The shared budgets free up as
	// other requests end, and say so ("retry later").
	if reason == reasonQueueFull || reason == reasonStreams || reason == reasonShutdown ||
		reason == reasonBudget && strings.Contains(status.Convert(err).Message(), "retry later") {
		err = withRetryInfo(err)
	}
	if x.metrics != nil {
		x.metrics.finished(status.Code(err), reason)
	}
	return err
}

// accept is the innermost stream interceptor: a Preprocess stream that got
// this far is accepted (not turned away as busy), so the server sends its
// headers at once. The client waits for them before it sends the model, so
// that until then a refused stream can be retried.
func (x *extras) accept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod == quantprepv1.PreprocessService_Preprocess_FullMethodName {
		md := metadata.Pairs(VersionKey, x.version)
		if ri := requestFrom(ss.Context()); ri != nil {
			md.Set(RequestIDKey, ri.id)
		}
		if err := ss.SendHeader(md); err != nil {
			return err
		}
	}
	return handler(srv, ss)
}

// Reasons a Preprocess request is turned away with RESOURCE_EXHAUSTED.
const (
	reasonQueueFull = "queue_full"
	reasonStreams   = "stream_limit"
	reasonTooLarge  = "upload_too_large"
	reasonShutdown  = "shutting_down"
	reasonBudget    = "over_budget"
)

// rejection names why err turned a request away, or "" if it did not.
func rejection(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, errBusy):
		return reasonQueueFull
	case errors.Is(err, errTooBig):
		return reasonTooLarge
	case errors.Is(err, errShutdown):
		return reasonShutdown
	case errors.Is(err, errQuota):
		return reasonBudget
	case status.Code(err) == codes.ResourceExhausted:
		// The stream limiters answer with a status of their own; a message over
		// the receive limit says so.
		if strings.Contains(status.Convert(err).Message(), "larger than max") {
			return reasonTooLarge
		}
		return reasonStreams
	}
	return ""
}

// withRetryInfo adds a google.rpc.RetryInfo detail to a busy refusal, unless
// it has one.
func withRetryInfo(err error) error {
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		return err
	}
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			return err
		}
	}
	if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(RetryDelay)}); derr == nil {
		return &causeError{st: withInfo, cause: err}
	}
	return err
}

// infoStream fills the call's requestInfo from the messages that pass.
type infoStream struct {
	grpc.ServerStream
	ctx context.Context
	ri  *requestInfo
	x   *extras
}

func (s *infoStream) Context() context.Context { return s.ctx }

func (s *infoStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err != nil {
		return err
	}
	var req *quantprepv1.PreprocessRequest
	switch m := m.(type) {
	case *quantprepv1.PreprocessRequest:
		req = m
	case *pooledRequest: // the service's own receive loop (streamCodec)
		req = m.req
	default:
		return nil
	}
	var n int
	switch p := req.GetPayload().(type) {
	case *quantprepv1.PreprocessRequest_Options:
		name := p.Options.GetModelName()
		if name == "" {
			name = DefaultModelName
		}
		s.ri.mu.Lock()
		s.ri.model = name
		s.ri.mu.Unlock()
	case *quantprepv1.PreprocessRequest_ModelChunk:
		n = len(p.ModelChunk.GetData())
	case *quantprepv1.PreprocessRequest_ExternalDataChunk:
		n = len(p.ExternalDataChunk.GetData())
	}
	if n > 0 {
		s.ri.mu.Lock()
		s.ri.bytesIn += int64(n)
		s.ri.mu.Unlock()
		if s.x.metrics != nil {
			s.x.metrics.bytesIn.Add(float64(n))
		}
	}
	return nil
}

func (s *infoStream) SendMsg(m any) error {
	resp, ok := m.(*quantprepv1.PreprocessResponse)
	if !ok {
		return s.ServerStream.SendMsg(m)
	}
	var n int
	switch p := resp.GetPayload().(type) {
	case *quantprepv1.PreprocessResponse_Summary:
		p.Summary.RequestId = s.ri.id
		p.Summary.ServerVersion = s.x.version
	case *quantprepv1.PreprocessResponse_ModelChunk:
		n = len(p.ModelChunk.GetData())
	case *quantprepv1.PreprocessResponse_ExternalDataChunk:
		n = len(p.ExternalDataChunk.GetData())
	}
	err := s.ServerStream.SendMsg(m)
	if err == nil && n > 0 {
		s.ri.mu.Lock()
		s.ri.bytesOut += int64(n)
		s.ri.mu.Unlock()
		if s.x.metrics != nil {
			s.x.metrics.bytesOut.Add(float64(n))
		}
	}
	return err
}
