package sim

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// TaskEnded is the Method of the entry recorded when an Async call's task
// ends; it is no XAPI method, so counting calls by Method is not affected.
const TaskEnded = "(task ended)"

// JournalEntry is one call as the simulator saw it, or the end of an Async
// call's task (Method TaskEnded; Of names the call, Task pairs the two
// entries, Result is the task's outcome and Duration its run time).
type JournalEntry struct {
	Seq      int64         `json:"seq"`
	Time     time.Time     `json:"time"`
	Pool     string        `json:"pool"`
	Host     string        `json:"host"`
	Method   string        `json:"method"`
	Session  string        `json:"session,omitempty"` // "real", "foreign" or "" (login)
	User     string        `json:"user,omitempty"`
	Params   []any         `json:"params,omitempty"`
	Result   string        `json:"result"` // "Success" or the error code
	Error    []string      `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
	Task     string        `json:"task,omitempty"` // the task ref of an Async call
	Of       string        `json:"of,omitempty"`   // on a TaskEnded entry: the Async call

	journaled bool // added already (an Async call, before its task can end)
}

// Journal records every call (in memory, bounded, and optionally as JSON lines in a file).
type Journal struct {
	mu      sync.Mutex
	entries []JournalEntry
	seq     int64
	counts  map[CallKey]int // every call ever journaled, by pool and method (not capped)
	file    *os.File
	enc     *json.Encoder
}

const journalCap = 200000

func newJournal(path string) (*Journal, error) {
	j := &Journal{}
	if path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open journal %s: %w", path, err)
		}
		j.file = f
		j.enc = json.NewEncoder(f)
	}
	return j, nil
}

func (j *Journal) add(e JournalEntry) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	e.Seq = j.seq
	j.entries = append(j.entries, e)
	if j.counts == nil {
		j.counts = map[CallKey]int{}
	}
	j.counts[CallKey{e.Pool, e.Method}]++
	if len(j.entries) > journalCap {
		j.entries = append([]JournalEntry(nil), j.entries[journalCap/2:]...)
	}
	if j.enc != nil {
		_ = j.enc.Encode(e)
	}
}

// Entries returns the entries with Seq > since.
func (j *Journal) Entries(since int64) []JournalEntry {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []JournalEntry
	for _, e := range j.entries {
		if e.Seq > since {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many entries match a method (canonical name, "Async." prefix kept)
// and, when non-empty, a result.
func (j *Journal) Count(method, result string) int {
	n := 0
	for _, e := range j.Entries(0) {
		if e.Method == method && (result == "" || e.Result == result) {
			n++
		}
	}
	return n
}

func (j *Journal) close() error {
	if j.file != nil {
		return j.file.Close()
	}
	return nil
}

// redact hides passwords: login's second parameter and any *password* map value.
func redact(method string, params []any) []any {
	out := make([]any, len(params))
	for i, p := range params {
		out[i] = redactValue(p)
	}
	if strings.HasSuffix(method, "login_with_password") && len(out) > 1 {
		out[1] = "******"
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			if strings.Contains(strings.ToLower(k), "password") || strings.Contains(strings.ToLower(k), "secret") {
				m[k] = "******"
			} else {
				m[k] = redactValue(e)
			}
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = redactValue(e)
		}
		return a
	case time.Time:
		return formatDateTime(x)
	}
	return v
}

// CallKey names a method called on a pool.
type CallKey struct{ Pool, Method string }

// Counts returns how many times each method was called on each pool since the world
// started (TaskEnded entries count as their own method). Unlike Entries it is never
// capped, so benchmarks can count the calls of any run.
func (j *Journal) Counts() map[CallKey]int {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[CallKey]int, len(j.counts))
	for k, v := range j.counts {
		out[k] = v
	}
	return out
}
