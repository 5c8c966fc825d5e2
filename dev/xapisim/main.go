// Command xapisim serves a simulated XenServer / XCP-ng world (several pools sharing a
// storage fabric with mirrored LUNs) over XML-RPC, plus a JSON control API.
//
//	go run ./dev/xapisim -scenario dev/scenarios/demo.yaml
//	go run ./dev/xapisim -generate vms=5000,vapps=500 -seed 7 -speed 0.01
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"gopkg.in/yaml.v3"

	"github.com/lifeboat-dr/lifeboat/version"
	"github.com/lifeboat-dr/lifeboat/xapi/sim"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "xapisim:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("xapisim", flag.ContinueOnError)
	scenario := fs.String("scenario", "", "scenario YAML file (default: the embedded demo scenario)")
	generate := fs.String("generate", "", "generate a scenario instead, e.g. vms=5000,vapps=500,hosts=4,luns=8")
	speed := fs.Float64("speed", 1, "time factor: 0 = instant, 1 = real time, 0.01 = 100x faster")
	control := fs.String("control", "", "control API address (default: the scenario's; '-' disables it)")
	journal := fs.String("journal", "", "append every call as a JSON line to this file")
	seed := fs.Int64("seed", 0, "seed for generated UUIDs, refs and fault dice (0 = the scenario's)")
	free := fs.Bool("free-ports", false, "give every host its own loopback address (127.0.0.1, .2, ...) on one free port, instead of the scenario's addresses")
	useTLS := fs.Bool("tls", false, "also serve HTTPS on each host, with certificates of a generated CA (see -ca-file)")
	caFile := fs.String("ca-file", "", "with -tls, write the CA certificate (PEM) here (default: a temporary file, printed)")
	dump := fs.Bool("dump", false, "print the (generated) scenario as YAML and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(version.String("xapisim"))
		return nil
	}
	if *scenario != "" && *generate != "" {
		return errors.New("-scenario and -generate are exclusive")
	}
	var sc *sim.Scenario
	var err error
	switch {
	case *generate != "":
		spec, perr := sim.ParseGenSpec(*generate)
		if perr != nil {
			return perr
		}
		if *seed != 0 {
			spec.Seed = *seed
		}
		sc, err = sim.Generate(spec)
	case *scenario != "":
		sc, err = sim.LoadScenario(*scenario)
	default:
		sc = sim.DemoScenario()
	}
	if err != nil {
		return err
	}
	if *dump {
		out, err := yaml.Marshal(sc)
		if err != nil {
			return fmt.Errorf("encode scenario: %w", err)
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	if *speed < 0 {
		return errors.New("-speed must be >= 0")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *caFile != "" && !*useTLS {
		return errors.New("-ca-file needs -tls")
	}
	w, err := sim.Start(ctx, sc, sim.Options{Speed: *speed, FreePorts: *free, TLS: *useTLS, CAFile: *caFile,
		ControlAddr: *control, JournalPath: *journal, Seed: *seed})
	if err != nil {
		return err
	}
	defer w.Close()
	for _, p := range w.Pools() {
		fmt.Printf("pool %-12s %s\n", p, w.PoolURL(p))
		if u := w.PoolTLSURL(p); u != "" {
			fmt.Printf("pool %-12s %s\n", p, u)
		}
	}
	if f := w.CAFile(); f != "" {
		fmt.Printf("ca-file      %s\n", f)
	}
	if u := w.ControlURL(); u != "" {
		fmt.Printf("control      %s\n", u)
	}
	fmt.Printf("scenario %q ready (speed %g); Ctrl-C to stop\n", sc.Name, *speed)
	<-ctx.Done()
	return nil
}
