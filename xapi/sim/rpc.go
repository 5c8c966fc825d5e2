package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// This file is the XML-RPC front door of a host: parsing, the slave check, method lookup,
// arity, session and RBAC checks, faults, timing, Async tasks and the journal.

// handler implements one message. It runs with the world lock held; failures are raised
// with c.fail (a panic recovered by dispatch), which keeps the many XAPI checks readable.
type handler func(c *call) any

// handlers maps "<class>.<message>" to its implementation; genericHandlers maps a message
// name (or a prefix ending in "_") to an implementation shared by every class.
var handlers = map[string]handler{}

func register(method string, h handler) { handlers[method] = h }

// call is one API invocation.
type call struct {
	w      *World
	pool   *Pool
	host   *Host
	sess   *Session
	db     *DB // the session's database: the pool's, or a foreign one
	cls    *classDef
	msg    *messageDef
	method string // canonical "<class>.<message>"
	params []any
	ctx    context.Context
	task   string             // the task the call runs in (Async, or synced)
	cancel context.CancelFunc // ends ctx: the task's, set with it
	due    time.Time          // when the call's last timed step was due to end (sleep)
}

type raised struct{ f *Failure }

// fail aborts the call with an XAPI error.
func (c *call) fail(code string, params ...string) {
	panic(raised{failure(code, params...)})
}

func (c *call) failWith(f *Failure) { panic(raised{f}) }

func (c *call) paramName(i int) string {
	if c.msg != nil && i < len(c.msg.Names) {
		return c.msg.Names[i]
	}
	return strconv.Itoa(i)
}

// str reads a string (or ref/enum) parameter.
func (c *call) str(i int) string {
	if i >= len(c.params) {
		return ""
	}
	s, ok := c.params[i].(string)
	if !ok {
		if c.params[i] == nil {
			return ""
		}
		c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	}
	return s
}

// boolean reads a bool parameter; like xapi, only a real <boolean> is accepted.
func (c *call) boolean(i int) bool {
	if i >= len(c.params) {
		return false
	}
	b, ok := c.params[i].(bool)
	if !ok {
		c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	}
	return b
}

// int reads an int parameter: <int>/<i4>/<i8> or a decimal string.
func (c *call) int(i int) int64 {
	switch v := c.params[i].(type) {
	case int64:
		return v
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			return n
		}
	}
	c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	return 0
}

// float reads a float parameter (ints are accepted too, as by ocaml-rpc).
func (c *call) float(i int) float64 {
	switch v := c.params[i].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err == nil {
			return f
		}
	}
	c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	return 0
}

// strMap reads a (string -> string) map parameter.
func (c *call) strMap(i int) map[string]string {
	out := map[string]string{}
	if i >= len(c.params) {
		return out
	}
	m, ok := c.params[i].(map[string]any)
	if !ok {
		c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		default:
			out[k] = fmt.Sprint(x)
		}
	}
	return out
}

// strSet reads a string set parameter.
func (c *call) strSet(i int) []string {
	a, ok := c.params[i].([]any)
	if !ok {
		c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	}
	out := make([]string, 0, len(a))
	for _, v := range a {
		s, ok := v.(string)
		if !ok {
			c.fail("FIELD_TYPE_ERROR", c.paramName(i))
		}
		out = append(out, s)
	}
	return out
}

// obj resolves a ref parameter of a class in the session's database.
func (c *call) obj(i int, class string) *object {
	ref := c.str(i)
	o := c.db.Get(class, ref)
	if o == nil {
		c.fail("HANDLE_INVALID", class, ref)
	}
	return o
}

// sleep waits d of simulated time with the world lock released, so other calls proceed.
func (c *call) sleep(d time.Duration) {
	d = c.w.scaled(d)
	if d <= 0 {
		return
	}
	// The steps of one operation follow each other at their due times: a
	// step that comes less than its own length after the last one was due
	// to end starts then, as a queued hold does (holdSteps). A DR task's
	// plugs, one after another, each late by its timer, took 4 % longer
	// than the model's 64 plugs (make bench).
	start := time.Now()
	if late := start.Sub(c.due); !c.due.IsZero() && late >= 0 && late < d {
		start = c.due
	}
	c.due = start.Add(d)
	c.unlocked(func() {
		wait := time.Until(c.due)
		if wait <= 0 {
			return
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.ctx.Done():
		}
	})
	if c.ctx.Err() != nil && c.task != "" {
		c.fail("TASK_CANCELLED", c.task)
	}
}

// unlocked runs f without the world lock.
func (c *call) unlocked(f func()) {
	c.w.mu.Unlock()
	defer c.w.mu.Lock()
	f()
}

// optionalTrailing lists messages whose last parameters have datamodel defaults (xapi's
// versioned parameters) and may therefore be omitted by clients.
var optionalTrailing = map[string]int{
	"session.login_with_password": 2,
	"SR.probe":                    1,
	"SR.probe_ext":                1,
	"SR.introduce":                1,
	"SR.create":                   1,
}

// ServeHTTP answers JSON-RPC on POST /jsonrpc and XML-RPC on any other path (xapi serves
// it on / and /RPC2).
func (h *Host) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w := h.pool.w
	if r.Method != http.MethodPost {
		http.Error(rw, "xapisim: POST XML-RPC to / or JSON-RPC to /jsonrpc", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return
	}
	if w.faults.shouldDrop(h.pool.Name) {
		// Journalled before the drop, so a client that saw it finds it there.
		w.journal.add(JournalEntry{Time: time.Now(), Pool: h.pool.Name, Host: h.Name, Method: "(dropped)", Result: "CONNECTION_DROPPED"})
		dropConnection(rw)
		return
	}
	isJSON := r.URL.Path == "/jsonrpc"
	var mc *methodCall
	var jc *jsonCall
	if isJSON {
		jc, err = parseJSONCall(body)
		if jc != nil {
			mc = jc.call
		}
	} else {
		mc, err = parseCall(body)
	}
	if err != nil {
		// xapi's HTTP server answers any request it cannot parse with a 500 and HTML.
		rw.Header().Set("Content-Type", "text/html")
		rw.WriteHeader(http.StatusInternalServerError)
		_, _ = rw.Write(malformedHTML(err))
		w.journal.add(JournalEntry{Time: time.Now(), Pool: h.pool.Name, Host: h.Name, Method: "(malformed)", Result: "HTTP_500"})
		return
	}
	if d := w.faults.slowness(h.pool.Name, mc.Method); d > 0 {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	v, f := w.dispatch(r.Context(), h, mc)
	rw.Header().Set("Access-Control-Allow-Origin", "*")
	rw.Header().Set("Access-Control-Allow-Headers", "X-Requested-With")
	var out []byte
	switch {
	case isJSON:
		rw.Header().Set("Content-Type", "application/json")
		out = encodeJSONResponse(jc, v, f)
	case mc.Method == "system.listMethods":
		// xapi answers it with the bare array, outside the Status envelope.
		rw.Header().Set("Content-Type", "text/xml")
		out = encodeBare(v)
	case f != nil:
		rw.Header().Set("Content-Type", "text/xml")
		out = encodeFailure(f)
	default:
		rw.Header().Set("Content-Type", "text/xml")
		out = encodeSuccess(v)
	}
	// xapi writes the whole answer with its length (Http_svr.response_str),
	// where net/http would chunk a large one.
	rw.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = rw.Write(out)
}

func dropConnection(rw http.ResponseWriter) {
	if hj, ok := rw.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// dispatch runs one call and journals it.
func (w *World) dispatch(ctx context.Context, h *Host, mc *methodCall) (any, *Failure) {
	start := time.Now()
	entry := JournalEntry{Time: start, Pool: h.pool.Name, Host: h.Name, Method: mc.Method, Params: redact(mc.Method, mc.Params)}
	v, f := w.invoke(ctx, h, mc, &entry)
	entry.Duration = time.Since(start)
	if f != nil {
		entry.Result = f.Code
		entry.Error = f.Description()
		w.journal.add(entry)
		return nil, f
	}
	entry.Result = "Success"
	if !entry.journaled {
		w.journal.add(entry)
	}
	return v, nil
}

// invoke checks a call in xapi's order (its generated Server.dispatch_call): the method
// name, the parameter count, then the session (SESSION_INVALID for an unknown one, and
// only then HOST_IS_SLAVE on a pool member), then RBAC.
func (w *World) invoke(ctx context.Context, h *Host, mc *methodCall, entry *JournalEntry) (any, *Failure) {
	pool := h.pool
	if sem := pool.sem; sem != nil {
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
		case <-ctx.Done():
			return nil, failure("INTERNAL_ERROR", "client went away")
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	name := mc.Method
	async := strings.HasPrefix(name, "Async.")
	name = strings.TrimPrefix(name, "Async.")
	if name == "system.listMethods" {
		return listedMethods, nil
	}
	cls, msg, ok := lookupMessage(name)
	var impl handler
	if ok {
		impl = findHandler(cls, msg)
	}
	if async && ok && cls.Name == "session" {
		return nil, failure("MESSAGE_METHOD_UNKNOWN", mc.Method)
	}
	if !ok || impl == nil {
		// xapi hands a call it does not know, if it has parameters, to its extensions
		// (as host.call_extension): the session and that permission are checked first.
		if len(mc.Params) > 0 {
			ref, _ := mc.Params[0].(string)
			s, f := w.checkSession(h, ref)
			if f != nil {
				return nil, f
			}
			if !schema["host"].Messages["call_extension"].Roles[s.Role] {
				return nil, failure("RBAC_PERMISSION_DENIED", "host.call_extension", "No permission in user session")
			}
		}
		return nil, failure("MESSAGE_METHOD_UNKNOWN", name)
	}
	canonical := cls.Name + "." + msg.Name
	entry.Method = canonical
	if async {
		entry.Method = "Async." + canonical
	}
	want := len(msg.Params)
	min := want - optionalTrailing[canonical]
	if len(mc.Params) < min || len(mc.Params) > want {
		// Counted as xapi counts them: without the session, and without defaulted parameters.
		sess := 0
		if len(msg.Names) > 0 && msg.Names[0] == "session_id" {
			sess = 1
		}
		return nil, failure("MESSAGE_PARAMETER_COUNT_MISMATCH", name, strconv.Itoa(min-sess), strconv.Itoa(len(mc.Params)-sess))
	}
	c := &call{w: w, pool: pool, host: h, cls: cls, msg: msg, method: canonical, params: mc.Params, ctx: ctx, db: pool.db}
	if canonical == "session.login_with_password" {
		if pool.master != h {
			return nil, failure("HOST_IS_SLAVE", pool.master.Address())
		}
	} else {
		ref, _ := mc.Params[0].(string)
		s, f := w.checkSession(h, ref)
		if f != nil {
			return nil, f
		}
		c.sess = s
		entry.Session = s.kind()
		entry.User = s.User
		if s.db != nil {
			c.db = s.db
		}
		if !msg.Roles[s.Role] {
			return nil, failure("RBAC_PERMISSION_DENIED", permissionName(canonical), "No permission in user session")
		}
	}
	if f := w.faults.injected(pool.Name, canonical); f != nil {
		return nil, f
	}
	if async {
		// Journaled here, under the world's lock that the task needs to end,
		// so that the call always comes before the end of its task.
		entry.Task = w.startTask(c, impl, *entry)
		entry.Result, entry.Duration, entry.journaled = "Success", time.Since(entry.Time), true
		w.journal.add(*entry)
		return entry.Task, nil
	}
	if hasTask(cls, msg) {
		return w.synced(c, impl)
	}
	w.latency()
	return run(c, impl)
}

// latency sleeps the network round trip of the timing model, the world's
// lock released. Called with it held.
func (w *World) latency() {
	if d := w.scaled(w.timing.Latency); d > 0 {
		w.mu.Unlock()
		time.Sleep(d)
		w.mu.Lock()
	}
}

// checkSession is xapi's Session_check.check: a session the pool does not know (or that
// expired) is SESSION_INVALID on any host; a pool member answers a known one with
// HOST_IS_SLAVE and the master's host.address.
func (w *World) checkSession(h *Host, ref string) (*Session, *Failure) {
	pool := h.pool
	s := pool.sessions[ref]
	if s == nil || s.expired(w) {
		if s != nil {
			pool.dropSession(s)
		}
		return nil, failure("SESSION_INVALID", ref)
	}
	if pool.master != h {
		return nil, failure("HOST_IS_SLAVE", pool.db.Get("host", pool.master.ref).S("address"))
	}
	return s, nil
}

// listedMethods is system.listMethods' answer: every message of the datamodel's classes
// (the served ones) by wire name, without Async variants.
var listedMethods = func() []string {
	var raw []struct {
		Name     string `json:"name"`
		Messages []struct {
			N string `json:"n"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(schemaJSON, &raw); err != nil {
		panic(err)
	}
	var out []string
	for _, c := range raw {
		for _, m := range c.Messages {
			out = append(out, c.Name+"."+m.N)
		}
	}
	return out
}()

// permissionName is xapi's RBAC permission for a message (class lower-cased).
func permissionName(method string) string {
	i := strings.IndexByte(method, '.')
	return strings.ToLower(method[:i]) + method[i:]
}

// run executes a handler, turning raised failures and unexpected panics into XAPI errors.
func run(c *call, impl handler) (v any, f *Failure) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(raised); ok {
				v, f = nil, e.f
				return
			}
			v, f = nil, failure("INTERNAL_ERROR", fmt.Sprintf("xapisim: %v\n%s", r, debug.Stack()))
		}
	}()
	v = impl(c)
	if v == nil {
		v = ""
	}
	return v, nil
}

func findHandler(cls *classDef, msg *messageDef) handler {
	if h := handlers[cls.Name+"."+msg.Name]; h != nil {
		return h
	}
	return genericHandler(cls, msg)
}
