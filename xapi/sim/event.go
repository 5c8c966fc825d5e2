package sim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file is event.from: a long poll over the database generation. An object whose
// last change is newer than the token is reported ("add" if created after the token,
// "mod" otherwise, with its current record as snapshot); deletions newer than the token
// are reported as "del" without snapshot, as xapi does. Class names in events are
// lower-case, like xapi's.

type subscription struct {
	all     bool
	classes map[string]bool            // datamodel class names
	objects map[string]map[string]bool // class → refs
}

func parseSubscription(classes []string) subscription {
	s := subscription{classes: map[string]bool{}, objects: map[string]map[string]bool{}}
	for _, c := range classes {
		if c == "*" {
			s.all = true
			continue
		}
		name, ref, hasRef := strings.Cut(c, "/")
		cls, ok := classByLower[strings.ToLower(name)]
		if !ok {
			continue
		}
		if hasRef {
			if s.objects[cls] == nil {
				s.objects[cls] = map[string]bool{}
			}
			s.objects[cls][ref] = true
		} else {
			s.classes[cls] = true
		}
	}
	return s
}

func (s subscription) wants(class, ref string) bool {
	return s.all || s.classes[class] || s.objects[class][ref]
}

func (s subscription) classList(db *DB) []string {
	var out []string
	for c := range db.objs {
		if s.all || s.classes[c] || len(s.objects[c]) > 0 {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out
}

func formatToken(gen int64) string { return fmt.Sprintf("%020d,%020d", gen, 0) }

// parseToken reads a token as xapi's Token.of_string: "" is the start, otherwise exactly
// two integers separated by a comma (the database and the message generations).
func parseToken(t string) (int64, bool) {
	if t == "" {
		return 0, true
	}
	first, second, ok := strings.Cut(t, ",")
	if !ok || strings.Contains(second, ",") {
		return 0, false
	}
	n, ok := ocamlInt64(first)
	if _, ok2 := ocamlInt64(second); !ok || !ok2 {
		return 0, false
	}
	return n, true
}

// ocamlInt64 is OCaml's Int64.of_string: an optional sign, decimal or 0x/0o/0b/0u
// digits, '_' allowed between them; no spaces.
func ocamlInt64(s string) (int64, bool) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	base := 10
	if len(s) > 1 && s[0] == '0' {
		switch s[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		case 'u', 'U':
		default:
			base = 0
		}
		if base != 0 {
			s = s[2:]
		} else {
			base = 10
		}
	}
	if s == "" || s[0] == '_' {
		return 0, false
	}
	u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), base, 64)
	if err != nil {
		return 0, false
	}
	if base == 10 && (u > 1<<63 || u == 1<<63 && !neg) {
		return 0, false
	}
	n := int64(u) // hexadecimal and the like wrap, as in OCaml
	if neg {
		n = -n
	}
	return n, true
}

type pendingEvent struct {
	gen       int64
	class, op string
	obj       *object
	ref       string
}

func collectEvents(db *DB, sub subscription, since int64) []pendingEvent {
	var evs []pendingEvent
	for _, class := range sub.classList(db) {
		if g, ok := db.classGen[class]; ok && g <= since {
			continue // nothing of this class changed since
		}
		for ref, o := range db.objs[class] {
			if o.mgen > since && sub.wants(class, ref) {
				op := "mod"
				if o.cgen > since {
					op = "add"
				}
				evs = append(evs, pendingEvent{gen: o.mgen, class: class, op: op, obj: o, ref: ref})
			}
		}
	}
	// Tombstones are appended in generation order: only the tail is newer.
	first := sort.Search(len(db.dels), func(i int) bool { return db.dels[i].dgen > since })
	for _, t := range db.dels[first:] {
		if t.dgen > since && t.cgen <= since && sub.wants(t.class, t.ref) {
			evs = append(evs, pendingEvent{gen: t.dgen, class: t.class, op: "del", ref: t.ref})
		}
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].gen != evs[j].gen {
			return evs[i].gen < evs[j].gen
		}
		return evs[i].ref < evs[j].ref
	})
	return evs
}

func init() {
	register("event.from", func(c *call) any {
		classes := c.strSet(1)
		token := c.str(2)
		timeout := c.float(3)
		since, ok := parseToken(token)
		if !ok {
			c.fail("EVENT_FROM_TOKEN_PARSE_FAILURE", token)
		}
		sub := parseSubscription(classes)
		// Tasks always live in the real database (see dbFor).
		db := c.db
		if len(sub.classes) == 1 && sub.classes["task"] || len(sub.classes) == 0 && len(sub.objects) == 1 && sub.objects["task"] != nil {
			db = c.pool.db
		}
		deadline := time.Now().Add(time.Duration(timeout * float64(time.Second)))
		batch := eventBatching(classes)
		c.sleep(batch.before)
		pause := batch.between / 16
		for {
			evs := collectEvents(db, sub, since)
			if len(evs) > 0 || !time.Now().Before(deadline) {
				return eventBatch(db, evs, max(since, db.gen))
			}
			ch := db.notify
			c.unlocked(func() {
				t := time.NewTimer(time.Until(deadline))
				defer t.Stop()
				select {
				case <-ch:
				case <-t.C:
				case <-c.ctx.Done():
				}
			})
			if c.ctx.Err() != nil {
				c.fail("EVENTS_LOST")
			}
			// Woken by a change: wait a little more for the changes made at
			// about the same time, longer each time a wake brought nothing.
			pause = min(batch.between, 2*pause)
			c.sleep(pause)
		}
	})
	register("event.get_current_id", func(c *call) any { return c.db.gen })
	register("event.inject", func(c *call) any {
		cls := c.str(1)
		o := c.db.Get(cls, c.str(2))
		if o == nil {
			c.fail("HANDLE_INVALID", cls, c.str(2))
		}
		c.db.Update(cls, o.ref, map[string]any{})
		return formatToken(c.db.gen)
	})
}

// batching is xapi's pacing of one event.from (Throttle.Batching in
// ocaml/xapi-aux/throttle.ml, configured in xapi_globs.ml): a pause before
// the first look at the database, then, after each wait for a change, a
// pause that starts at between/8 and doubles up to between, so that changes
// made together come in one answer. A subscription to tasks alone
// (event_from_task) has no pause before; any other (event_from) 50 ms.
type batching struct{ before, between time.Duration }

func eventBatching(classes []string) batching {
	for _, cl := range classes {
		if name, _, _ := strings.Cut(cl, "/"); !strings.EqualFold(name, "task") {
			return batching{before: 50 * time.Millisecond, between: 50 * time.Millisecond}
		}
	}
	return batching{between: 50 * time.Millisecond}
}

func eventBatch(db *DB, evs []pendingEvent, gen int64) Struct {
	list := make([]any, 0, len(evs))
	for _, e := range evs {
		ev := Struct{
			{Name: "id", Value: strconv.FormatInt(e.gen, 10)},
			{Name: "timestamp", Value: "0.0"}, // xapi's from_inner always sends "0.0"
			{Name: "class", Value: strings.ToLower(e.class)},
			{Name: "operation", Value: e.op},
			{Name: "ref", Value: e.ref},
		}
		if e.obj != nil {
			ev = append(ev, Member{Name: "snapshot", Value: render(e.obj)})
		}
		list = append(list, ev)
	}
	// Every table of the database, subscribed or not, as Int32 counts; xapi folds its
	// table set (in name order) onto a list, so they come in reverse name order.
	counts := Struct{}
	for i := len(dbTables) - 1; i >= 0; i-- {
		class := dbTables[i]
		counts = append(counts, Member{Name: strings.ToLower(class), Value: int32(len(db.objs[class]))})
	}
	return Struct{{Name: "events", Value: list}, {Name: "valid_ref_counts", Value: counts}, {Name: "token", Value: formatToken(gen)}}
}

// dbTables are the classes stored in the database (all but event), in byte order.
var dbTables = func() []string {
	var out []string
	for name := range schema {
		if name != "event" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}()
