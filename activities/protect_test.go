package activities

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metadataSRs names the primary pool's SRs holding a metadata VDI, as the
// simulator's state shows them.
func (f *fixture) metadataSRs() []string {
	var out []string
	for _, p := range f.w.Control().State().Pools {
		if p.Name != "Primary" {
			continue
		}
		for _, sr := range p.SRs {
			if len(sr.MetadataVDIs) > 0 {
				out = append(out, sr.Name)
			}
		}
	}
	return out
}

func actions(r *ProtectResult) []string {
	var out []string
	for _, c := range r.Changes {
		out = append(out, c.Action+" "+c.SR.Name)
	}
	return out
}

// TestProtect: the chosen SRs become exactly those that replicate the
// pool's metadata, disabling first; a dry run and a second run change
// nothing; more than 8 SRs, an unknown name or an SR that cannot hold the
// metadata are refused before anything changes.
func TestProtect(t *testing.T) {
	f := newFixture(t)
	require.ElementsMatch(t, []string{"gold-01", "fc-silver-01"}, f.metadataSRs())

	var dry ProtectResult
	f.must(&dry, f.a.Protect, &ProtectInput{Site: "primary", SRs: []string{"gold-01", gold02UUID}, DryRun: true})
	assert.Equal(t, []string{"disable fc-silver-01", "enable gold-02", "keep gold-01"}, actions(&dry))
	assert.True(t, dry.DryRun)
	assert.ElementsMatch(t, []string{"gold-01", "fc-silver-01"}, f.metadataSRs(), "a dry run changes nothing")

	var res ProtectResult
	f.must(&res, f.a.Protect, &ProtectInput{Site: "primary", SRs: []string{"gold-01", gold02UUID}})
	assert.Equal(t, []string{"disable fc-silver-01", "enable gold-02", "keep gold-01"}, actions(&res))
	for _, c := range res.Changes {
		assert.True(t, c.Done, c.SR.Name)
	}
	assert.Empty(t, res.Errors)
	assert.ElementsMatch(t, []string{"gold-01", "gold-02"}, f.metadataSRs())

	var again ProtectResult
	f.must(&again, f.a.Protect, &ProtectInput{Site: "primary", SRs: []string{"gold-02", "gold-01"}})
	assert.Equal(t, []string{"keep gold-02", "keep gold-01"}, actions(&again), "idempotent")

	for _, tc := range []struct {
		name string
		srs  []string
		says string
	}{
		{"nine SRs", []string{"gold-01", "gold-02", "fc-silver-01", "a", "b", "c", "d", "e", "f"}, "at most 8"},
		{"unknown", []string{"gold-01", "platinum"}, "no SR named 'platinum'"},
		{"local storage", []string{"gold-01", "Local storage primary-01"}, "cannot replicate the pool's metadata at site primary to SR 'Local storage primary-01'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.run(nil, f.a.Protect, &ProtectInput{Site: "primary", SRs: tc.srs})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.says)
			assert.Contains(t, []string{codeBadInput, codeNotFound}, ErrorCode(err))
			assert.ElementsMatch(t, []string{"gold-01", "gold-02"}, f.metadataSRs(), "a refused choice changes nothing")
		})
	}
}
