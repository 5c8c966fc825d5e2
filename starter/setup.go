package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lifeboat-dr/lifeboat/starter/exitcode"
	"github.com/lifeboat-dr/lifeboat/worker/searchattr"
)

func (a *app) setupCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "setup",
		Short: "Register lifeboat's search attributes in the namespace (idempotent; needs admin rights)",
		Long: `Register the search attributes LifeboatPlan, LifeboatMode and LifeboatPhase (Keyword)
in the namespace, so runs can be found by plan, mode and phase. Safe to run again.
Needs the right to add search attributes (a Temporal admin); workers add them too
when they may.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.setup(cmd.Context())
		},
	}
}

func (a *app) setup(ctx context.Context) error {
	c, conn, err := a.client(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	added, err := searchattr.Ensure(ctx, c.OperatorService(), conn.namespace)
	var denied *searchattr.PermissionError
	if errors.As(err, &denied) {
		return fail(exitcode.RunFailed, "your identity may not add search attributes to namespace %s; ask a Temporal admin to run 'lifeboat setup --namespace %s', or: %s",
			conn.namespace, conn.namespace, strings.Join(searchattr.TemporalCLICommands(conn.namespace), " && "))
	}
	if err != nil {
		return rpcError(err, conn, "register the search attributes in namespace "+conn.namespace)
	}
	if a.json() {
		return writeJSON(a.stdout, map[string]any{"namespace": conn.namespace, "added": added, "attributes": searchattr.Names})
	}
	if len(added) == 0 {
		fmt.Fprintf(a.stdout, "The search attributes %s are already registered in namespace %s.\n", strings.Join(searchattr.Names, ", "), conn.namespace)
		return nil
	}
	fmt.Fprintf(a.stdout, "Registered %s in namespace %s.\n", strings.Join(added, ", "), conn.namespace)
	return nil
}
