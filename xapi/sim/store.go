package sim

import (
	"sort"
	"strconv"
)

// This file is the object store: one database per pool (class → ref → record) with the
// database generation counter xapi keeps, which drives event tokens and the generation
// written into metadata VDIs.

// object is one stored record. Objects are immutable once stored: every change replaces
// the object, so a database snapshot (metadata replication, VDI.open_database) only copies
// pointers.
type object struct {
	class string
	ref   string
	f     map[string]any
	seq   int64 // creation order, for stable get_all ordering
	cgen  int64 // generation at creation
	mgen  int64 // generation of the last change
}

func (o *object) get(field string) any {
	if v, ok := o.f[field]; ok {
		return v
	}
	if c := schema[o.class]; c != nil {
		if i, ok := c.Index[field]; ok {
			return c.Fields[i].Default
		}
	}
	return nil
}

// S returns a string field (refs and enums included).
func (o *object) S(field string) string {
	s, _ := o.get(field).(string)
	return s
}

// I returns an int field.
func (o *object) I(field string) int64 {
	switch v := o.get(field).(type) {
	case int64:
		return v
	case int:
		return int64(v)
	}
	return 0
}

// B returns a bool field.
func (o *object) B(field string) bool {
	b, _ := o.get(field).(bool)
	return b
}

// Refs returns a set field. Its capacity ends at its length, so that a
// caller's append copies it (addToSet appends in place, see DB.tails).
func (o *object) Refs(field string) []string {
	s, _ := o.get(field).([]string)
	return s[:len(s):len(s)]
}

// Map returns a map field.
func (o *object) Map(field string) map[string]string {
	m, _ := o.get(field).(map[string]string)
	if m == nil {
		return map[string]string{}
	}
	return m
}

type tombstone struct {
	class, ref string
	cgen, dgen int64
}

// relation keeps the reverse side of a reference field (e.g. VBD.VM ↔ VM.VBDs) like xapi's
// DB does, so that both sides are always consistent and both produce events.
type relation struct {
	childClass, childField, parentClass, parentField string
}

var relations = []relation{
	{"VBD", "VM", "VM", "VBDs"},
	{"VBD", "VDI", "VDI", "VBDs"},
	{"VIF", "VM", "VM", "VIFs"},
	{"VIF", "network", "network", "VIFs"},
	{"PBD", "SR", "SR", "PBDs"},
	{"PBD", "host", "host", "PBDs"},
	{"VDI", "SR", "SR", "VDIs"},
	{"VM", "appliance", "VM_appliance", "VMs"},
	{"VM", "resident_on", "host", "resident_VMs"},
	{"VM", "snapshot_of", "VM", "snapshots"},
	{"SR", "introduced_by", "DR_task", "introduced_SRs"},
	{"VDI", "metadata_of_pool", "pool", "metadata_VDIs"},
}

var relationsByChild = func() map[string][]relation {
	m := map[string][]relation{}
	for _, r := range relations {
		m[r.childClass] = append(m[r.childClass], r)
	}
	return m
}()

// DB is one pool's database (or a foreign database opened from a metadata VDI).
type DB struct {
	gen    int64
	seq    int64
	objs   map[string]map[string]*object
	dels   []tombstone
	notify chan struct{}
	// onCommit is called after every change (metadata replication marks itself dirty).
	onCommit func(class string)
	// foreign is true for databases opened with VDI.open_database.
	foreign bool
	// uuids indexes each class's objects by uuid once ByUUID was asked
	// for that class (nil: not built); a linear search per call made the
	// simulator's CPU, not its timing model, the limit at 10,000 VMs.
	uuids map[string]map[string]string
	// vmMemGen changes whenever a VM's memory_static_max may have (the
	// hosts' free memory cache, vm.go; a VM created, deleted or moved
	// changes its host's resident_VMs, so the host's record, instead).
	vmMemGen int64
	// classGen is the generation of each class's latest change, so that
	// event.from skips the classes that did not change (absent: unknown).
	classGen map[string]int64
	// members counts each class's creations and deletions (not its
	// updates), so an index of a class knows when to rebuild (vdiIndex).
	members map[string]int64
	// tails lets addToSet append to a set in place: for each backing array
	// it allocated with room to spare, the length of the longest slice of
	// it stored so far. Appending at that length writes where no stored
	// object (of this database or of a snapshot) looks; copying the set on
	// every add made importing 10,000 VMs, whose VIFs all join one
	// network's set, quadratic.
	tails map[*string]int
	// vdis indexes the VDIs for recovery's disk lookups (recover.go).
	vdis *vdiIndex
}

func newDB() *DB {
	return &DB{objs: map[string]map[string]*object{}, notify: make(chan struct{})}
}

func (db *DB) commit(class string) {
	db.gen++
	close(db.notify)
	db.notify = make(chan struct{})
	if db.onCommit != nil {
		db.onCommit(class)
	}
}

// Get returns the object or nil.
func (db *DB) Get(class, ref string) *object {
	return db.objs[class][ref]
}

// Create stores a new object; fields not given take the datamodel defaults.
func (db *DB) Create(class, ref string, fields map[string]any) *object {
	if db.objs[class] == nil {
		db.objs[class] = map[string]*object{}
	}
	db.seq++
	fresh := db.objs[class][ref] == nil // so in no parent's set (Delete removes it)
	f := make(map[string]any, len(fields))
	for k, v := range fields {
		f[k] = v
	}
	o := &object{class: class, ref: ref, f: f, seq: db.seq, cgen: db.gen + 1, mgen: db.gen + 1}
	db.objs[class][ref] = o
	db.touch(class)
	db.counted(class)
	db.indexUUID(class, ref, "", o.S("uuid"))
	for _, r := range relationsByChild[class] {
		if p, _ := f[r.childField].(string); p != "" {
			db.addToSet(r.parentClass, p, r.parentField, ref, fresh)
		}
	}
	db.commit(class)
	return o
}

// Update applies fields to an existing object (replacing it) and keeps relations.
func (db *DB) Update(class, ref string, fields map[string]any) *object {
	old := db.Get(class, ref)
	if old == nil {
		return nil
	}
	f := make(map[string]any, len(old.f)+len(fields))
	for k, v := range old.f {
		f[k] = v
	}
	for _, r := range relationsByChild[class] {
		nv, changed := fields[r.childField]
		if !changed {
			continue
		}
		ov := old.S(r.childField)
		if nvs, _ := nv.(string); nvs != ov {
			db.removeFromSet(r.parentClass, ov, r.parentField, ref)
			db.addToSet(r.parentClass, nvs, r.parentField, ref, false)
		}
	}
	for k, v := range fields {
		db.untail(old.f[k])
		f[k] = v
	}
	o := &object{class: class, ref: ref, f: f, seq: old.seq, cgen: old.cgen, mgen: db.gen + 1}
	db.objs[class][ref] = o
	db.touch(class)
	if _, ok := fields["uuid"]; ok {
		db.indexUUID(class, ref, old.S("uuid"), o.S("uuid"))
	}
	if _, ok := fields["memory_static_max"]; ok && class == "VM" {
		db.vmMemGen++
	}
	db.commit(class)
	return o
}

// Set changes one field.
func (db *DB) Set(class, ref, field string, v any) *object {
	return db.Update(class, ref, map[string]any{field: v})
}

// Delete removes an object and its reverse links.
func (db *DB) Delete(class, ref string) {
	o := db.Get(class, ref)
	if o == nil {
		return
	}
	for _, r := range relationsByChild[class] {
		db.removeFromSet(r.parentClass, o.S(r.childField), r.parentField, ref)
	}
	delete(db.objs[class], ref)
	db.touch(class)
	db.counted(class)
	db.indexUUID(class, ref, o.S("uuid"), "")
	for _, v := range o.f {
		db.untail(v)
	}
	db.dels = append(db.dels, tombstone{class: class, ref: ref, cgen: o.cgen, dgen: db.gen + 1})
	if len(db.dels) > 200000 {
		db.dels = append([]tombstone(nil), db.dels[100000:]...)
	}
	db.commit(class)
}

// addToSet adds member to a set field of class/ref; fresh says it cannot be
// there yet (a new object's ref), which saves comparing it with every
// member.
func (db *DB) addToSet(class, ref, field, member string, fresh bool) {
	p := db.Get(class, ref)
	if p == nil {
		return
	}
	cur, _ := p.get(field).([]string)
	if !fresh {
		for _, m := range cur {
			if m == member {
				return
			}
		}
	}
	var n []string
	if len(cur) > 0 && cap(cur) > len(cur) && db.tails[&cur[0]] == len(cur) {
		n = append(cur, member)
	} else {
		db.untail(cur)
		room := 0
		if len(cur) >= 8 {
			room = len(cur) / 2
		}
		n = make([]string, len(cur), len(cur)+1+room)
		copy(n, cur)
		n = append(n, member)
	}
	if cap(n) > len(n) {
		if db.tails == nil {
			db.tails = map[*string]int{}
		}
		db.tails[&n[0]] = len(n)
	}
	db.replaceField(p, field, n)
}

// untail forgets a set's backing array when its object's field no longer
// holds it, so that tails does not keep it alive.
func (db *DB) untail(v any) {
	if s, ok := v.([]string); ok && cap(s) > 0 && db.tails != nil {
		delete(db.tails, &s[:1][0])
	}
}

// counted records a creation or deletion of an object of class.
func (db *DB) counted(class string) {
	if db.members == nil {
		db.members = map[string]int64{}
	}
	db.members[class]++
}

func (db *DB) removeFromSet(class, ref, field, member string) {
	p := db.Get(class, ref)
	if p == nil {
		return
	}
	cur := p.Refs(field)
	n := make([]string, 0, len(cur))
	for _, m := range cur {
		if m != member {
			n = append(n, m)
		}
	}
	if len(n) != len(cur) {
		db.untail(p.f[field])
		db.replaceField(p, field, n)
	}
}

// replaceField updates a reverse-relation field without recursing into relations.
func (db *DB) replaceField(p *object, field string, v any) {
	f := make(map[string]any, len(p.f)+1)
	for k, x := range p.f {
		f[k] = x
	}
	f[field] = v
	db.objs[p.class][p.ref] = &object{class: p.class, ref: p.ref, f: f, seq: p.seq, cgen: p.cgen, mgen: db.gen + 1}
	db.touch(p.class)
}

// touch records that class changes in the generation being committed.
func (db *DB) touch(class string) {
	if db.classGen == nil {
		db.classGen = map[string]int64{}
	}
	db.classGen[class] = db.gen + 1
}

// All returns the objects of a class in creation order.
func (db *DB) All(class string) []*object {
	m := db.objs[class]
	out := make([]*object, 0, len(m))
	for _, o := range m {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// Where returns the objects of a class matching pred, in creation order.
func (db *DB) Where(class string, pred func(*object) bool) []*object {
	var out []*object
	for _, o := range db.All(class) {
		if pred(o) {
			out = append(out, o)
		}
	}
	return out
}

// ByUUID finds an object by uuid.
func (db *DB) ByUUID(class, uuid string) *object {
	idx, ok := db.uuids[class]
	if !ok {
		idx = make(map[string]string, len(db.objs[class]))
		for ref, o := range db.objs[class] {
			if u := o.S("uuid"); u != "" {
				idx[u] = ref
			}
		}
		if db.uuids == nil {
			db.uuids = map[string]map[string]string{}
		}
		db.uuids[class] = idx
	}
	if ref, ok := idx[uuid]; ok {
		if o := db.objs[class][ref]; o != nil && o.S("uuid") == uuid {
			return o
		}
	}
	return nil
}

// indexUUID keeps a built uuid index current: ref had uuid old and has cur.
func (db *DB) indexUUID(class, ref, old, cur string) {
	idx, ok := db.uuids[class]
	if !ok || old == cur {
		return
	}
	if old != "" && idx[old] == ref {
		delete(idx, old)
	}
	if cur != "" {
		idx[cur] = ref
	}
}

// snapshot copies the database as it is now, without the non-persistent task table, for a
// metadata VDI.
func (db *DB) snapshot() *DB {
	s := &DB{gen: db.gen, seq: db.seq, objs: map[string]map[string]*object{}, notify: make(chan struct{}), foreign: true}
	for class, m := range db.objs {
		if class == "task" {
			continue
		}
		c := make(map[string]*object, len(m))
		for k, v := range m {
			c[k] = v
		}
		s.objs[class] = c
	}
	return s
}

// clone returns an independent copy that can itself be opened as a foreign database.
func (db *DB) clone() *DB {
	s := db.snapshot()
	s.dels = nil
	return s
}

// render returns the full wire record of an object: every datamodel field, in datamodel
// order, with defaults for fields never set.
func render(o *object) Struct {
	c := schema[o.class]
	out := make(Struct, 0, len(c.Fields))
	for _, fd := range c.Fields {
		v, ok := o.f[fd.Name]
		if !ok {
			v = fd.Default
		}
		out = append(out, Member{Name: fd.Name, Value: wireField(fd, v)})
	}
	return out
}

// wireField adapts stored values to the datamodel's wire shape.
func wireField(fd fieldDef, v any) any {
	switch fd.Kind {
	case kSet:
		if fd.Elem == kInt {
			switch s := v.(type) {
			case IntSet:
				return s
			case []string:
				out := make(IntSet, 0, len(s))
				for _, x := range s {
					n, _ := strconv.ParseInt(x, 10, 64)
					out = append(out, n)
				}
				return out
			}
		}
		if v == nil {
			return []string{}
		}
	case kMap:
		if v == nil {
			return map[string]string{}
		}
	case kOther:
		if v == nil {
			return map[string]any{}
		}
	}
	return v
}
