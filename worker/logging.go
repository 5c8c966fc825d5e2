package main

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/log"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// newLogger builds the worker's zap logger: console for people reading a
// terminal or journalctl, json for log collectors.
func newLogger(format, level string, sink zapcore.WriteSyncer) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%q is not a log level; use debug, info, warn or error", level)
	}
	var enc zapcore.Encoder
	switch format {
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("2006-01-02 15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, fmt.Errorf("%q is not a log format; use console or json", format)
	}
	return zap.New(zapcore.NewCore(enc, sink, lvl), zap.AddCaller()), nil
}

// sdkLogger adapts zap to the Temporal SDK's log.Logger, so the SDK's own
// messages (polling, workflow task failures) land in the same log with the
// same format.
type sdkLogger struct {
	z *zap.Logger
}

var (
	_ log.Logger          = sdkLogger{}
	_ log.WithLogger      = sdkLogger{}
	_ log.WithSkipCallers = sdkLogger{}
)

func newSDKLogger(z *zap.Logger) sdkLogger {
	// The SDK calls through this adapter: skip its frame so the caller shown
	// is the SDK's, not logging.go.
	return sdkLogger{z: z.WithOptions(zap.AddCallerSkip(1))}
}

func (l sdkLogger) Debug(msg string, kv ...any) { l.z.Debug(msg, fields(kv)...) }
func (l sdkLogger) Info(msg string, kv ...any)  { l.z.Info(msg, fields(kv)...) }
func (l sdkLogger) Warn(msg string, kv ...any)  { l.z.Warn(msg, fields(kv)...) }
func (l sdkLogger) Error(msg string, kv ...any) { l.z.Error(msg, fields(kv)...) }

func (l sdkLogger) With(kv ...any) log.Logger { return sdkLogger{z: l.z.With(fields(kv)...)} }

func (l sdkLogger) WithCallerSkip(n int) log.Logger {
	return sdkLogger{z: l.z.WithOptions(zap.AddCallerSkip(n))}
}

// secretKeys are substrings of key names whose values are never logged,
// whatever code passes them: a last line of defence, since credentials are
// kept out of workflow data and log calls by construction.
var secretKeys = []string{"password", "passwd", "secret", "token", "authorization", "apikey", "api_key", "chap"}

// sdkKeys renames the SDK's own keys to the house's snake_case, so that a
// run's lines are found by the same workflow_id and run_id whether the SDK
// or lifeboat logged them.
var sdkKeys = map[string]string{
	"WorkflowID":   "workflow_id",
	"RunID":        "run_id",
	"WorkflowType": "workflow_type",
	"ActivityID":   "activity_id",
	"ActivityType": "activity_type",
	"Namespace":    "namespace",
	"TaskQueue":    "task_queue",
	"Attempt":      "attempt",
}

// fields turns the SDK's key/value pairs into zap fields, redacting values
// whose key names a secret.
func fields(kv []any) []zap.Field {
	fs := make([]zap.Field, 0, (len(kv)+1)/2)
	for i := 0; i < len(kv); i += 2 {
		key, ok := kv[i].(string)
		if !ok {
			key = fmt.Sprint(kv[i])
		}
		if i+1 >= len(kv) {
			fs = append(fs, zap.Any("!BADKEY", key))
			break
		}
		if k, ok := sdkKeys[key]; ok {
			key = k
		}
		if isSecretKey(key) {
			fs = append(fs, zap.String(key, "[redacted]"))
			continue
		}
		fs = append(fs, zap.Any(key, kv[i+1]))
	}
	return fs
}

func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range secretKeys {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
