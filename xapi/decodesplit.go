package xapi

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/kolo/xmlrpc"
)

// A large get_all_records answer is decoded in parts, side by side: kolo
// decodes one document on one core, and at 10,000 VMs the scan's read of
// the VM records was a second of a worker's CPU while its other core
// waited (make bench). The normalised document's records (normalized.records)
// are cut into parts, each decoded as a struct of its own, and merged into
// the envelope decoded without them: the same value as the whole document
// gives.

// splitMinRecords is the fewest records worth splitting for: a part of
// fewer than a hundred records takes kolo a few milliseconds, and its
// goroutine and merge cost more than a core saves.
const splitMinRecords = 256

// splitParts is how many parts a large answer is decoded in at most.
func splitParts() int { return min(runtime.GOMAXPROCS(0), 4) }

const (
	partHead = "<methodResponse><params><param><value><struct>"
	partTail = "</struct></value></param></params></methodResponse>"
)

// decodeSplit decodes n in up to parts parts when it holds enough records
// (and parts > 1); ok is false when it does not (decode it whole).
func decodeSplit(n normalized, parts int) (v any, ok bool, err error) {
	parts = min(parts, len(n.records))
	if n.fault || parts < 2 || len(n.records) < splitMinRecords {
		return nil, false, nil
	}
	body, recs := n.body, n.records
	// The envelope, its records struct left empty.
	head := make([]byte, 0, recs[0]+len(body)-n.recordsEnd)
	head = append(append(head, body[:recs[0]]...), body[n.recordsEnd:]...)
	var env any
	if err := decodeKolo(head, &env); err != nil {
		return nil, true, err
	}
	m, _ := env.(map[string]any)
	holder := ""
	for k, x := range m {
		if sub, isMap := x.(map[string]any); isMap && len(sub) == 0 {
			if holder != "" {
				return nil, false, nil // two empty structs: not the shape split for
			}
			holder = k
		}
	}
	if holder == "" {
		return nil, false, nil
	}
	out := make([]map[string]any, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		from, to := len(recs)*p/parts, len(recs)*(p+1)/parts
		end := n.recordsEnd
		if to < len(recs) {
			end = recs[to]
		}
		wg.Go(func() {
			doc := make([]byte, 0, len(partHead)+end-recs[from]+len(partTail))
			doc = append(append(append(doc, partHead...), body[recs[from]:end]...), partTail...)
			var x any
			if errs[p] = decodeKolo(doc, &x); errs[p] == nil {
				out[p], _ = x.(map[string]any)
			}
		})
	}
	wg.Wait()
	records := make(map[string]any, len(recs))
	for p := range parts {
		if errs[p] != nil {
			return nil, true, errs[p]
		}
		for k, x := range out[p] {
			records[k] = x
		}
	}
	m[holder] = records
	return env, true, nil
}

// decodeKolo is kolo's decoding of a normalised document, its panics
// turned into errors: kolo is reflection-heavy, and a decoder bug must
// never crash a worker.
func decodeKolo(doc []byte, out *any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	return xmlrpc.Response(doc).Unmarshal(out)
}
