package xapi

import "strings"

// Ref is an opaque reference ("OpaqueRef:…") into a pool's real database.
type Ref string

// ForeignRef is an opaque reference into a foreign database opened with
// VDI.open_database. It is a distinct type so that it cannot be passed by
// accident where a real reference is expected: xapi would answer
// HANDLE_INVALID, or worse, resolve it in the wrong database.
type ForeignRef string

// RefType is the set of reference types records can be keyed by.
type RefType interface {
	Ref | ForeignRef
}

// NullRef is the null reference xapi uses for unset reference fields.
const NullRef = "OpaqueRef:NULL"

// IsNull reports whether r is empty or OpaqueRef:NULL.
func (r Ref) IsNull() bool { return isNullRef(string(r)) }

// IsNull reports whether r is empty or OpaqueRef:NULL.
func (r ForeignRef) IsNull() bool { return isNullRef(string(r)) }

// IsNullRef reports whether a reference of either kind is empty or OpaqueRef:NULL.
func IsNullRef[R RefType](r R) bool { return isNullRef(string(r)) }

func isNullRef(s string) bool {
	return s == "" || s == NullRef || !strings.HasPrefix(s, "OpaqueRef:")
}
