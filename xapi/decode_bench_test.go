package xapi

import (
	"fmt"
	"strings"
	"testing"
)

// recordsDoc is a get_all_records answer of n VM-like records as xapi
// writes it: untyped string values, maps, arrays, booleans and ints.
func recordsDoc(n int) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value><struct>`)
	for i := range n {
		fmt.Fprintf(&b, `<member><name>OpaqueRef:%08d-0000-4000-8000-000000000000</name><value><struct>`, i)
		for f := range 60 {
			fmt.Fprintf(&b, `<member><name>field_%d</name><value>value &amp; %d of record %d</value></member>`, f, f, i)
		}
		b.WriteString(`<member><name>is_a_template</name><value><boolean>0</boolean></value></member>`)
		b.WriteString(`<member><name>other_config</name><value><struct><member><name>a</name><value>b</value></member><member><name></name><value/></member></struct></value></member>`)
		b.WriteString(`<member><name>VBDs</name><value><array><data><value>OpaqueRef:1</value><value>OpaqueRef:2</value></data></array></value></member>`)
		b.WriteString(`<member><name>memory_static_max</name><value>4294967296</value></member>`)
		b.WriteString(`</struct></value></member>`)
	}
	b.WriteString(`</struct></value></member></struct></value></param></params></methodResponse>`)
	return []byte(b.String())
}

func BenchmarkDecodeRecords(b *testing.B) {
	doc := recordsDoc(1000)
	b.SetBytes(int64(len(doc)))
	b.Run("normalize", func(b *testing.B) {
		for range b.N {
			if _, err := normalize(doc, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for range b.N {
			if _, _, err := decodeDocument(doc, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
