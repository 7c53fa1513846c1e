package server

import (
	"context"
	"fmt"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"go.uber.org/zap"
)

// logOpts logs each call's start and end; payloads are model bytes, never logged.
var logOpts = []logging.Option{
	logging.WithLogOnEvents(logging.StartCall, logging.FinishCall),
	logging.WithFieldsFromContextAndCallMeta(requestLogFields),
}

// zapLogger adapts zap to the logging middleware, which has no zap module in v2.
// The caller would always be this adapter, so it is left out.
func zapLogger(l *zap.Logger) logging.Logger {
	l = l.WithOptions(zap.WithCaller(false))
	return logging.LoggerFunc(func(_ context.Context, lvl logging.Level, msg string, fields ...any) {
		zf := make([]zap.Field, 0, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			zf = append(zf, zap.Any(fmt.Sprint(fields[i]), fields[i+1]))
		}
		switch lvl {
		case logging.LevelDebug:
			l.Debug(msg, zf...)
		case logging.LevelInfo:
			l.Info(msg, zf...)
		case logging.LevelWarn:
			l.Warn(msg, zf...)
		default:
			l.Error(msg, zf...)
		}
	})
}
