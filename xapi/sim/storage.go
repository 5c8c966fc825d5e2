package sim

import (
	"time"
)

// This file is the pool side of storage: SR, PBD and VDI calls, SR scans (syncing VDI
// records from the LUN image), metadata replication (redo logs) and the foreign metadata
// cache behind VDI.metadata_latest.

// metadataVDISize is xapi's redo log VDI size: ((4e9 div 4MiB) − 2) × 4MiB.
const metadataVDISize = 3988783104

// createVDI creates a VDI record on an SR and writes it to the SR's LUN image.
func (p *Pool) createVDI(srRef string, fields map[string]any) string {
	ref := p.w.newRef()
	f := map[string]any{"SR": srRef, "managed": true, "sharable": false, "read_only": false, "missing": false,
		"other_config": map[string]string{}, "xenstore_data": map[string]string{}, "sm_config": map[string]string{},
		"metadata_of_pool": NullRef, "metadata_latest": false, "allowed_operations": []string{"clone", "copy", "destroy", "snapshot"},
		"storage_lock": false, "is_a_snapshot": false, "snapshot_of": NullRef}
	for k, v := range fields {
		f[k] = v
	}
	if _, ok := f["uuid"]; !ok {
		f["uuid"] = p.w.newUUID()
	}
	if _, ok := f["location"]; !ok {
		f["location"] = f["uuid"]
	}
	if _, ok := f["physical_utilisation"]; !ok {
		f["physical_utilisation"] = f["virtual_size"]
	}
	o := p.db.Create("VDI", ref, f)
	if l := p.lunOfSR(srRef); l != nil && l.Image != nil {
		if ro, _ := l.readOnly(); !ro && l.Site.Up {
			l.Image.VDIs[o.S("uuid")] = imageVDIOf(o)
		}
	}
	return ref
}

func imageVDIOf(o *object) *ImageVDI {
	iv := &ImageVDI{UUID: o.S("uuid"), NameLabel: o.S("name_label"), NameDescription: o.S("name_description"), Location: o.S("location"),
		Type: o.S("type"), VirtualSize: o.I("virtual_size"), SMConfig: copyMap(o.Map("sm_config"))}
	if iv.Type == "metadata" {
		iv.MetadataOfPool = o.S("metadata_of_pool")
	}
	return iv
}

// deleteVDI destroys a VDI record and its data on the LUN.
func (p *Pool) deleteVDI(ref string) {
	o := p.db.Get("VDI", ref)
	if o == nil {
		return
	}
	if l := p.lunOfSR(o.S("SR")); l != nil && l.Image != nil {
		if ro, _ := l.readOnly(); !ro && l.Site.Up {
			delete(l.Image.VDIs, o.S("uuid"))
		}
	}
	for _, vbd := range o.Refs("VBDs") {
		p.db.Delete("VBD", vbd)
	}
	delete(p.redoLogs, ref)
	delete(p.metaCache, ref)
	p.db.Delete("VDI", ref)
}

// srAttachedOn reports whether the SR has a currently attached PBD on the host (any host
// when h is nil).
func (p *Pool) srAttachedOn(srRef string, h *Host) bool {
	sr := p.db.Get("SR", srRef)
	if sr == nil {
		return false
	}
	for _, pbd := range sr.Refs("PBDs") {
		o := p.db.Get("PBD", pbd)
		if o != nil && o.B("currently_attached") && (h == nil || o.S("host") == h.ref) {
			return true
		}
	}
	return false
}

// refreshSROps recomputes SR.allowed_operations: forget/destroy only with no attached PBD.
func (p *Pool) refreshSROps(srRef string) {
	ops := []string{"scan", "vdi_create", "vdi_introduce", "vdi_destroy", "pbd_create", "pbd_destroy", "plug", "update", "unplug"}
	if !p.srAttachedOn(srRef, nil) {
		ops = append(ops, "forget", "destroy")
	}
	p.db.Set("SR", srRef, "allowed_operations", ops)
}

// scanSR is SR.scan (Xapi_sr.scan / update_vdis): the VDI records of the SR are brought in
// line with the VDIs on the LUN image (new ones introduced with metadata_latest false,
// vanished unattached ones forgotten, metadata_of_pool refreshed). It reads no metadata
// VDI's database: only the master's PBD.plug does (plugPBD).
func (p *Pool) scanSR(srRef string) {
	l := p.lunOfSR(srRef)
	if l == nil || l.Image == nil {
		return
	}
	sr := p.db.Get("SR", srRef)
	byUUID := map[string]*object{}
	for _, v := range sr.Refs("VDIs") {
		if o := p.db.Get("VDI", v); o != nil {
			byUUID[o.S("uuid")] = o
		}
	}
	for u, o := range byUUID {
		if _, ok := l.Image.VDIs[u]; ok {
			continue
		}
		attached := false
		for _, vbd := range o.Refs("VBDs") {
			if b := p.db.Get("VBD", vbd); b != nil && b.B("currently_attached") {
				attached = true
			}
		}
		if !attached {
			p.deleteVDIRecord(o.ref)
		}
	}
	for _, u := range sortedImageVDIs(l.Image) {
		iv := l.Image.VDIs[u]
		if o := byUUID[u]; o != nil {
			if iv.Type == "metadata" && o.S("metadata_of_pool") != iv.MetadataOfPool && iv.MetadataOfPool != "" {
				p.db.Set("VDI", o.ref, "metadata_of_pool", iv.MetadataOfPool)
			}
			continue
		}
		mop := NullRef
		if iv.Type == "metadata" && iv.MetadataOfPool != "" {
			mop = iv.MetadataOfPool
		}
		p.db.Create("VDI", p.w.newRef(), map[string]any{"uuid": iv.UUID, "name_label": iv.NameLabel, "name_description": iv.NameDescription,
			"SR": srRef, "location": iv.Location, "type": iv.Type, "virtual_size": iv.VirtualSize, "physical_utilisation": iv.VirtualSize,
			"sm_config": copyMap(iv.SMConfig), "managed": true, "metadata_of_pool": mop, "metadata_latest": false,
			"other_config": map[string]string{}, "xenstore_data": map[string]string{}, "allowed_operations": []string{"clone", "copy", "destroy", "snapshot"}})
	}
}

func sortedImageVDIs(img *SRImage) []string {
	out := make([]string, 0, len(img.VDIs))
	for k := range img.VDIs {
		out = append(out, k)
	}
	return sortedStrings(out)
}

// deleteVDIRecord forgets a VDI record without touching the LUN.
func (p *Pool) deleteVDIRecord(ref string) {
	delete(p.redoLogs, ref)
	delete(p.metaCache, ref)
	p.db.Delete("VDI", ref)
}

// handleMetadataVDIs reads the generation of every foreign metadata VDI the pool knows on
// the SR into the cache and recomputes metadata_latest per foreign pool (highest generation
// wins), as Xapi_dr.handle_metadata_vdis / update_metadata_latest do at the master's plug.
func (p *Pool) handleMetadataVDIs(srRef string) {
	l := p.lunOfSR(srRef)
	if l == nil || l.Image == nil {
		return
	}
	sr := p.db.Get("SR", srRef)
	for _, v := range sr.Refs("VDIs") {
		o := p.db.Get("VDI", v)
		if o == nil || o.S("type") != "metadata" || o.S("metadata_of_pool") == p.ref {
			continue
		}
		iv := l.Image.VDIs[o.S("uuid")]
		if iv == nil || iv.Content == nil {
			continue
		}
		p.metaCache[o.ref] = metaInfo{gen: iv.Content.gen, poolRef: iv.MetadataOfPool, poolUUID: iv.ContentPool}
	}
	p.updateMetadataLatest()
}

func (p *Pool) updateMetadataLatest() {
	best := map[string]int64{}
	for ref, mi := range p.metaCache {
		if p.db.Get("VDI", ref) == nil {
			delete(p.metaCache, ref)
			continue
		}
		if g, ok := best[mi.poolRef]; !ok || mi.gen > g {
			best[mi.poolRef] = mi.gen
		}
	}
	for _, ref := range sortedKeysMeta(p.metaCache) {
		mi := p.metaCache[ref]
		latest := mi.gen == best[mi.poolRef]
		if o := p.db.Get("VDI", ref); o.B("metadata_latest") != latest {
			p.db.Set("VDI", ref, "metadata_latest", latest)
		}
	}
}

func sortedKeysMeta(m map[string]metaInfo) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return sortedStrings(out)
}

// plugPBD attaches a PBD as the SM driver would, scanning on the master.
func (c *call) plugPBD(pbdRef string) {
	p := c.pool
	pbd := p.db.Get("PBD", pbdRef)
	if pbd.B("currently_attached") {
		return
	}
	sr := p.db.Get("SR", pbd.S("SR"))
	typ := sr.S("type")
	c.sleep(c.w.timing.Plug)
	if typ == "lvmoiscsi" || typ == "lvmohba" {
		c.w.refreshStorage()
		var l *LUN
		var f *Failure
		if typ == "lvmoiscsi" {
			l, f = c.w.probeISCSI(p, pbd.Map("device_config"))
		} else {
			l, f = c.w.probeHBA(p, pbd.Map("device_config"))
		}
		if f != nil {
			c.failWith(f)
		}
		if !l.Site.Up {
			c.failWith(backendFailure(47, reasonUnavailable, ""))
		}
		if l.Image == nil || l.Image.UUID != sr.S("uuid") {
			c.failWith(backendFailure(47, reasonUnavailable+" [opterr=no SR with uuid "+sr.S("uuid")+" on LUN "+l.SCSIid+"]", ""))
		}
		if ro, why := l.readOnly(); ro {
			c.failWith(backendFailure(47, reasonUnavailable+" [opterr="+why+"]", ""))
		}
	}
	p.db.Set("PBD", pbdRef, "currently_attached", true)
	p.refreshSROps(sr.ref)
	if pbd.S("host") == p.master.ref && sr.B("shared") {
		// The master's plug scans the SR, then handles its metadata VDIs
		// (message_forwarding.ml PBD.plug: Xapi_sr.scan_one with
		// Xapi_dr.handle_metadata_vdis as its callback; since CA-379112 the
		// callback alone, PlugWithoutScan): the foreign ones are read into
		// the cache behind metadata_latest, and replication to this pool's
		// own is re-enabled, any failure ignored.
		if !c.w.opts.PlugWithoutScan {
			p.scanSR(sr.ref)
		}
		p.handleMetadataVDIs(sr.ref)
		if own, _ := p.metadataVDIs(sr.ref); len(own) > 0 {
			_ = p.enableRedoLog(func() (string, *Failure) { return own[0], nil })
		}
	}
}

// metadataVDIs splits the SR's metadata VDIs into this pool's and foreign pools'
// (Xapi_pbd.partition_metadata_vdis_by_pool).
func (p *Pool) metadataVDIs(srRef string) (own, foreign []string) {
	for _, v := range p.db.Get("SR", srRef).Refs("VDIs") {
		o := p.db.Get("VDI", v)
		if o == nil || o.S("type") != "metadata" {
			continue
		}
		if o.S("metadata_of_pool") == p.ref {
			own = append(own, v)
		} else {
			foreign = append(foreign, v)
		}
	}
	return own, foreign
}

// activeVDIs is Xapi_pbd.get_active_vdis_by_pbd minus the metadata VDIs: the
// VDIs on the PBD's SR that a VM resident on the PBD's host has attached.
func (p *Pool) activeVDIs(pbd *object) []string {
	sr := pbd.S("SR")
	var out []string
	for _, vm := range p.db.Get("host", pbd.S("host")).Refs("resident_VMs") {
		o := p.db.Get("VM", vm)
		if o == nil {
			continue
		}
		for _, vbd := range o.Refs("VBDs") {
			b := p.db.Get("VBD", vbd)
			if b == nil || !b.B("currently_attached") || b.B("empty") {
				continue
			}
			if v := p.db.Get("VDI", b.S("VDI")); v != nil && v.S("SR") == sr && v.S("type") != "metadata" {
				out = append(out, v.ref)
			}
		}
	}
	return out
}

// unplugPBD is PBD.unplug: refused with VDI_IN_USE while a VM on the PBD's host
// uses a disk on the SR; on the SR master the foreign metadata VDIs leave the
// cache (metadata_latest false) and replication to this pool's own stops. The
// pool's database is flushed to its metadata VDIs first.
func (c *call) unplugPBD(pbdRef string) {
	p := c.pool
	pbd := p.db.Get("PBD", pbdRef)
	if !pbd.B("currently_attached") {
		return
	}
	if inUse := p.activeVDIs(pbd); len(inUse) > 0 {
		c.fail("VDI_IN_USE", inUse...)
	}
	c.w.flushMetadata()
	srRef := pbd.S("SR")
	// Helpers.i_am_srmaster: the pool master for a shared SR, the PBD's host
	// for a local one.
	if pbd.S("host") == p.master.ref || !p.db.Get("SR", srRef).B("shared") {
		own, foreign := p.metadataVDIs(srRef)
		for _, v := range foreign {
			delete(p.metaCache, v)
		}
		p.updateMetadataLatest()
		for _, v := range foreign {
			if p.db.Get("VDI", v).B("metadata_latest") {
				p.db.Set("VDI", v, "metadata_latest", false)
			}
		}
		for _, v := range own {
			p.stopRedoLog(v)
		}
	}
	p.db.Set("PBD", pbdRef, "currently_attached", false)
	p.refreshSROps(srRef)
}

// stopRedoLog is Xapi_vdi_helpers.disable_database_replication: the redo log's
// VBD goes and metadata_latest turns false; the VDI stays.
func (p *Pool) stopRedoLog(vdi string) {
	if !p.redoLogs[vdi] {
		return
	}
	for _, vbd := range p.db.Get("VDI", vdi).Refs("VBDs") {
		p.db.Delete("VBD", vbd)
	}
	delete(p.redoLogs, vdi)
	p.db.Set("VDI", vdi, "metadata_latest", false)
}

// forgetSR removes an SR, its PBDs and its VDI records (never the data).
func (c *call) forgetSR(srRef string) {
	p := c.pool
	sr := p.db.Get("SR", srRef)
	if p.srAttachedOn(srRef, nil) {
		c.fail("SR_HAS_PBD", srRef)
	}
	for _, v := range sr.Refs("VDIs") {
		p.deleteVDIRecord(v)
	}
	for _, pbd := range sr.Refs("PBDs") {
		p.db.Delete("PBD", pbd)
	}
	p.db.Delete("SR", srRef)
}

// pbdsMasterLast orders an SR's PBDs slaves first, master last (xapi's unplug order).
func (p *Pool) pbdsMasterLast(srRef string) []string {
	sr := p.db.Get("SR", srRef)
	var first, last []string
	for _, pbd := range sr.Refs("PBDs") {
		if o := p.db.Get("PBD", pbd); o != nil && o.S("host") == p.master.ref {
			last = append(last, pbd)
		} else {
			first = append(first, pbd)
		}
	}
	return append(first, last...)
}

// assertSupportsReplication is SR.assert_supports_database_replication.
func (p *Pool) assertSupportsReplication(srRef string) *Failure {
	sr := p.db.Get("SR", srRef)
	for _, h := range p.hosts {
		if !p.srAttachedOn(srRef, h) {
			return failure("SR_HAS_NO_PBDS", srRef)
		}
	}
	if t := sr.S("type"); t != "lvmoiscsi" && t != "lvmohba" {
		return failure("SR_OPERATION_NOT_SUPPORTED", srRef)
	}
	return nil
}

// enableReplication is SR.enable_database_replication (Xapi_sr): the SR is
// checked, then the redo log enabled on this pool's metadata VDI there,
// created when missing (find_or_create_metadata_vdi).
func (p *Pool) enableReplication(srRef string) *Failure {
	if f := p.assertSupportsReplication(srRef); f != nil {
		return f
	}
	return p.enableRedoLog(func() (string, *Failure) {
		if own, _ := p.metadataVDIs(srRef); len(own) > 0 {
			return own[0], nil
		}
		l := p.lunOfSR(srRef)
		if l != nil {
			if ro, why := l.readOnly(); ro {
				return "", failure("CANNOT_ENABLE_REDO_LOG", why)
			}
		}
		vdi := p.createVDI(srRef, map[string]any{"name_label": "Metadata for DR", "name_description": "Used for disaster recovery",
			"virtual_size": int64(metadataVDISize), "type": "metadata", "sm_config": map[string]string{"type": "raw"}, "metadata_of_pool": p.ref})
		if l != nil && l.Image != nil {
			if iv := l.Image.VDIs[p.db.Get("VDI", vdi).S("uuid")]; iv != nil {
				iv.MetadataOfPool = p.ref
			}
		}
		return vdi, nil
	})
}

// enableRedoLog is Xapi_vdi_helpers.enable_database_replication: the limit of 8
// redo logs is checked before anything else, so with 8 active even a VDI
// already replicated to fails NO_MORE_REDO_LOGS_ALLOWED; a VDI already
// replicated to is then a no-op; else its VBDs are replaced by one on the
// master's control domain and the redo log starts (metadata_latest true).
func (p *Pool) enableRedoLog(vdiOf func() (string, *Failure)) *Failure {
	if len(p.redoLogs) >= 8 {
		return failure("NO_MORE_REDO_LOGS_ALLOWED")
	}
	vdi, f := vdiOf()
	if f != nil {
		return f
	}
	if p.redoLogs[vdi] {
		return nil
	}
	if l := p.lunOfSR(p.db.Get("VDI", vdi).S("SR")); l != nil {
		if ro, why := l.readOnly(); ro {
			return failure("CANNOT_ENABLE_REDO_LOG", why)
		}
	}
	for _, vbd := range p.db.Get("VDI", vdi).Refs("VBDs") {
		p.db.Delete("VBD", vbd)
	}
	p.db.Create("VBD", p.w.newRef(), map[string]any{"uuid": p.w.newUUID(), "VM": p.master.dom0, "VDI": vdi, "device": "xvdz", "userdevice": "autodetect",
		"mode": "RW", "type": "Disk", "unpluggable": true, "currently_attached": true, "empty": false, "bootable": false,
		"other_config": map[string]string{}, "qos_algorithm_params": map[string]string{}})
	p.redoLogs[vdi] = true
	p.db.Set("VDI", vdi, "metadata_latest", true)
	p.metaDirty = true
	p.w.flushMetadata()
	return nil
}

// disableReplication is SR.disable_database_replication: the metadata VDI is destroyed.
func (p *Pool) disableReplication(srRef string) {
	for _, v := range p.db.Get("SR", srRef).Refs("VDIs") {
		o := p.db.Get("VDI", v)
		if o != nil && o.S("type") == "metadata" && o.S("metadata_of_pool") == p.ref {
			delete(p.redoLogs, v)
			p.db.Set("VDI", v, "metadata_latest", false)
			p.deleteVDI(v)
		}
	}
}

func init() {
	register("SR.assert_supports_database_replication", func(c *call) any {
		sr := c.obj(1, "SR")
		if f := c.pool.assertSupportsReplication(sr.ref); f != nil {
			c.failWith(f)
		}
		return nil
	})
	register("SR.enable_database_replication", func(c *call) any {
		sr := c.obj(1, "SR")
		if f := c.pool.enableReplication(sr.ref); f != nil {
			c.failWith(f)
		}
		return nil
	})
	register("SR.disable_database_replication", func(c *call) any {
		c.pool.disableReplication(c.obj(1, "SR").ref)
		return nil
	})
	register("SR.scan", func(c *call) any {
		sr := c.obj(1, "SR")
		if !c.pool.srAttachedOn(sr.ref, c.pool.master) {
			c.fail("SR_NOT_ATTACHED", sr.ref)
		}
		c.w.refreshStorage()
		c.pool.scanSR(sr.ref)
		return nil
	})
	register("SR.forget", func(c *call) any {
		c.forgetSR(c.obj(1, "SR").ref)
		return nil
	})
	register("SR.introduce", func(c *call) any {
		uuid := c.str(1)
		if c.db.ByUUID("SR", uuid) != nil {
			c.fail("SR_UUID_EXISTS", uuid)
		}
		sm := map[string]string{}
		if len(c.params) > 7 {
			sm = c.strMap(7)
		}
		ref := c.w.newRef()
		c.db.Create("SR", ref, map[string]any{"uuid": uuid, "name_label": c.str(2), "name_description": c.str(3), "type": c.str(4),
			"content_type": c.str(5), "shared": c.boolean(6), "sm_config": sm, "other_config": map[string]string{}, "introduced_by": NullRef})
		c.pool.refreshSROps(ref)
		return ref
	})
	register("PBD.create", func(c *call) any {
		args := c.strMapAny(1)
		host, _ := args["host"].(string)
		sr, _ := args["SR"].(string)
		if c.db.Get("host", host) == nil {
			c.fail("HANDLE_INVALID", "host", host)
		}
		if c.db.Get("SR", sr) == nil {
			c.fail("HANDLE_INVALID", "SR", sr)
		}
		ref := c.w.newRef()
		c.db.Create("PBD", ref, map[string]any{"uuid": c.w.newUUID(), "host": host, "SR": sr, "device_config": toStrMap(args["device_config"]),
			"other_config": toStrMap(args["other_config"]), "currently_attached": false})
		return ref
	})
	register("PBD.destroy", destroyDetached("PBD"))
	register("PBD.plug", func(c *call) any {
		c.plugPBD(c.obj(1, "PBD").ref)
		return nil
	})
	register("PBD.unplug", func(c *call) any {
		c.unplugPBD(c.obj(1, "PBD").ref)
		return nil
	})
	register("VDI.destroy", func(c *call) any {
		v := c.obj(1, "VDI")
		for _, vbd := range v.Refs("VBDs") {
			if b := c.db.Get("VBD", vbd); b != nil && b.B("currently_attached") {
				c.fail("VDI_IN_USE", v.ref, "destroy")
			}
		}
		c.pool.deleteVDI(v.ref)
		return nil
	})
	register("VDI.read_database_pool_uuid", func(c *call) any {
		v := c.obj(1, "VDI")
		return c.pool.metaCache[v.ref].poolUUID
	})
	register("VDI.open_database", func(c *call) any {
		v := c.obj(1, "VDI")
		if t := v.S("type"); t != "metadata" {
			c.fail("VDI_INCOMPATIBLE_TYPE", v.ref, vdiTypeHuman(t))
		}
		for _, vbd := range v.Refs("VBDs") {
			if b := c.db.Get("VBD", vbd); b != nil && b.B("currently_attached") {
				c.fail("COULD_NOT_IMPORT_DATABASE", "VDI "+v.S("uuid")+" is attached read-write (it is a live redo log target)")
			}
		}
		c.holdFor(c.pool.openDB, c.w.timing.OpenDatabase)
		c.w.refreshStorage()
		l := c.pool.lunOfSR(v.S("SR"))
		if l == nil || l.Image == nil || !l.Site.Up || !c.pool.srAttachedOn(v.S("SR"), c.pool.master) {
			c.fail("COULD_NOT_IMPORT_DATABASE", "Unable to attach VDI "+v.S("uuid"))
		}
		iv := l.Image.VDIs[v.S("uuid")]
		if iv == nil || iv.Content == nil {
			c.fail("COULD_NOT_IMPORT_DATABASE", "Database does not match local schema.")
		}
		s := &Session{Ref: c.w.newRef(), User: "disaster-recovery", Role: "read-only", db: iv.Content.clone(), created: time.Now()}
		c.pool.sessions[s.Ref] = s
		return s.Ref
	})
}

// vdiTypeHuman is Record_util.vdi_type_to_string, used in VDI_INCOMPATIBLE_TYPE.
func vdiTypeHuman(t string) string {
	switch t {
	case "system":
		return "System"
	case "user":
		return "User"
	case "ephemeral":
		return "Ephemeral"
	case "suspend":
		return "Suspend"
	case "crashdump":
		return "Crashdump"
	case "ha_statefile":
		return "HA statefile"
	case "metadata":
		return "Metadata"
	case "redo_log":
		return "Redo log"
	case "rrd":
		return "rrd"
	case "pvs_cache":
		return "PVS cache"
	case "cbt_metadata":
		return "CBT metadata"
	}
	return t
}

// strMapAny reads a struct parameter (a record given to a constructor).
func (c *call) strMapAny(i int) map[string]any {
	m, ok := c.params[i].(map[string]any)
	if !ok {
		c.fail("FIELD_TYPE_ERROR", c.paramName(i))
	}
	return m
}

func toStrMap(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if s, ok := x.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}
