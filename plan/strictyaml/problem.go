// Package strictyaml decodes YAML files into Go structs strictly: every key
// must be a known field, every value must fit its field, and each problem is
// reported with the file, line and column it is on, so an operator can fix a
// plan or a worker configuration without guessing.
//
// It is shared by the plan (plan) and the worker configuration
// (worker/config) so that both speak the same error format.
package strictyaml

import (
	"fmt"
	"sort"
	"strings"
)

// Problem is one thing wrong (or, for warnings, worth knowing) in a file.
type Problem struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String renders the problem as "file:line:col: field: message", leaving out
// what is unknown (a plan that came as JSON from the Temporal UI has no lines).
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		b.WriteString(":")
	}
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, "%d:", p.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; as an error it renders one per line.
type Problems []Problem

// Error renders every problem, one per line, in file order.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Sort orders problems by file position, keeping the order in which they were
// found for problems on the same spot.
func (ps Problems) Sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].File != ps[j].File {
			return ps[i].File < ps[j].File
		}
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Column < ps[j].Column
	})
}

// Err returns ps as an error, or nil when there is no problem, so that callers
// never return a non-nil error holding an empty list.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Pos is a line and column in a file (1-based).
type Pos struct {
	Line   int
	Column int
}

// Positions maps a field path ("storage[0].device_config.SCSIid") to where
// it is written in the file.
type Positions map[string]Pos

// Of returns the position of a field or, if the field is not in the file (a
// missing key), of its closest parent that is, so a problem about a missing
// key points at the mapping that lacks it. Without any match it is line 1.
func (ps Positions) Of(field string) Pos {
	for f := field; f != ""; f = parent(f) {
		if p, ok := ps[f]; ok {
			return p
		}
	}
	if p, ok := ps[""]; ok {
		return p
	}
	return Pos{Line: 1, Column: 1}
}

// At builds a problem for a field, placed where the field (or its closest
// parent) is written.
func (ps Positions) At(file, field, format string, args ...any) Problem {
	pos := ps.Of(field)
	return Problem{File: file, Line: pos.Line, Column: pos.Column, Field: field, Message: fmt.Sprintf(format, args...)}
}

// parent strips the last element of a field path: "a.b[2]" → "a.b", "a.b" → "a".
func parent(f string) string {
	i := strings.LastIndexAny(f, ".[")
	if i < 0 {
		return ""
	}
	return f[:i]
}
