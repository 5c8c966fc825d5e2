// Package notify sends a run's notifications to webhooks: when a gate
// starts waiting and when a run ends, each as generic JSON or as a
// Slack-compatible message, with the exact command to approve (or read the
// report) and the link to the run in the Temporal Web UI.
//
// The Notify activity never fails a run: a webhook that cannot be reached
// is retried a few times, then logged and returned as a warning, which the
// workflow adds to the run's report. What a notification says comes from the
// workflow (plan and gate names, the gate's summary): it holds no secret,
// and the webhooks' URLs, which often do (Slack's carry a token), are read
// from the environment or a file and never logged.
package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.uber.org/zap"
)

// Events a webhook can be sent.
const (
	EventGateWaiting = "gate-waiting"
	EventRunEnded    = "run-ended"
)

// Formats of a webhook's body.
const (
	FormatJSON  = "json"
	FormatSlack = "slack"
)

// Events lists every event, Formats every format.
var (
	Events  = []string{EventGateWaiting, EventRunEnded}
	Formats = []string{FormatJSON, FormatSlack}
)

// Event is the Notify activity's input: what the workflow knows.
type Event struct {
	Event      string `json:"event"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Plan       string `json:"plan"`
	Mode       string `json:"mode"`
	// Gate waiting.
	Gate      string     `json:"gate,omitempty"`
	Summary   string     `json:"summary,omitempty"`
	Approvers []string   `json:"approvers,omitempty"`
	Quorum    int        `json:"quorum,omitempty"`
	Deadline  *time.Time `json:"deadline,omitempty"`
	// Run ended.
	Outcome string    `json:"outcome,omitempty"`
	Message string    `json:"message,omitempty"`
	At      time.Time `json:"at"`
}

// Result is what was sent; Warnings say which webhook failed and why, one
// sentence each, for the run's report.
type Result struct {
	Sent     []string `json:"sent,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Webhook is one configured receiver.
type Webhook struct {
	Name   string
	URL    string // resolved by the worker; a secret as far as logs go
	Format string
	// Events it is sent; empty means all.
	Events []string
}

func (w Webhook) wants(event string) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, event)
}

// Config is the notifier's setup.
type Config struct {
	Webhooks []Webhook
	// UIURL is the Temporal Web UI's base URL, for the run's link.
	UIURL string
	// Namespace is the worker's namespace (in the link, and in the commands
	// when it is not "default").
	Namespace string
	// Timeout bounds one request (default 10 s); Attempts is how often a
	// webhook is tried (default 3), Backoff the wait before the second try
	// (default 1 s, doubled each time).
	Timeout  time.Duration
	Attempts int
	Backoff  time.Duration
	// Client sends the requests (default: a client of its own).
	Client *http.Client
}

// Notifier is registered with the worker; its only exported method, Notify,
// is the activity.
type Notifier struct {
	cfg Config
	log *zap.Logger
	// observe is told of each webhook's outcome (the worker's metrics).
	observe func(event, format string, err error)
}

// New returns the notifier for cfg; observe may be nil.
func New(cfg Config, log *zap.Logger, observe func(event, format string, err error)) *Notifier {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.UIURL == "" {
		cfg.UIURL = "http://127.0.0.1:8233"
	}
	if log == nil {
		log = zap.NewNop()
	}
	if observe == nil {
		observe = func(string, string, error) {}
	}
	return &Notifier{cfg: cfg, log: log, observe: observe}
}

// Notify sends ev to every webhook that wants it, side by side. It is
// idempotent: a retried attempt skips the webhooks an earlier attempt
// reported sent in its heartbeat, and each body carries an id receivers can
// deduplicate on. A failing webhook is a warning in the result, never an
// error of the activity. A nil Notifier (no webhook configured) sends
// nothing.
func (n *Notifier) Notify(ctx context.Context, ev *Event) (*Result, error) {
	res := &Result{}
	if n == nil || ev == nil || len(n.cfg.Webhooks) == 0 {
		return res, nil
	}
	var done []string
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &done)
	}
	msg := n.message(ev)
	log := n.log.With(zap.String("workflow_id", ev.WorkflowID), zap.String("run_id", ev.RunID),
		zap.String("plan", ev.Plan), zap.String("mode", ev.Mode), zap.String("step", "Notify"), zap.String("event", ev.Event))

	var mu sync.Mutex
	var wg sync.WaitGroup
	beat := func() {
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, done)
		}
	}
	beat()
	for _, w := range n.cfg.Webhooks {
		if !w.wants(ev.Event) {
			continue
		}
		if slices.Contains(done, w.Name) {
			res.Sent = append(res.Sent, w.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := n.send(ctx, w, msg, beat, &mu)
			n.observe(ev.Event, w.Format, err)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				log.Warn("webhook not sent", zap.String("webhook", w.Name), zap.Error(err))
				res.Warnings = append(res.Warnings, fmt.Sprintf("The %s notification could not be sent to webhook %s: %v.", ev.Event, w.Name, err))
				return
			}
			log.Info("webhook sent", zap.String("webhook", w.Name))
			done = append(done, w.Name)
			res.Sent = append(res.Sent, w.Name)
			beat()
		}()
	}
	wg.Wait()
	slices.Sort(res.Sent)
	slices.Sort(res.Warnings)
	return res, nil
}

// send posts the body of w's format, trying again after a backoff.
func (n *Notifier) send(ctx context.Context, w Webhook, m message, beat func(), mu *sync.Mutex) error {
	body, err := m.body(w.Format)
	if err != nil {
		return err
	}
	wait := n.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err = n.post(ctx, w.URL, body)
		if err == nil || attempt >= n.cfg.Attempts || ctx.Err() != nil || errors.Is(err, errPermanent) {
			return err
		}
		mu.Lock()
		beat()
		mu.Unlock()
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 2
	}
}

var errPermanent = errors.New("permanent")

// post sends one request. Its errors never hold the URL (Go's url.Error
// would print it, token and all).
func (n *Notifier) post(ctx context.Context, u string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the URL is not usable (%w)", errPermanent)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "lifeboat-notify/1")
	resp, err := n.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("the request failed: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("the webhook answered %s", resp.Status)
	}
	return fmt.Errorf("the webhook answered %s (%w)", resp.Status, errPermanent)
}

// message is what every format says, built once per event.
type message struct {
	ev             *Event
	ID             string
	Text           string // Slack mrkdwn
	ApproveCommand string
	RejectCommand  string
	ReportCommand  string
	UI             string
}

func (n *Notifier) message(ev *Event) message {
	m := message{ev: ev, ID: strings.Join([]string{ev.WorkflowID, ev.RunID, ev.Event, ev.Gate}, "/"),
		UI: fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", strings.TrimRight(n.cfg.UIURL, "/"),
			url.PathEscape(n.cfg.Namespace), url.PathEscape(ev.WorkflowID), url.PathEscape(ev.RunID))}
	ns := ""
	if n.cfg.Namespace != "default" {
		ns = " --namespace " + n.cfg.Namespace
	}
	what := fmt.Sprintf("%s of plan %s", ev.Mode, ev.Plan)
	switch ev.Event {
	case EventGateWaiting:
		m.ApproveCommand = fmt.Sprintf("lifeboat%s approve %s --gate %s --as YOUR-NAME --comment \"...\"", ns, ev.WorkflowID, ev.Gate)
		m.RejectCommand = fmt.Sprintf("lifeboat%s reject %s --gate %s --as YOUR-NAME --comment \"...\"", ns, ev.WorkflowID, ev.Gate)
		who := "anyone"
		if len(ev.Approvers) > 0 {
			who = strings.Join(ev.Approvers, ", ")
		}
		approvals := "1 approval"
		if ev.Quorum > 1 {
			approvals = fmt.Sprintf("%d approvals", ev.Quorum)
		}
		m.Text = fmt.Sprintf("*lifeboat*: the %s waits at gate *%s* for %s (from %s).", what, ev.Gate, approvals, who)
		if ev.Deadline != nil {
			m.Text += fmt.Sprintf(" Deadline: %s.", ev.Deadline.UTC().Format(time.RFC3339))
		}
		if ev.Summary != "" {
			m.Text += "\n" + ev.Summary
		}
		m.Text += fmt.Sprintf("\nApprove: `%s`\nReject: `%s`\nRun: %s", m.ApproveCommand, m.RejectCommand, m.UI)
	default:
		m.ReportCommand = fmt.Sprintf("lifeboat%s report %s", ns, ev.WorkflowID)
		m.Text = fmt.Sprintf("*lifeboat*: the %s ended *%s*.", what, ev.Outcome)
		if ev.Message != "" {
			m.Text += "\n" + ev.Message
		}
		m.Text += fmt.Sprintf("\nReport: `%s`\nRun: %s", m.ReportCommand, m.UI)
	}
	return m
}

// jsonBody is the generic format: every fact as a field, and the text.
type jsonBody struct {
	*Event
	ID             string `json:"id"`
	Text           string `json:"text"`
	ApproveCommand string `json:"approve_command,omitempty"`
	RejectCommand  string `json:"reject_command,omitempty"`
	ReportCommand  string `json:"report_command,omitempty"`
	UIURL          string `json:"ui_url"`
}

func (m message) body(format string) ([]byte, error) {
	switch format {
	case FormatSlack:
		// Slack's incoming webhooks (and Mattermost's, Rocket.Chat's) take
		// {"text": ...} with mrkdwn.
		return json.Marshal(map[string]string{"text": m.Text})
	case FormatJSON, "":
		return json.Marshal(jsonBody{Event: m.ev, ID: m.ID, Text: m.Text, ApproveCommand: m.ApproveCommand,
			RejectCommand: m.RejectCommand, ReportCommand: m.ReportCommand, UIURL: m.UI})
	}
	return nil, fmt.Errorf("format %q is not json or slack (%w)", format, errPermanent)
}
