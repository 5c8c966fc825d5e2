package searchattr

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc"
)

type fakeOperator struct {
	attrs  map[string]enumspb.IndexedValueType
	addErr error
	added  []string
}

func (f *fakeOperator) ListSearchAttributes(context.Context, *operatorservice.ListSearchAttributesRequest, ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error) {
	return &operatorservice.ListSearchAttributesResponse{CustomAttributes: f.attrs}, nil
}

func (f *fakeOperator) AddSearchAttributes(_ context.Context, in *operatorservice.AddSearchAttributesRequest, _ ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error) {
	if f.addErr != nil {
		return nil, f.addErr
	}
	for n, t := range in.SearchAttributes {
		f.attrs[n] = t
		f.added = append(f.added, n)
	}
	return &operatorservice.AddSearchAttributesResponse{}, nil
}

func TestEnsureAddsMissingOnce(t *testing.T) {
	op := &fakeOperator{attrs: map[string]enumspb.IndexedValueType{"LifeboatPlan": enumspb.INDEXED_VALUE_TYPE_KEYWORD}}
	added, err := Ensure(context.Background(), op, "default")
	require.NoError(t, err)
	assert.Equal(t, []string{"LifeboatMode", "LifeboatPhase"}, added)
	added, err = Ensure(context.Background(), op, "default")
	require.NoError(t, err)
	assert.Empty(t, added, "idempotent")
	assert.Len(t, op.added, 2)
}

func TestEnsurePermissionDenied(t *testing.T) {
	op := &fakeOperator{attrs: map[string]enumspb.IndexedValueType{}, addErr: serviceerror.NewPermissionDenied("no", "")}
	_, err := Ensure(context.Background(), op, "dr")
	var pe *PermissionError
	require.ErrorAs(t, err, &pe)
	assert.EqualError(t, err, "the search attributes LifeboatPlan, LifeboatMode, LifeboatPhase are missing in namespace dr and this identity may not add them; ask a Temporal admin to run 'lifeboat setup --namespace dr' once")
}

func TestEnsureWrongType(t *testing.T) {
	op := &fakeOperator{attrs: map[string]enumspb.IndexedValueType{"LifeboatMode": enumspb.INDEXED_VALUE_TYPE_TEXT}}
	_, err := Ensure(context.Background(), op, "default")
	assert.EqualError(t, err, "search attribute LifeboatMode exists in namespace default as Text but lifeboat needs Keyword; remove it ('temporal operator search-attribute remove --namespace default --name LifeboatMode') and run 'lifeboat setup --namespace default'")
}

func TestTemporalCLICommands(t *testing.T) {
	assert.Equal(t, "temporal operator search-attribute create --namespace ns --name LifeboatPlan --type Keyword", TemporalCLICommands("ns")[0])
}
