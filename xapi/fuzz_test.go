package xapi

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kolo/xmlrpc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func addGoldenSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Add(success(`<value><struct><member><name></name><value/></member></struct></value>`))
	f.Add(success(`<value><array><data><value></value><value>x</value></data></array></value>`))
}

// FuzzDecodeResponse: the decoder never panics, and normalising is idempotent.
func FuzzDecodeResponse(f *testing.F) {
	addGoldenSeeds(f)
	f.Fuzz(func(t *testing.T, body string) {
		_, _ = DecodeResponse([]byte(body))
		n1, err := Normalize([]byte(body))
		if err != nil {
			return
		}
		n2, err := Normalize(n1)
		require.NoError(t, err, "normalised output must normalise again")
		assert.Equal(t, string(n1), string(n2))
	})
}

func validXMLText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r == 0x09 || r == 0x0A || r == 0x0D || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)) {
			return false
		}
	}
	return !strings.Contains(s, emptyNameSentinel)
}

// FuzzStringRoundTrip: any string xapi sends untyped, as a struct member, map
// key and array element next to empty values, comes back byte for byte.
func FuzzStringRoundTrip(f *testing.F) {
	for _, s := range []string{"", " ", "  web 1 ", "a&b<c>\"'", "line\nbreak\ttab", "\r\n", "é€😀", "OpaqueRef:NULL", "12345"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !validXMLText(s) {
			t.Skip()
		}
		body := success(`<value><struct>` +
			`<member><name>_e</name><value></value></member>` +
			`<member><name>_s</name>` + xv(s) + `</member>` +
			`<member><name>k` + escapeText(s) + `</name><value>key</value></member>` +
			`<member><name>_a</name><value><array><data><value/>` + xv(s) + `<value></value></data></array></value></member>` +
			`<member><name>_z</name><value>last</value></member>` +
			`</struct></value>`)
		v, err := DecodeResponse([]byte(body))
		require.NoError(t, err)
		m := v.(map[string]any)
		assert.Equal(t, s, scalarString(m["_s"]))
		assert.Equal(t, "key", m["k"+s])
		arr := m["_a"].([]any)
		require.Len(t, arr, 3)
		assert.Equal(t, s, scalarString(arr[1]))
		assert.Equal(t, "last", m["_z"], "members after empty values survive")
	})
}

func formatSRList(srs []SRListEntry) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" ?>\n<SRlist>\n")
	for _, e := range srs {
		fmt.Fprintf(&b, "\t<SR>\n\t\t<UUID>%s</UUID>\n\t\t<Devlist>%s</Devlist>\n\t\t<size>%d</size>\n\t\t<name_label>%s</name_label>\n\t\t<name_description>%s</name_description>\n\t\t<pool_metadata_detected>%t</pool_metadata_detected>\n\t</SR>\n",
			escapeText(e.UUID), escapeText(e.Devlist), e.Size, escapeText(e.NameLabel), escapeText(e.NameDescription), e.PoolMetadataDetected)
	}
	b.WriteString("</SRlist>\n")
	return b.String()
}

func FuzzParseSRList(f *testing.F) {
	f.Add(golden(f, "srlist.xml"))
	f.Add(`<SRlist><SR><UUID>u</UUID><size>x</size></SR></SRlist>`)
	f.Fuzz(func(t *testing.T, doc string) {
		srs, err := ParseSRList(doc)
		if err != nil {
			return
		}
		again, err := ParseSRList(formatSRList(srs))
		require.NoError(t, err)
		assert.Equal(t, srs, again)
	})
}

func formatTargets(ts []ISCSITarget) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" ?>\n<iscsi-target-iqns>\n")
	for _, e := range ts {
		fmt.Fprintf(&b, "\t<TGT>\n\t\t<Index>%d</Index>\n\t\t<IPAddress>%s</IPAddress>\n\t\t<Port>%d</Port>\n\t\t<TargetIQN>%s</TargetIQN>\n\t</TGT>\n",
			e.Index, escapeText(e.IPAddress), e.Port, escapeText(e.TargetIQN))
	}
	b.WriteString("</iscsi-target-iqns>\n")
	return b.String()
}

func FuzzParseISCSITargets(f *testing.F) {
	_, err := DecodeResponse([]byte(golden(f, "failure_sr_backend_96.xml")))
	xe, _ := AsError(err)
	f.Add(xe.Param(2))
	f.Add(`<iscsi-target-iqns><TGT><Port>-1</Port></TGT></iscsi-target-iqns>`)
	f.Fuzz(func(t *testing.T, doc string) {
		ts, err := ParseISCSITargets(doc)
		if err != nil {
			return
		}
		again, err := ParseISCSITargets(formatTargets(ts))
		require.NoError(t, err)
		assert.Equal(t, ts, again)
	})
}

func formatLUNs(ls []ISCSILUN) string {
	var b strings.Builder
	b.WriteString("<?xml version=\"1.0\" ?>\n<iscsi-target>\n")
	for _, e := range ls {
		fmt.Fprintf(&b, "\t<LUN>\n\t\t<vendor>%s</vendor>\n\t\t<serial>%s</serial>\n\t\t<LUNid>%s</LUNid>\n\t\t<size>%d</size>\n\t\t<SCSIid>%s</SCSIid>\n\t</LUN>\n",
			escapeText(e.Vendor), escapeText(e.Serial), escapeText(e.LUNid), e.Size, escapeText(e.SCSIid))
	}
	b.WriteString("</iscsi-target>\n")
	return b.String()
}

func FuzzParseISCSILUNs(f *testing.F) {
	_, err := DecodeResponse([]byte(golden(f, "failure_sr_backend_107_luns.xml")))
	xe, _ := AsError(err)
	f.Add(xe.Param(2))
	f.Fuzz(func(t *testing.T, doc string) {
		ls, err := ParseISCSILUNs(doc)
		if err != nil {
			return
		}
		again, err := ParseISCSILUNs(formatLUNs(ls))
		require.NoError(t, err)
		assert.Equal(t, ls, again)
	})
}

func formatExtra(b *bytes.Buffer, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "<%s>%s</%s>", k, escapeText(m[k]), k)
	}
}

func formatDevlist(d *Devlist) string {
	var b bytes.Buffer
	b.WriteString("<Devlist>")
	for _, e := range d.Devices {
		fmt.Fprintf(&b, "<BlockDevice><path>%s</path><numpaths>%d</numpaths><SCSIid>%s</SCSIid><vendor>%s</vendor><serial>%s</serial><size>%d</size><adapter>%s</adapter><channel>%s</channel><id>%s</id><lun>%s</lun><hba>%s</hba>",
			escapeText(e.Path), e.NumPaths, escapeText(e.SCSIid), escapeText(e.Vendor), escapeText(e.Serial), e.Size,
			escapeText(e.Adapter), escapeText(e.Channel), escapeText(e.ID), escapeText(e.LUN), escapeText(e.HBA))
		formatExtra(&b, e.Extra)
		b.WriteString("</BlockDevice>")
	}
	for _, a := range d.Adapters {
		fmt.Fprintf(&b, "<Adapter><host>%s</host><name>%s</name><manufacturer>%s</manufacturer><id>%s</id>",
			escapeText(a.Host), escapeText(a.Name), escapeText(a.Manufacturer), escapeText(a.ID))
		formatExtra(&b, a.Extra)
		b.WriteString("</Adapter>")
	}
	b.WriteString("</Devlist>")
	return b.String()
}

func FuzzParseDevlist(f *testing.F) {
	_, err := DecodeResponse([]byte(golden(f, "failure_sr_backend_107_devlist.xml")))
	xe, _ := AsError(err)
	f.Add(xe.Param(2))
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := ParseDevlist(doc)
		if err != nil {
			return
		}
		again, err := ParseDevlist(formatDevlist(d))
		require.NoError(t, err)
		assert.Equal(t, d, again)
	})
}

// FuzzFastNormalizeAgrees: whatever the byte-level normaliser accepts, the
// tokenizer accepts too, and both decode to the same value and flags.
func FuzzFastNormalizeAgrees(f *testing.F) {
	addGoldenSeeds(f)
	f.Add(string(recordsDoc(3)))
	f.Add(success(`<value>a &amp; b &#233; &#x1F600; &lt;x&gt;</value>`))
	f.Add(success("<value>\r\n  spaced\t</value>"))
	f.Add(success(`<value><int> 42 </int></value>`))
	f.Fuzz(func(t *testing.T, body string) {
		fast, ok := fastNormalize([]byte(body), nil)
		if !ok {
			return
		}
		slow, err := slowNormalize([]byte(body))
		require.NoError(t, err, "the tokenizer refuses what the fast path accepted")
		assert.Equal(t, slow.fault, fast.fault)
		assert.Equal(t, slow.emptyName, fast.emptyName)
		var a, b any
		errA := xmlrpcUnmarshal(fast.body, &a)
		errB := xmlrpcUnmarshal(slow.body, &b)
		assert.Equal(t, errB == nil, errA == nil, "decoding: fast %v, tokenizer %v", errA, errB)
		assert.Equal(t, b, a)
	})
}

// xmlrpcUnmarshal decodes a normalised document with kolo, a panic as an error.
func xmlrpcUnmarshal(body []byte, out *any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return xmlrpc.Response(body).Unmarshal(out)
}
