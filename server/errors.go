package server

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/model"
)

// Errors of the transport itself; toStatus maps them with the pipeline's.
var (
	// errProtocol marks a request stream that breaks the message order or names.
	errProtocol = errors.New("bad request stream")
	// errTooBig marks an upload over Config.MaxUploadBytes.
	errTooBig = errors.New("upload too large")
	// errBusy marks a request turned away because the queue or the stream limit is full.
	errBusy = errors.New("server busy")
	// errShutdown marks a request that arrived while the server stops.
	errShutdown = errors.New("server shutting down")
)

// panicError is a panic caught in a worker goroutine, kept with its stack for the log.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// codeOf maps an error to a gRPC status code; it is the one place that does.
func codeOf(err error) codes.Code {
	var pe *panicError
	var se interface{ GRPCStatus() *status.Status }
	switch {
	case err == nil:
		return codes.OK
	case errors.As(err, &se):
		return se.GRPCStatus().Code()
	case errors.As(err, &pe):
		return codes.Internal
	case errors.Is(err, errQuota):
		return codes.ResourceExhausted
	case errors.Is(err, errIdle), errors.Is(err, errSendTimeout):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, errProtocol), errors.Is(err, model.ErrInvalid), errors.Is(err, pipeline.ErrInvalidOptions):
		return codes.InvalidArgument
	case errors.Is(err, errTooBig), errors.Is(err, errBusy), errors.Is(err, model.ErrOverBudget):
		return codes.ResourceExhausted
	case errors.Is(err, errShutdown):
		return codes.Unavailable
	case errors.Is(err, model.ErrUnsupported), errors.Is(err, model.ErrTooLarge), errors.Is(err, errNoShared):
		return codes.FailedPrecondition
	}
	return codes.Internal
}

// toStatus turns err into a status error for the client. Status errors pass
// through unchanged; a panic's value and stack stay in the server's log.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return se.GRPCStatus().Err()
	}
	code := codeOf(err)
	msg := err.Error()
	var pe *panicError
	switch {
	case errors.As(err, &pe):
		msg = "internal error: the pipeline panicked (details are in the server log)"
	case errors.Is(err, model.ErrTooLarge):
		msg += " (set save_as_external_data to write the weights beside the model)"
	}
	return &causeError{st: status.New(code, msg), cause: err}
}

// causeError is a status for the client that keeps the error it came from,
// so that the interceptors can still tell why (errors.Is) a request failed.
type causeError struct {
	st    *status.Status
	cause error
}

func (e *causeError) Error() string              { return e.st.Err().Error() }
func (e *causeError) GRPCStatus() *status.Status { return e.st }
func (e *causeError) Unwrap() error              { return e.cause }
