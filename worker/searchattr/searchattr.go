// Package searchattr makes sure the namespace knows lifeboat's search
// attributes (LifeboatPlan, LifeboatMode, LifeboatPhase), which every run sets
// so runs can be found and filtered in the Temporal UI. The worker calls
// Ensure at start; `lifeboat setup` calls it for admins.
package searchattr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc"

	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Names are the search attributes lifeboat needs, all of type Keyword.
var Names = []string{workflows.SearchAttrPlan, workflows.SearchAttrMode, workflows.SearchAttrPhase}

// Operator is the part of the operator service Ensure uses
// (client.Client's OperatorService() satisfies it).
type Operator interface {
	ListSearchAttributes(ctx context.Context, in *operatorservice.ListSearchAttributesRequest, opts ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error)
	AddSearchAttributes(ctx context.Context, in *operatorservice.AddSearchAttributesRequest, opts ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error)
}

// Missing lists the lifeboat search attributes the namespace lacks. An
// attribute registered with another type is an error: it cannot be fixed by
// adding, and runs would fail to set it.
func Missing(ctx context.Context, op Operator, namespace string) ([]string, error) {
	resp, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range Names {
		t, ok := resp.GetCustomAttributes()[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if t != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			return nil, fmt.Errorf("search attribute %s exists in namespace %s as %s but lifeboat needs Keyword; remove it ('temporal operator search-attribute remove --namespace %s --name %s') and run 'lifeboat setup --namespace %s'",
				name, namespace, typeName(t), namespace, name, namespace)
		}
	}
	return missing, nil
}

// PermissionError says the caller may not add the missing attributes.
type PermissionError struct {
	Namespace string
	Missing   []string
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("the search attributes %s are missing in namespace %s and this identity may not add them; ask a Temporal admin to run '%s' once",
		strings.Join(e.Missing, ", "), e.Namespace, AdminCommand(e.Namespace))
}

// AdminCommand is the command an admin runs to register the attributes.
func AdminCommand(namespace string) string {
	return "lifeboat setup --namespace " + namespace
}

// TemporalCLICommands are the equivalent commands of the Temporal CLI, for
// admins who do not have lifeboat installed.
func TemporalCLICommands(namespace string) []string {
	cmds := make([]string, len(Names))
	for i, n := range Names {
		cmds[i] = fmt.Sprintf("temporal operator search-attribute create --namespace %s --name %s --type Keyword", namespace, n)
	}
	return cmds
}

// Ensure adds the missing search attributes and returns which it added; it
// does nothing when all are there, so it is safe to call on every start.
func Ensure(ctx context.Context, op Operator, namespace string) ([]string, error) {
	missing, err := Missing(ctx, op, namespace)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	req := &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: make(map[string]enumspb.IndexedValueType, len(missing)),
	}
	for _, n := range missing {
		req.SearchAttributes[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	if _, err := op.AddSearchAttributes(ctx, req); err != nil {
		var denied *serviceerror.PermissionDenied
		var unimpl *serviceerror.Unimplemented
		if errors.As(err, &denied) || errors.As(err, &unimpl) {
			return nil, &PermissionError{Namespace: namespace, Missing: missing}
		}
		var exists *serviceerror.AlreadyExists
		if errors.As(err, &exists) {
			// Another worker added them between our list and add.
			return nil, nil
		}
		return nil, err
	}
	return missing, nil
}

func typeName(t enumspb.IndexedValueType) string {
	s := t.String()
	s = strings.TrimPrefix(s, "INDEXED_VALUE_TYPE_")
	if s == "" {
		return "unknown"
	}
	return strings.ToUpper(s[:1]) + strings.ToLower(s[1:])
}
