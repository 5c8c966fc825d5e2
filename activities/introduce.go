package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/lifeboat-dr/lifeboat/xapi"
)

// introduceBeat is Introduce's heartbeat: the DR_task.create tasks in
// flight (they keep running in XAPI if the worker dies), by storage index.
// Storage and Task are an older worker's single task in flight.
type introduceBeat struct {
	Storage int            `json:"storage"`
	Task    string         `json:"task,omitempty"`
	Tasks   map[int]string `json:"tasks,omitempty"`
}

// Introduce creates one DR_task per storage target with whitelisted SRs.
//
// Idempotency: a whitelisted SR already in the pool whose introduced_by is
// an existing DR task was introduced by an earlier attempt: that task is
// adopted, and only the SRs the pool does not know are introduced. A retry
// first waits for the DR_task.create an earlier attempt left in flight.
func (a *Activities) Introduce(ctx context.Context, in *IntroduceInput) (*IntroduceResult, error) {
	out, err := a.introduce(ctx, in)
	if err != nil {
		return nil, withPartialResult(err, out)
	}
	return out, nil
}

// withPartialResult attaches the DR tasks created before a failure to the
// error's details: Temporal drops an activity's result when it fails, and
// the workflow must still destroy those tasks (read them with
// ApplicationError.Details(&IntroduceResult{})).
func withPartialResult(err error, out *IntroduceResult) error {
	var ae *temporal.ApplicationError
	if out == nil || len(out.DRTasks) == 0 || !errors.As(err, &ae) {
		return err
	}
	opts := temporal.ApplicationErrorOptions{NonRetryable: ae.NonRetryable(), Cause: errors.Unwrap(ae), Details: []any{out}}
	return temporal.NewApplicationErrorWithOptions(ae.Message(), ae.Type(), opts)
}

func (a *Activities) introduce(ctx context.Context, in *IntroduceInput) (*IntroduceResult, error) {
	// Heartbeat from the first line, with the earlier attempt's task until
	// it is over, so a worker dying while this one waits for it leaves it
	// to the next attempt.
	var prev introduceBeat
	previousHeartbeat(ctx, &prev)
	tr := newTracker(ctx, prev)
	stop := tr.keepAlive(a.lim.heartbeatEvery)
	defer stop()
	c, err := a.connect(ctx, in.Site)
	if err != nil {
		return nil, err
	}
	if prev.Task != "" || len(prev.Tasks) > 0 {
		if prev.Task != "" {
			a.awaitStaleTask(ctx, c, xapi.Ref(prev.Task))
		}
		for _, i := range slices.Sorted(maps.Keys(prev.Tasks)) {
			a.awaitStaleTask(ctx, c, xapi.Ref(prev.Tasks[i]))
		}
		tr.update(func(b *introduceBeat) { *b = introduceBeat{} })
	}

	out := &IntroduceResult{DRTasks: []DRTask{}, AttachedSRs: []SRInfo{}}
	type job struct {
		i       int
		label   string
		dc      *resolved
		missing []string
	}
	before, err := readSRState(ctx, c.s)
	if err != nil {
		return out, classify(ctx, err, "reading the SRs at site "+c.site+" failed", "")
	}
	var jobs []job
	for i, st := range in.Storage {
		if i >= len(in.Whitelist) || len(in.Whitelist[i]) == 0 {
			continue
		}
		dc, err := a.resolveDeviceConfig(st, i)
		if err != nil {
			return out, err
		}
		var missing []string
		for _, uuid := range in.Whitelist[i] {
			if _, ok := before.byUUID[uuid]; !ok {
				missing = append(missing, uuid)
			}
		}
		jobs = append(jobs, job{i, storageLabel(st, i), dc, missing})
	}
	// The DR tasks of different targets are created several at once
	// (storageParallel); what each introduced is read once, after all.
	createErrs := forEachLimited(ctx, len(jobs), storageParallel, func(k int) error {
		j := jobs[k]
		if len(j.missing) == 0 {
			return nil
		}
		st := in.Storage[j.i]
		pctx := xapi.WithProgress(ctx, func(task xapi.Ref, _ float64) {
			tr.update(func(b *introduceBeat) {
				if b.Tasks == nil {
					b.Tasks = map[int]string{}
				}
				b.Tasks[j.i] = string(task)
			})
		})
		_, err := c.s.CreateDRTask(pctx, st.Type, j.dc.config, j.missing)
		tr.update(func(b *introduceBeat) { delete(b.Tasks, j.i) })
		return err
	})
	var firstErr error
	for k, cerr := range createErrs {
		if cerr != nil {
			j := jobs[k]
			a.destroyFailedDRTasks(ctx, c, in.Whitelist[j.i], before)
			if firstErr == nil {
				firstErr = introduceError(ctx, cerr, j.label, in.Storage[j.i].Type, c.site, j.dc)
			}
		}
	}
	state, err := readSRState(ctx, c.s)
	if err != nil {
		if firstErr != nil {
			return out, firstErr
		}
		return out, classify(ctx, err, "reading the SRs at site "+c.site+" failed", "")
	}
	// Report every DR task that owns one of our SRs (this attempt's or an
	// earlier one's), and every whitelisted SR now attached, in storage
	// order; the first failure is returned with what was introduced, so
	// the workflow can destroy it.
	seenTask := map[string]bool{}
	var notAttached error
	for k, j := range jobs {
		st := in.Storage[j.i]
		var missing []string
		for _, uuid := range in.Whitelist[j.i] {
			sr, ok := state.byUUID[uuid]
			if !ok || !state.attached(sr.ref) {
				missing = append(missing, uuid)
				continue
			}
			out.AttachedSRs = append(out.AttachedSRs, SRInfo{UUID: uuid, Name: sr.rec.NameLabel})
			task, ok := state.tasks[sr.rec.IntroducedBy]
			if !ok || seenTask[task.UUID] {
				continue
			}
			seenTask[task.UUID] = true
			dt := DRTask{UUID: task.UUID, StorageName: st.Name, IntroducedSRs: []SRInfo{}}
			for _, ref := range task.IntroducedSRs {
				if s, ok := state.byRef[ref]; ok {
					dt.IntroducedSRs = append(dt.IntroducedSRs, SRInfo{UUID: s.UUID, Name: s.NameLabel})
				}
			}
			sort.Slice(dt.IntroducedSRs, func(x, y int) bool { return dt.IntroducedSRs[x].UUID < dt.IntroducedSRs[y].UUID })
			out.DRTasks = append(out.DRTasks, dt)
		}
		if len(missing) > 0 && createErrs[k] == nil && notAttached == nil {
			notAttached = nonRetryable(codeNotFound, fmt.Sprintf(
				"SR %s of storage %s is not attached at site %s after the introduction (is the whitelist right, and the LUN visible to every host?)",
				strings.Join(missing, ", "), j.label, c.site), nil)
		}
	}
	if firstErr != nil {
		return out, firstErr
	}
	if notAttached != nil {
		return out, notAttached
	}
	return out, nil
}

// introduceError explains a failed DR_task.create; a mirror copy that is
// still replicating (read-only) gets the one instruction that fixes it.
func introduceError(ctx context.Context, err error, label, typ, siteName string, dc *resolved) error {
	what := fmt.Sprintf("introducing the SRs of storage %s (%s) at site %s failed", label, typ, siteName)
	if readOnlyLUN(err) {
		// The code gives the next step (split or promote the mirror).
		return nonRetryable(codeMirror, dc.scrub(sentence(what, fmt.Sprintf("the LUN of storage %s is still a read-only mirror copy", label), "")), nil)
	}
	return classifyScrubbed(ctx, err, what, "check the storage is reachable from every host of the pool and its device_config in the plan, then re-run", dc)
}

// readOnlyLUN recognises the storage driver's refusal of a LUN that is the
// destination of an active mirror.
func readOnlyLUN(err error) bool {
	xe, ok := xapi.AsError(err)
	if !ok || !strings.HasPrefix(xe.Code, xapi.CodeSRBackendFailure) {
		return false
	}
	text := strings.ToLower(strings.Join(xe.Params, " "))
	return strings.Contains(text, "read-only") || strings.Contains(text, "read only") || strings.Contains(text, "write protect")
}

// destroyFailedDRTasks destroys the DR task a failed DR_task.create left
// behind (xapi does not): a task that did not exist before this attempt and
// owns some of our SRs, or owns none — the usual case, as xapi forgets the
// SR that failed. An empty new task is only destroyed when no other
// DR_task.create is in flight in the pool, since another run's task is empty
// too while it introduces its SRs; an empty task of a finished create owns
// nothing, so destroying it cannot hurt anyone.
func (a *Activities) destroyFailedDRTasks(ctx context.Context, c *conn, whitelist []string, before *srState) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.lim.cleanupTimeout)
	defer cancel()
	now, err := readSRState(cctx, c.s)
	if err != nil {
		a.logger(ctx).Warn("cannot look for the DR task of a failed introduction", zap.String("site", c.site), zap.Error(err))
		return
	}
	ours := map[xapi.Ref]bool{}
	for _, uuid := range whitelist {
		if sr, ok := now.byUUID[uuid]; ok && !xapi.IsNullRef(sr.rec.IntroducedBy) {
			ours[sr.rec.IntroducedBy] = true
		}
	}
	othersInFlight := true
	if tasks, err := c.s.GetAllTaskRecords(cctx); err == nil {
		othersInFlight = false
		for _, t := range tasks {
			if !t.Done() && strings.Contains(t.NameLabel, "DR_task.create") {
				othersInFlight = true
			}
		}
	}
	for ref, task := range now.tasks {
		if _, old := before.tasks[ref]; old {
			continue
		}
		mine := ours[ref]
		if !mine && (len(task.IntroducedSRs) > 0 || othersInFlight) {
			continue
		}
		if err := c.s.DestroyDRTask(cctx, ref); err != nil && !gone(err) {
			a.logger(ctx).Warn("cannot destroy the DR task of a failed introduction", zap.String("site", c.site), zap.String("dr_task", task.UUID), zap.Error(err))
		}
	}
}

// awaitStaleTask waits for a task an earlier attempt left running, then
// destroys it, so a retry never races its own predecessor.
func (a *Activities) awaitStaleTask(ctx context.Context, c *conn, task xapi.Ref) (result string, found bool, err error) {
	rec, err := c.s.GetTaskRecord(ctx, task)
	if err != nil {
		return "", false, nil
	}
	found = true
	if !rec.Done() {
		a.logger(ctx).Info("waiting for the task of an earlier attempt", zap.String("site", c.site), zap.String("task", string(task)))
		result, err = c.s.WaitTask(ctx, task)
	} else if rec.Status == xapi.TaskSuccess {
		result = rec.Result
	} else {
		_, err = c.s.WaitTask(ctx, task) // builds the task's error
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.lim.cleanupTimeout)
	defer cancel()
	_ = c.s.DestroyTask(dctx, task)
	return result, found, err
}

// srState is the pool's SRs, PBDs and DR tasks at one moment.
type srState struct {
	byUUID   map[string]srEntry
	byRef    map[xapi.Ref]xapi.SR
	pbds     map[xapi.Ref]xapi.PBD
	tasks    map[xapi.Ref]xapi.DRTaskRecord
	attachOK map[xapi.Ref]bool
}

type srEntry struct {
	ref xapi.Ref
	rec xapi.SR
}

func (s *srState) attached(sr xapi.Ref) bool { return s.attachOK[sr] }

func readSRState(ctx context.Context, s *xapi.Session) (*srState, error) {
	srs, err := s.GetAllSRRecords(ctx)
	if err != nil {
		return nil, err
	}
	pbds, err := s.GetAllPBDRecords(ctx)
	if err != nil {
		return nil, err
	}
	tasks, err := s.GetAllDRTaskRecords(ctx)
	if err != nil {
		return nil, err
	}
	st := &srState{byUUID: map[string]srEntry{}, byRef: srs, pbds: pbds, tasks: tasks, attachOK: map[xapi.Ref]bool{}}
	for ref, sr := range srs {
		st.byUUID[sr.UUID] = srEntry{ref: ref, rec: sr}
	}
	for _, p := range pbds {
		if p.CurrentlyAttached {
			st.attachOK[p.SR] = true
		}
	}
	return st, nil
}
