package activities

import (
	"context"

	"go.uber.org/zap"
)

// logFieldsKey is the context key of the fields every log line of an
// activity carries.
type logFieldsKey struct{}

// WithLogFields returns ctx whose activity log lines carry fields besides
// their own. The worker's interceptor adds the run's (workflow ID, run ID,
// plan, mode, step), so that every line of a run can be found by them.
func WithLogFields(ctx context.Context, fields ...zap.Field) context.Context {
	prev, _ := ctx.Value(logFieldsKey{}).([]zap.Field)
	return context.WithValue(ctx, logFieldsKey{}, append(append([]zap.Field(nil), prev...), fields...))
}

// logger is the activities' logger with the fields of ctx.
func (a *Activities) logger(ctx context.Context) *zap.Logger {
	fields, _ := ctx.Value(logFieldsKey{}).([]zap.Field)
	if len(fields) == 0 {
		return a.log
	}
	return a.log.With(fields...)
}
