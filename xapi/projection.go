package xapi

import (
	"context"
	"reflect"
	"strings"
	"sync"
)

// projection drops, while a response is normalised, the members of the
// records that the caller's Go type has no field for: xapi sends every field
// of a record (a VM has about ninety), lifeboat reads a few dozen, and at
// 10,000 VMs decoding the rest was most of a worker's CPU. Only members of
// structs at one depth are dropped, so the maps inside a kept field stay
// whole; the decoded value is the one the full document gives.
type projection struct {
	// depth is the struct nesting of the records: the response envelope's
	// struct is 1, a get_record result 2, get_all_records' records 3,
	// event.from's snapshots 4.
	depth int
	keep  map[string]bool
}

// Depths of the records in the answers of the calls that project.
const (
	depthRecord     = 2
	depthAllRecords = 3
	depthSnapshot   = 4
)

type projectionKey struct{}

// withProjection makes the call made with ctx decode only what p keeps.
func withProjection(ctx context.Context, p *projection) context.Context {
	if p == nil {
		return ctx
	}
	return context.WithValue(ctx, projectionKey{}, p)
}

func projectionFrom(ctx context.Context) *projection {
	p, _ := ctx.Value(projectionKey{}).(*projection)
	return p
}

var fieldSets sync.Map // reflect.Type -> map[string]bool

// fieldsOf is the set of xapi member names the struct type t decodes (nil
// when t is not a struct: then nothing can be dropped).
func fieldsOf(t reflect.Type) map[string]bool {
	if t.Kind() != reflect.Struct {
		return nil
	}
	if f, ok := fieldSets.Load(t); ok {
		return f.(map[string]bool)
	}
	keep := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name := f.Tag.Get("xapi"); name != "" && name != "-" && f.IsExported() {
			keep[name] = true
		}
	}
	fieldSets.Store(t, keep)
	return keep
}

// recordProjection keeps the fields of the record type T at depth.
func recordProjection[T any](depth int) *projection {
	keep := fieldsOf(reflect.TypeFor[T]())
	if keep == nil {
		return nil
	}
	return &projection{depth: depth, keep: keep}
}

// snapshotTypes are the record types that event.from's snapshots of a class
// are decoded into in this package: a subscription to these classes only
// carries their fields (see Event.Snapshot).
var snapshotTypes = map[string]reflect.Type{
	"vm":           reflect.TypeFor[VMState](),
	"vm_appliance": reflect.TypeFor[VMAppliance](),
	"task":         reflect.TypeFor[taskStatus](),
}

// taskStatus is what waiting for a task reads of its record: the task
// watcher decodes hundreds of task snapshots a second while VMs start.
type taskStatus struct {
	UUID      string   `xapi:"uuid"`
	NameLabel string   `xapi:"name_label"`
	Status    string   `xapi:"status"`
	Progress  float64  `xapi:"progress"`
	Result    string   `xapi:"result"`
	ErrorInfo []string `xapi:"error_info"`
}

var snapshotProjections sync.Map // the classes, without object refs -> *projection

// snapshotProjection keeps, in the snapshots of an event.from on classes
// ("VM", "task/OpaqueRef:…"), the fields of their record types; nil when a
// class (or "*") has none.
func snapshotProjection(classes []string) *projection {
	names := make([]string, len(classes))
	for i, c := range classes {
		names[i], _, _ = strings.Cut(strings.ToLower(c), "/")
	}
	key := strings.Join(names, ",")
	if p, ok := snapshotProjections.Load(key); ok {
		return p.(*projection)
	}
	keep := map[string]bool{}
	for _, class := range names {
		t, ok := snapshotTypes[class]
		if !ok {
			snapshotProjections.Store(key, (*projection)(nil))
			return nil
		}
		for f := range fieldsOf(t) {
			keep[f] = true
		}
	}
	var p *projection
	if len(classes) > 0 {
		p = &projection{depth: depthSnapshot, keep: keep}
	}
	snapshotProjections.Store(key, p)
	return p
}
