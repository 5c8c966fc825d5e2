//go:build tools

// Package lifeboat pins the dependencies the packages share while they are
// being written, so go.sum stays complete; removed once code imports them all.
package lifeboat

import (
	_ "github.com/kolo/xmlrpc"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/assert"
	_ "github.com/stretchr/testify/require"
	_ "go.temporal.io/api/enums/v1"
	_ "go.temporal.io/api/operatorservice/v1"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/temporal"
	_ "go.temporal.io/sdk/testsuite"
	_ "go.temporal.io/sdk/worker"
	_ "go.temporal.io/sdk/workflow"
	_ "go.uber.org/zap"
	_ "gopkg.in/yaml.v3"
)
