package activities

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// scanCache keeps the full result of a paged scan for its later pages: a
// 10,000-VM scan is twenty pages, and merging every metadata copy again for
// each one cost more than the pools' own work. An entry belongs to one run
// (its workflow run ID, with the site and SRs) and lives a few minutes: the
// pages follow each other at once, and a page that finds no entry (another
// worker, or this one restarted) reads the metadata again, so the cache is
// only ever a shortcut.
type scanCache struct {
	mu      sync.Mutex
	entries map[string]scanEntry
}

type scanEntry struct {
	res *ScanResult
	at  time.Time
}

const scanCacheTTL = 5 * time.Minute

func (c *scanCache) get(key string) (*ScanResult, bool) {
	if key == "" {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || time.Since(e.at) > scanCacheTTL {
		return nil, false
	}
	return e.res, true
}

func (c *scanCache) put(key string, res *ScanResult) {
	if key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]scanEntry{}
	}
	for k, e := range c.entries {
		if time.Since(e.at) > scanCacheTTL {
			delete(c.entries, k)
		}
	}
	c.entries[key] = scanEntry{res: res, at: time.Now()}
}

// scanKey names a scan of one run; "" outside an activity (no cache).
func scanKey(ctx context.Context, in *ScanInput) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.RunID + "|" + in.Site + "|" + strings.Join(in.SRUUIDs, ",")
}
