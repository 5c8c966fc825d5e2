package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/lifeboat-dr/lifeboat/activities"
	"github.com/lifeboat-dr/lifeboat/notify"
	"github.com/lifeboat-dr/lifeboat/version"
	"github.com/lifeboat-dr/lifeboat/worker/config"
	"github.com/lifeboat-dr/lifeboat/worker/searchattr"
	"github.com/lifeboat-dr/lifeboat/workflows"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitBadConfig = 2
)

// DefaultStopTimeout is how long a stopping worker lets running activities
// finish before it gives up on them (Temporal retries them elsewhere).
const DefaultStopTimeout = 30 * time.Second

// dialTimeout bounds the first connection so a wrong address fails fast.
const dialTimeout = 15 * time.Second

// HeartbeatThrottle bounds how long an activity's heartbeat waits before
// the SDK sends it to Temporal: how far behind the live view of a start
// child's VMs may be (workflows/live.Refine).
const HeartbeatThrottle = 2 * time.Second

type options struct {
	configPath  string
	logFormat   string
	logLevel    string
	stopTimeout time.Duration
	version     bool
}

// errVersion is -version: print the version and stop.
var errVersion = errors.New("version asked")

func parseFlags(args []string, lookupEnv func(string) (string, bool), stderr io.Writer) (options, error) {
	var o options
	defConfig, _ := lookupEnv("LIFEBOAT_CONFIG")
	fs := flag.NewFlagSet("lifeboat-worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configPath, "config", defConfig, "worker configuration `FILE` (env LIFEBOAT_CONFIG)")
	fs.StringVar(&o.logFormat, "log-format", "", "log format: console or json (overrides log.format)")
	fs.StringVar(&o.logLevel, "log-level", "", "log level: debug, info, warn or error (overrides log.level)")
	fs.DurationVar(&o.stopTimeout, "stop-timeout", DefaultStopTimeout, "on SIGTERM/SIGINT, how long running activities may take to finish")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: lifeboat-worker -config FILE [-log-format console|json] [-log-level LEVEL] [-stop-timeout 30s]")
		fmt.Fprintln(stderr, "\nRuns lifeboat's workflows and activities on the task queue of the configuration.")
		fmt.Fprintf(stderr, "Exit codes: %d clean stop, %d bad flags or configuration, %d anything else.\n", exitOK, exitBadConfig, exitFailure)
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.version {
		return o, errVersion
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; lifeboat-worker takes flags only (see -h)", fs.Arg(0))
	}
	if o.configPath == "" {
		return o, errors.New("no configuration given; pass -config FILE or set LIFEBOAT_CONFIG (dev/worker.yaml is the demo's)")
	}
	if o.stopTimeout < 0 {
		return o, errors.New("-stop-timeout is negative; give a duration such as 30s")
	}
	return o, nil
}

// run is the whole worker; main only wires signals and the exit code.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) int {
	opts, err := parseFlags(args, lookupEnv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if errors.Is(err, errVersion) {
		fmt.Println(version.String("lifeboat-worker"))
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "lifeboat-worker:", err)
		return exitBadConfig
	}
	cfg, err := config.Load(opts.configPath)
	if err != nil {
		fmt.Fprintf(stderr, "lifeboat-worker: the configuration is invalid; fix these and start again:\n%s\n", indent(err.Error()))
		return exitBadConfig
	}
	if opts.logFormat != "" {
		cfg.Log.Format = opts.logFormat
	}
	if opts.logLevel != "" {
		cfg.Log.Level = opts.logLevel
	}
	logger, err := newLogger(cfg.Log.Format, cfg.Log.Level, zapcore.Lock(zapcore.AddSync(stderr)))
	if err != nil {
		fmt.Fprintln(stderr, "lifeboat-worker:", err)
		return exitBadConfig
	}
	defer func() { _ = logger.Sync() }()
	for _, w := range cfg.Warnings {
		logger.Warn(w.String())
	}
	if len(cfg.Sites) == 0 {
		logger.Error("the configuration lists no site; add sites: with each pool master the plans name", zap.String("config", opts.configPath))
		return exitBadConfig
	}
	sites, secrets, err := cfg.ResolveWith(lookupEnv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			logger.Error(line)
		}
		return exitBadConfig
	}
	webhooks, err := cfg.ResolveWebhooks(lookupEnv)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			logger.Error(line)
		}
		return exitBadConfig
	}
	if err := serve(ctx, cfg, opts, logger, sites, secrets, webhooks); err != nil {
		logger.Error(err.Error())
		return exitFailure
	}
	return exitOK
}

// serve connects to Temporal and runs the worker until ctx is done.
func serve(ctx context.Context, cfg *config.Config, opts options, logger *zap.Logger,
	sites map[string]activities.SiteConfig, secrets activities.Secrets, webhooks []notify.Webhook) error {
	tlsConf, err := cfg.Temporal.TLS.Config()
	if err != nil {
		return err
	}
	reg := newMetrics()
	if cfg.Metrics.Listen != "" {
		srv, err := reg.Listen(cfg.Metrics.Listen, cfg.Metrics.Pprof)
		if err != nil {
			return fmt.Errorf("%w; free the port or change metrics.listen in %s", err, opts.configPath)
		}
		go func() {
			if err := srv.Serve(); err != nil {
				logger.Error("the metrics endpoint stopped", zap.Error(err))
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		logger.Info("serving metrics and health", zap.String("address", srv.Addr()),
			zap.Strings("paths", []string{"/metrics", "/healthz", "/readyz"}))
	}
	for name, s := range sites {
		s.Observer = reg.XAPIObserver(name)
		sites[name] = s
	}
	dialCtx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c, err := client.DialContext(dialCtx, client.Options{
		HostPort:          cfg.Temporal.Address,
		Namespace:         cfg.Temporal.Namespace,
		Logger:            newSDKLogger(logger.Named("temporal")),
		MetricsHandler:    reg.SDKHandler(),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsConf},
	})
	if err != nil {
		return fmt.Errorf("cannot reach Temporal at %s (%v); is the server running? Check temporal.address in %s", cfg.Temporal.Address, err, opts.configPath)
	}
	defer c.Close()

	added, err := searchattr.Ensure(ctx, c.OperatorService(), cfg.Temporal.Namespace)
	var denied *searchattr.PermissionError
	switch {
	case errors.As(err, &denied):
		return fmt.Errorf("refusing to start: %w", err)
	case err != nil:
		return fmt.Errorf("cannot check the search attributes of namespace %s: %v; check that the namespace exists and this worker may read it", cfg.Temporal.Namespace, err)
	case len(added) > 0:
		logger.Info("registered search attributes", zap.Strings("attributes", added), zap.String("namespace", cfg.Temporal.Namespace))
	}

	acts, err := activities.New(sites, secrets, logger.Named("activities"))
	if err != nil {
		return fmt.Errorf("cannot set up the activities: %w", err)
	}

	w := worker.New(c, cfg.TaskQueue, worker.Options{
		WorkerStopTimeout: opts.stopTimeout,
		// A run of thousands of VMs keeps hundreds of children and start
		// activities busy at once; two pollers of each kind (the SDK's
		// default) made task dispatch, not the pools, the limit. The SDK
		// scales the pollers between these bounds with the backlog.
		WorkflowTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{InitialNumberOfPollers: 4, MaximumNumberOfPollers: 16}),
		ActivityTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{InitialNumberOfPollers: 4, MaximumNumberOfPollers: 16}),
		// A start child's one activity runs every order of its vApps, and
		// the live view reads each VM's progress from its heartbeat: sent
		// at most every 2 s instead of 0.8 of the heartbeat timeout (16 s).
		MaxHeartbeatThrottleInterval: HeartbeatThrottle,
		// Every log line of a run carries its workflow ID, run ID, plan,
		// mode and step, and each step is timed (intercept.go).
		Interceptors: []interceptor.WorkerInterceptor{newRunInterceptor(reg)},
	})
	workflows.Register(w)
	w.RegisterActivity(acts)
	w.RegisterActivity(notify.New(notify.Config{Webhooks: webhooks, UIURL: cfg.Notify.UIURL, Namespace: cfg.Temporal.Namespace},
		logger.Named("notify"), reg.Notified))

	logger.Info("lifeboat worker started",
		zap.String("temporal", cfg.Temporal.Address),
		zap.String("namespace", cfg.Temporal.Namespace),
		zap.String("task_queue", cfg.TaskQueue),
		zap.Strings("sites", cfg.SiteNames()),
		zap.Strings("webhooks", cfg.WebhookNames()))

	stop := make(chan any)
	go func() {
		<-ctx.Done()
		reg.Health().Stopping()
		logger.Info("stopping: no new work is taken; running activities may finish", zap.Duration("stop_timeout", opts.stopTimeout))
		close(stop)
	}()
	// Run starts the pollers at once (or returns the reason it cannot).
	reg.Health().Started(cfg.TaskQueue)
	runErr := w.Run(stop)
	// Log the XAPI sessions out, bounded so a dead site cannot hold the stop.
	closeCtx, cancelClose := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelClose()
	if err := activities.Close(closeCtx, acts); err != nil {
		logger.Warn("could not log out of every site", zap.Error(err))
	}
	if runErr != nil {
		return fmt.Errorf("the worker stopped on an error: %w", runErr)
	}
	logger.Info("lifeboat worker stopped")
	return nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
