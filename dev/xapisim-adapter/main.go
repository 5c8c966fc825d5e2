// Command xapisim-adapter is the storage adapter of the simulator's arrays
// (package simadapter): it answers lifeboat's storage adapter protocol
// (docs/storage-adapters.md) by calling the simulator's control API.
//
//	echo '{"protocol":1,"action":"status","site":"dr","lun":{"type":"lvmoiscsi","scsi_id":"36001405b0000000000000000000000b1"}}' |
//	  go run ./dev/xapisim-adapter -control http://127.0.0.1:18000
package main

import (
	"os"

	"github.com/lifeboat-dr/lifeboat/dev/xapisim-adapter/simadapter"
)

func main() {
	os.Exit(simadapter.Main(os.Args[1:], os.Stdin, os.Stdout))
}
