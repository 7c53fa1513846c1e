package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quantprep/quantprep/pipeline"
	"github.com/quantprep/quantprep/pipeline/model"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		contains string
	}{
		{"nil", nil, codes.OK, ""},
		{"invalid model", fmt.Errorf("m.onnx: %w: not an ONNX model", model.ErrInvalid), codes.InvalidArgument, "not an ONNX model"},
		{"invalid options", fmt.Errorf("%w: verbose: must be 0, 1 or 3", pipeline.ErrInvalidOptions), codes.InvalidArgument, "verbose"},
		{"unsupported", fmt.Errorf("optimize: %w: not built yet", model.ErrUnsupported), codes.FailedPrecondition, "not built yet"},
		{"too large", fmt.Errorf("save: %w: 3 GB", model.ErrTooLarge), codes.FailedPrecondition, "save_as_external_data"},
		{"canceled", fmt.Errorf("tag: %w", context.Canceled), codes.Canceled, ""},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, ""},
		{"protocol", fmt.Errorf("%w: first message must be options", errProtocol), codes.InvalidArgument, "first message must be options"},
		{"upload too big", fmt.Errorf("%w: limit 10", errTooBig), codes.ResourceExhausted, "limit"},
		{"queue full", errBusy, codes.ResourceExhausted, "busy"},
		{"shutdown", errShutdown, codes.Unavailable, ""},
		{"panic", fmt.Errorf("run: %w", &panicError{value: "boom", stack: []byte("secret stack")}), codes.Internal, "panicked"},
		{"status passes through", fmt.Errorf("recv: %w", status.Error(codes.Unauthenticated, "who")), codes.Unauthenticated, "who"},
		{"other", errors.New("disk on fire"), codes.Internal, "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := codeOf(tt.err); got != tt.code {
				t.Errorf("codeOf = %v, want %v", got, tt.code)
			}
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.code {
				t.Errorf("toStatus code = %v, want %v", st.Code(), tt.code)
			}
			if !strings.Contains(st.Message(), tt.contains) {
				t.Errorf("message %q does not contain %q", st.Message(), tt.contains)
			}
			if strings.Contains(st.Message(), "secret stack") {
				t.Errorf("message %q leaks the panic's stack", st.Message())
			}
		})
	}
}
