package sim_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get_all_records_where answers the records its expression matches, in
// xapi's filter language, for any class.
func TestGetAllRecordsWhere(t *testing.T) {
	w := startDemo(t)
	c := rpc{t: t, url: w.PoolURL("Primary")}
	s := c.login("root")
	all := c.records("VDI", s)
	var metadata, others []string
	var anSR, aName string
	for ref, rec := range all {
		if rec["type"] == "metadata" {
			metadata = append(metadata, ref)
			anSR = rec["SR"].(string)
		} else {
			others = append(others, ref)
			aName = rec["name_label"].(string)
		}
	}
	require.NotEmpty(t, metadata, "the demo world replicates its metadata")
	require.NotEmpty(t, others)
	var onSR, named []string
	for ref, rec := range all {
		if rec["type"] == "metadata" && rec["SR"] == anSR {
			onSR = append(onSR, ref)
		}
		if rec["name_label"] == aName {
			named = append(named, ref)
		}
	}
	refs := func(v any) []string {
		var out []string
		for ref := range v.(map[string]any) {
			out = append(out, ref)
		}
		sort.Strings(out)
		return out
	}
	every := append(append([]string{}, metadata...), others...)
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`field "type" = "metadata"`, metadata},
		{`"metadata"="metadata"`, every},
		{`not field "type" = "metadata"`, others},
		{`field "type" = "metadata" and field "SR" = "` + anSR + `"`, onSR},
		{`(field "type" = "metadata") and (field "SR" = "` + anSR + `")`, onSR},
		{`field "name__label" = "` + aName + `"`, named},
		{`true`, every},
		{`false`, nil},
		{`field "type" = "metadata" or true`, every},
		// not takes the whole chain after it: not (a and a), not (not a) and a.
		{`not field "type" = "metadata" and field "type" = "metadata"`, others},
		{`field "type" = "metadata" and false or true`, every},
		{`field "sharable" = "false" and field "type" = "metadata"`, metadata},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got := c.must("VDI.get_all_records_where", s, tc.expr)
			assert.ElementsMatch(t, tc.want, refs(got))
			for ref, rec := range got.(map[string]any) {
				assert.Equal(t, all[ref], rec, "whole records, as get_all_records")
			}
		})
	}
	// A malformed expression is xapi's Db_filter.Expression_error.
	e := c.fails("VDI.get_all_records_where", s, `field "type" =`)
	require.NotEmpty(t, e)
	assert.Equal(t, "INTERNAL_ERROR", e[0])
	assert.True(t, strings.Contains(strings.Join(e, " "), "Expression_error"), "%v", e)
	// Every class has it.
	assert.Len(t, refs(c.must("SR.get_all_records_where", s, `true`)), len(c.records("SR", s)))
}
