// Package simadapter is the storage adapter of the simulator's arrays: it
// answers lifeboat's storage adapter protocol (docs/storage-adapters.md) by
// calling the simulator's control API. It is also the smallest complete
// example of an adapter: one request on stdin, one response on stdout.
// Command xapisim-adapter runs it; tests run it in their own binary (Main)
// to drive the real protocol without building the command.
package simadapter

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lifeboat-dr/lifeboat/activities/adapter"
	"github.com/lifeboat-dr/lifeboat/version"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

// Main answers one request read from stdin on stdout, as the command does;
// args are the command's arguments (-control URL). It returns the exit
// status: 1 when the answer is ok: false.
func Main(args []string, stdin io.Reader, stdout io.Writer) int {
	fs := flag.NewFlagSet("xapisim-adapter", flag.ContinueOnError)
	control := fs.String("control", "http://127.0.0.1:18000", "the simulator's control API")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("xapisim-adapter"))
		return 0
	}
	resp := New(*control).Serve(stdin)
	_ = json.NewEncoder(stdout).Encode(resp)
	if !resp.OK {
		return 1
	}
	return 0
}

// New is the adapter of the simulator whose control API is at control.
func New(control string) *Adapter {
	return &Adapter{control: control, http: &http.Client{Timeout: 30 * time.Second}}
}

// Adapter answers requests against one simulator.
type Adapter struct {
	control string
	http    *http.Client
}

// failure is an answer with ok: false.
type failure struct{ adapter.Fault }

func (f *failure) Error() string { return f.Message }

func fail(code, format string, args ...any) error {
	return &failure{adapter.Fault{Code: code, Message: fmt.Sprintf(format, args...), Retryable: code == adapter.CodeUnavailable}}
}

// Serve answers one request.
func (a *Adapter) Serve(in io.Reader) *adapter.Response {
	var req adapter.Request
	resp, err := func() (*adapter.Response, error) {
		if err := json.NewDecoder(in).Decode(&req); err != nil {
			return nil, fail(adapter.CodeBadRequest, "the request is not JSON: %v", err)
		}
		if req.Protocol != adapter.Protocol {
			return nil, fail(adapter.CodeUnsupported, "protocol %d is not spoken here (only %d)", req.Protocol, adapter.Protocol)
		}
		if req.LUN.SCSIid == "" {
			return nil, fail(adapter.CodeBadRequest, "the request names no LUN (lun.scsi_id)")
		}
		switch req.Action {
		case adapter.ActionStatus:
			return a.status(req)
		case adapter.ActionPromote:
			return a.promote(req)
		case adapter.ActionReverse:
			return a.reverse(req)
		case adapter.ActionSnapshot:
			return a.snapshot(req)
		case adapter.ActionDeleteSnapshot:
			return a.deleteSnapshot(req)
		}
		return nil, fail(adapter.CodeUnsupported, "unknown action %q", req.Action)
	}()
	if err != nil {
		var f *failure
		if !errors.As(err, &f) {
			f = &failure{adapter.Fault{Code: adapter.CodeInternal, Message: err.Error()}}
		}
		return &adapter.Response{Error: &f.Fault}
	}
	resp.OK = true
	return resp
}

// mirrorOf finds the LUN's mirror and which end the LUN is.
func (a *Adapter) mirrorOf(scsi string) (sim.MirrorState, string, error) {
	var st sim.State
	if err := a.call("GET", "/state", nil, &st); err != nil {
		return sim.MirrorState{}, "", err
	}
	for _, m := range st.Mirrors {
		switch scsi {
		case m.Source:
			return m, "source", nil
		case m.Destination:
			return m, "destination", nil
		}
	}
	return sim.MirrorState{}, "", fail(adapter.CodeNotFound, "LUN %s is in no mirror of the simulator", scsi)
}

func mirrorAnswer(m sim.MirrorState, role, msg string) *adapter.Response {
	lag, _ := time.ParseDuration(m.Lag)
	return &adapter.Response{Message: msg, Mirror: &adapter.Mirror{Name: m.Name, State: m.State, Role: role,
		LagSeconds: lag.Seconds(), LastCopy: m.LastCopy}}
}

func (a *Adapter) status(req adapter.Request) (*adapter.Response, error) {
	m, role, err := a.mirrorOf(req.LUN.SCSIid)
	if err != nil {
		return nil, err
	}
	return mirrorAnswer(m, role, fmt.Sprintf("mirror %s is %s", m.Name, m.State)), nil
}

// writable says whether the LUN's end of the mirror is written to (not the
// read-only copy).
func writable(m sim.MirrorState, role string) bool {
	switch m.State {
	case sim.MirrorReplicating:
		return role == "source"
	case sim.MirrorReversed:
		return role == "destination"
	}
	return true
}

// promote splits the mirror if the LUN is its read-only end.
func (a *Adapter) promote(req adapter.Request) (*adapter.Response, error) {
	m, role, err := a.mirrorOf(req.LUN.SCSIid)
	if err != nil {
		return nil, err
	}
	if writable(m, role) {
		return mirrorAnswer(m, role, fmt.Sprintf("LUN %s is already writable (mirror %s is %s)", req.LUN.SCSIid, m.Name, m.State)), nil
	}
	if err := a.call("POST", "/mirrors/"+url.PathEscape(m.Name)+"/split", nil, nil); err != nil {
		return nil, err
	}
	m, role, err = a.mirrorOf(req.LUN.SCSIid)
	if err != nil {
		return nil, err
	}
	return mirrorAnswer(m, role, fmt.Sprintf("mirror %s split: LUN %s is writable", m.Name, req.LUN.SCSIid)), nil
}

// reverse makes the mirror replicate from this LUN to the other end.
func (a *Adapter) reverse(req adapter.Request) (*adapter.Response, error) {
	m, role, err := a.mirrorOf(req.LUN.SCSIid)
	if err != nil {
		return nil, err
	}
	want, action := sim.MirrorReversed, "reverse"
	if role == "source" {
		want, action = sim.MirrorReplicating, "resume"
	}
	if m.State != want {
		if err := a.call("POST", "/mirrors/"+url.PathEscape(m.Name)+"/"+action, nil, nil); err != nil {
			return nil, err
		}
		if m, role, err = a.mirrorOf(req.LUN.SCSIid); err != nil {
			return nil, err
		}
	}
	return mirrorAnswer(m, role, fmt.Sprintf("mirror %s replicates from LUN %s", m.Name, req.LUN.SCSIid)), nil
}

func (a *Adapter) snapshots() ([]sim.SnapshotState, error) {
	var list []sim.SnapshotState
	err := a.call("GET", "/snapshots", nil, &list)
	return list, err
}

func (a *Adapter) snapshot(req adapter.Request) (*adapter.Response, error) {
	if req.Snapshot == "" {
		return nil, fail(adapter.CodeBadRequest, "the request names no snapshot")
	}
	list, err := a.snapshots()
	if err != nil {
		return nil, err
	}
	existed := false
	for _, s := range list {
		existed = existed || s.Name == req.Snapshot
	}
	var s sim.SnapshotState
	if err := a.call("POST", "/luns/"+url.PathEscape(req.LUN.SCSIid)+"/snapshots", map[string]string{"name": req.Snapshot}, &s); err != nil {
		return nil, err
	}
	dc := map[string]string{"SCSIid": s.SCSIid}
	if s.Kind == "iscsi" {
		dc["target"], dc["port"], dc["targetIQN"] = s.Target, strconv.Itoa(s.Port), s.IQN
	}
	verb := "made"
	if existed {
		verb = "found"
	}
	return &adapter.Response{Message: fmt.Sprintf("snapshot %s of LUN %s %s: LUN %s", s.Name, s.Source, verb, s.SCSIid),
		Snapshot: &adapter.Snapshot{Name: s.Name, Created: !existed, DeviceConfig: dc, DataAsOf: s.DataAsOf}}, nil
}

func (a *Adapter) deleteSnapshot(req adapter.Request) (*adapter.Response, error) {
	if req.Snapshot == "" {
		return nil, fail(adapter.CodeBadRequest, "the request names no snapshot")
	}
	err := a.call("DELETE", "/snapshots/"+url.PathEscape(req.Snapshot), nil, nil)
	var f *failure
	if errors.As(err, &f) && f.Code == adapter.CodeNotFound {
		return &adapter.Response{Message: "no snapshot " + req.Snapshot + ": nothing to delete"}, nil
	}
	if err != nil {
		return nil, err
	}
	return &adapter.Response{Message: "snapshot " + req.Snapshot + " deleted", Deleted: true}, nil
}

// call makes one control API request; its errors are adapter faults.
func (a *Adapter) call(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.control+path, rd)
	if err != nil {
		return fail(adapter.CodeBadRequest, "control API address %s: %v", a.control, err)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fail(adapter.CodeUnavailable, "the simulator's control API at %s does not answer: %v", a.control, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		code := adapter.CodeConflict
		if resp.StatusCode == http.StatusNotFound {
			code = adapter.CodeNotFound
		}
		return fail(code, "%s", e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
