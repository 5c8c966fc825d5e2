package main

import (
	"context"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// HistoryStats are the sizes of a run's histories: the parent's and every child's.
type HistoryStats struct {
	ParentEvents       int
	LargestChild       string
	LargestChildEvents int
	Children           int
	// MaxPayload is the largest single payload (input, result, signal, marker, memo…)
	// of any event of any of the histories, with where it was.
	MaxPayload      int
	MaxPayloadWhere string
}

// scanHistories reads the run's history and its children's (found in the parent's
// history) and measures them.
func scanHistories(ctx context.Context, c client.Client, id string) (HistoryStats, error) {
	var st HistoryStats
	children, events, err := scanOne(ctx, c, id, &st)
	if err != nil {
		return st, err
	}
	st.ParentEvents = events
	st.Children = len(children)
	for _, ch := range children {
		_, n, err := scanOne(ctx, c, ch, &st)
		if err != nil {
			return st, err
		}
		if n > st.LargestChildEvents {
			st.LargestChild, st.LargestChildEvents = ch, n
		}
	}
	return st, nil
}

func scanOne(ctx context.Context, c client.Client, id string, st *HistoryStats) (children []string, events int, err error) {
	it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	seen := map[string]bool{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, events, fmt.Errorf("history of %s: %w", id, err)
		}
		events++
		if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil && !seen[a.GetWorkflowId()] {
			seen[a.GetWorkflowId()] = true
			children = append(children, a.GetWorkflowId())
		}
		if n := maxPayload(ev); n > st.MaxPayload {
			st.MaxPayload = n
			st.MaxPayloadWhere = fmt.Sprintf("%s event %d (%s)", id, ev.GetEventId(), ev.GetEventType())
		}
	}
	return children, events, nil
}

var payloadName = (&commonpb.Payload{}).ProtoReflect().Descriptor().FullName()

// maxPayload is the size of the largest Payload anywhere inside an event.
func maxPayload(ev *historypb.HistoryEvent) int {
	best := 0
	var walk func(m protoreflect.Message)
	walk = func(m protoreflect.Message) {
		if m.Descriptor().FullName() == payloadName {
			best = max(best, proto.Size(m.Interface()))
			return
		}
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					walk(l.Get(i).Message())
				}
			case fd.IsMap() && fd.MapValue().Message() != nil:
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walk(mv.Message())
					return true
				})
			case fd.Message() != nil && !fd.IsList() && !fd.IsMap():
				walk(v.Message())
			}
			return true
		})
	}
	walk(ev.ProtoReflect())
	return best
}
