package version

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Flag handles the command line of a binary configured by its environment
// (make bench, make chaos), whose one flag is --version. done says the command
// has answered (the version, its usage, or a usage error) and should exit with
// code; otherwise it goes on.
func Flag(binary, configuredBy string, args []string, stdout, stderr io.Writer) (done bool, code int) {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(stderr)
	show := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [-version]\n\n%s is configured by its environment: %s.\n", binary, binary, configuredBy)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return true, 0
		}
		return true, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q; it is configured by its environment: %s\n", binary, fs.Arg(0), configuredBy)
		return true, 2
	}
	if *show {
		fmt.Fprintln(stdout, String(binary))
		return true, 0
	}
	return false, 0
}
