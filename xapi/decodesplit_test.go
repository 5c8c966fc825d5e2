package xapi

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A large get_all_records answer decoded in parts is the value the whole
// document gives, empty member names, nested maps and projection included.
func TestDecodeSplitGivesTheWholeDocumentsValue(t *testing.T) {
	n := splitMinRecords + 37
	doc := recordsDoc(n)
	proj := &projection{depth: depthAllRecords, keep: map[string]bool{"field_1": true, "other_config": true, "VBDs": true, "is_a_template": true, "memory_static_max": true}}
	for _, p := range []*projection{proj, nil} {
		norm, err := normalize(doc, p)
		require.NoError(t, err)
		var whole any
		require.NoError(t, decodeKolo(norm.body, &whole))
		if p == nil {
			assert.Empty(t, norm.records, "records are found for a projection only")
			continue
		}
		require.Len(t, norm.records, n)
		for _, parts := range []int{2, 3, 4} {
			got, split, err := decodeSplit(norm, parts)
			require.NoError(t, err)
			require.True(t, split, "%d parts", parts)
			assert.Equal(t, whole, got, "%d parts", parts)
		}
		_, split, _ := decodeSplit(norm, 1)
		assert.False(t, split, "one core: decoded whole")
	}
	// Through decodeDocument, as a call decodes it.
	v, _, err := decodeDocument(doc, proj)
	require.NoError(t, err)
	recs := v.(map[string]any)["Value"].(map[string]any)
	require.Len(t, recs, n)
	rec := recs["OpaqueRef:00000042-0000-4000-8000-000000000000"].(map[string]any)
	assert.Equal(t, "value & 1 of record 42", rec["field_1"])
	oc := rec["other_config"].(map[string]any)
	assert.Equal(t, "b", oc["a"])
	assert.Contains(t, oc, "", "the empty member name is restored")
	assert.NotContains(t, rec, "field_2", "the projection dropped it")
}

// Small answers, and answers of another shape, are decoded whole.
func TestDecodeSplitLeavesOtherAnswersWhole(t *testing.T) {
	proj := &projection{depth: depthAllRecords, keep: map[string]bool{"field_1": true}}
	norm, err := normalize(recordsDoc(10), proj)
	require.NoError(t, err)
	_, split, _ := decodeSplit(norm, 4)
	assert.False(t, split)

	failure := []byte(`<methodResponse><params><param><value><struct><member><name>Status</name><value>Failure</value></member><member><name>ErrorDescription</name><value><array><data><value>SESSION_INVALID</value><value>OpaqueRef:x</value></data></array></value></member></struct></value></param></params></methodResponse>`)
	norm, err = normalize(failure, proj)
	require.NoError(t, err)
	assert.Empty(t, norm.records)
	_, err = decodeResponse(failure, proj)
	assert.True(t, IsCode(err, "SESSION_INVALID"), "%v", err)
}
