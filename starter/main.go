// Command lifeboat is the command line of lifeboat: start failovers,
// failbacks and test failovers from a plan, approve or reject their gates,
// abort them, watch them, print their reports, check plans, schedule drills
// and register lifeboat's search attributes. `lifeboat --help` lists the
// commands and the exit codes scripts can rely on.
package main

import (
	"os"
)

func main() {
	os.Exit(newApp(os.Stdout, os.Stderr, os.LookupEnv).execute(os.Args[1:]))
}
