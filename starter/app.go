package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/lifeboat-dr/lifeboat/plan"
	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/version"
	"github.com/lifeboat-dr/lifeboat/worker/config"
)

// app holds what every command shares: output streams, global flags and how
// to reach Temporal. Tests build one with a fake client and fixed clock.
type app struct {
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)

	// Global flags.
	address, namespace, configPath, output, uiURL string
	tls                                           config.TLS

	// dial connects to Temporal; tests replace it.
	dial func(ctx context.Context, c connection) (temporalClient, error)
	// now and loc make rendering deterministic in tests.
	now func() time.Time
	loc *time.Location
	// isTerminal says whether stdout redraws in place (ANSI) or gets lines;
	// termSize is its width and height then.
	isTerminal bool
	termSize   func() (width, height int)
	// tick paces --watch and --wait; tests give a channel that is always ready.
	tick func() (<-chan time.Time, func())
}

// pollInterval is how often --watch and --wait ask for progress: often
// enough to feel live, rare enough to cost nothing.
const pollInterval = 2 * time.Second

func newApp(stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) *app {
	a := &app{
		stdout:     stdout,
		stderr:     stderr,
		lookupEnv:  lookupEnv,
		dial:       dialTemporal,
		now:        time.Now,
		loc:        time.Local,
		isTerminal: isTerminal(stdout),
		termSize:   func() (int, int) { return 0, 0 },
		tick: func() (<-chan time.Time, func()) {
			t := time.NewTicker(pollInterval)
			return t.C, t.Stop
		},
	}
	if f, ok := stdout.(*os.File); ok && a.isTerminal {
		a.termSize = terminalSize(f)
	}
	return a
}

// isTerminal reports whether w is a terminal; TERM=dumb is treated as not one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	return term.IsTerminal(int(f.Fd()))
}

func (a *app) env(name string) string {
	v, _ := a.lookupEnv(name)
	return v
}

// execute runs the command line and returns the exit code.
func (a *app) execute(args []string) int {
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	// Ctrl-C stops --watch and --wait cleanly (the run itself goes on).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitcode.OK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		// Cobra's own errors: unknown command, flag or argument count.
		ee = &exitError{code: exitcode.Usage, err: fmt.Errorf("%v; see 'lifeboat --help'", err)}
	}
	if msg := ee.Error(); msg != "" {
		fmt.Fprintln(a.stderr, "lifeboat: "+msg)
	}
	return ee.code
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "lifeboat",
		Short: "Durable disaster-recovery runbooks for XenServer / XCP-ng, on Temporal",
		Long: `lifeboat runs a DR plan as a Temporal workflow: failover, failback or test failover,
with approval gates, progress, reports and scheduled drills.

Typical session:
  lifeboat plan check plans/erp.yaml
  lifeboat failover --plan plans/erp.yaml --as alice
  lifeboat approve erp --mode failover --gate storage-ready --as alice
  lifeboat status erp --mode failover --watch
  lifeboat report erp --mode failover -o erp-failover.html

A RUN is a workflow ID (its latest run), ID/RUNID, or a plan name with --mode.

` + exitcode.Table,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// --version, stamped by the Makefile; and cobra's completion command
	// (lifeboat completion bash|zsh|fish|powershell).
	root.Version = version.String("lifeboat")
	root.SetVersionTemplate("{{.Version}}\n")
	f := root.PersistentFlags()
	f.StringVar(&a.address, "address", "", "Temporal frontend host:port (env LIFEBOAT_ADDRESS; default 127.0.0.1:7233)")
	f.StringVar(&a.namespace, "namespace", "", "Temporal namespace (env LIFEBOAT_NAMESPACE; default default)")
	f.StringVar(&a.configPath, "config", "", "read the temporal: section and task_queue of a worker configuration `FILE` (env LIFEBOAT_CONFIG)")
	f.BoolVar(&a.tls.Enabled, "tls", false, "connect to Temporal with TLS (implied by the other --tls-* flags)")
	f.StringVar(&a.tls.CAFile, "tls-ca", "", "CA certificate `FILE` to verify Temporal's certificate")
	f.StringVar(&a.tls.CertFile, "tls-cert", "", "client certificate `FILE` for mTLS")
	f.StringVar(&a.tls.KeyFile, "tls-key", "", "client key `FILE` for mTLS")
	f.StringVar(&a.tls.ServerName, "tls-server-name", "", "server name to verify in Temporal's certificate")
	f.BoolVar(&a.tls.InsecureSkipVerify, "tls-insecure-skip-verify", false, "do not verify Temporal's certificate (lab use only)")
	f.StringVarP(&a.output, "output", "", "text", "output format: text or json")
	f.StringVar(&a.uiURL, "ui-url", "", "Temporal Web UI base URL for links (env LIFEBOAT_UI_URL; default http://127.0.0.1:8233)")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if a.output != "text" && a.output != "json" {
			return usageErr("--output %q is not a format; use text or json", a.output)
		}
		return nil
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageErr("%v; see %s", err, helpRef(cmd))
	})
	root.AddCommand(
		a.startCommand("failover"), a.startCommand("failback"), a.startCommand("test-failover"),
		a.decisionCommand(true), a.decisionCommand(false), a.abortCommand(),
		a.statusCommand(), a.reportCommand(),
		a.planCommand(), a.scheduleCommand(), a.setupCommand(),
		a.readinessCommand(), a.protectCommand(), a.drillsCommand(),
	)
	completeFlagValues(root)
	return root
}

// completeFlagValues lets the shell complete the flags whose values are a
// fixed list, on every command that has them.
func completeFlagValues(cmd *cobra.Command) {
	values := map[string][]string{
		"gate":   gates,
		"mode":   {string(plan.ModeFailover), string(plan.ModeFailback), string(plan.ModeTestFailover)},
		"start":  {string(plan.StartRunning), string(plan.StartPaused), string(plan.StartNone)},
		"format": {"markdown", "json", "html"},
	}
	for name, vs := range values {
		if cmd.LocalFlags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(vs, cobra.ShellCompDirectiveNoFileComp))
		}
	}
	if !cmd.HasParent() {
		_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"text", "json"}, cobra.ShellCompDirectiveNoFileComp))
	}
	for _, c := range cmd.Commands() {
		completeFlagValues(c)
	}
}

// connection works out where Temporal is: flags, then environment, then the
// worker configuration file, then defaults.
func (a *app) connection() (connection, error) {
	cfg := config.Default()
	path := a.configPath
	if path == "" {
		path = a.env("LIFEBOAT_CONFIG")
	}
	if path != "" {
		c, err := config.Load(path)
		if err != nil {
			return connection{}, fail(exitcode.Invalid, "the configuration %s is invalid:\n%v", path, indent(err.Error()))
		}
		cfg = c
	}
	c := connection{
		address:   firstOf(a.address, a.env("LIFEBOAT_ADDRESS"), cfg.Temporal.Address),
		from:      addressSource(a.address, a.env("LIFEBOAT_ADDRESS"), path, cfg.Temporal.Address != config.Default().Temporal.Address),
		namespace: firstOf(a.namespace, a.env("LIFEBOAT_NAMESPACE"), cfg.Temporal.Namespace),
		taskQueue: cfg.TaskQueue,
		tls:       cfg.Temporal.TLS,
	}
	if a.tls.On() {
		c.tls = a.tls
	}
	return c, nil
}

// addressSource says where the Temporal address came from, for the sentence
// that says it cannot be reached: an address the user did not know they set
// (a LIFEBOAT_ADDRESS left in the shell) is the usual surprise.
func addressSource(flag, env, configPath string, configSets bool) string {
	switch {
	case flag != "":
		return "--address"
	case env != "":
		return "LIFEBOAT_ADDRESS"
	case configPath != "" && configSets:
		return "the configuration " + configPath
	}
	return "the default"
}

// client connects to Temporal for one command; the caller closes it.
func (a *app) client(ctx context.Context) (temporalClient, connection, error) {
	conn, err := a.connection()
	if err != nil {
		return nil, conn, err
	}
	c, err := a.dial(ctx, conn)
	if err != nil {
		return nil, conn, err
	}
	return c, conn, nil
}

func (a *app) ui() string {
	return firstOf(a.uiURL, a.env("LIFEBOAT_UI_URL"), "http://127.0.0.1:8233")
}

func (a *app) json() bool { return a.output == "json" }

// helpRef is the help command of cmd, quoted: 'lifeboat schedule create --help'.
func helpRef(cmd *cobra.Command) string {
	return "'" + cmd.CommandPath() + " --help'"
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// whoAmI is the default name for --as where a name is optional (abort).
func (a *app) whoAmI() string {
	return firstOf(a.env("LIFEBOAT_USER"), a.env("USER"), a.env("USERNAME"))
}
