package sim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file builds a world from a scenario: arrays and LUNs, pools with their hosts,
// networks, SRs (and their images on the LUNs), vApps, VMs, metadata replication, and
// finally the mirrors with an initial full copy (the mirror was established long ago).

func (w *World) build(sc *Scenario) error {
	seed := sc.Seed
	siteByName := map[string]*Site{}
	for _, ss := range sc.Sites {
		s := &Site{Name: ss.Name, Up: true}
		w.sites = append(w.sites, s)
		siteByName[s.Name] = s
		for _, ts := range ss.ISCSI {
			t := &Target{Name: ts.Name, Site: s, Address: ts.Address, IP: ts.IP, Port: ts.Port, IQN: ts.IQN,
				CHAPUser: ts.CHAPUser, CHAPPassword: ts.CHAPPassword, Vendor: ts.Vendor}
			if t.Port == 0 {
				t.Port = 3260
			}
			if t.Vendor == "" {
				t.Vendor = "LIO-ORG"
			}
			for _, ls := range ts.LUNs {
				l := &LUN{Kind: "iscsi", Site: s, Target: t, LUNid: ls.LUN, SCSIid: ls.SCSIid, Size: int64(ls.Size), Vendor: t.Vendor, Serial: ls.Serial}
				if l.Size == 0 {
					l.Size = 500 << 30
				}
				if l.Serial == "" {
					l.Serial = l.SCSIid[max(0, len(l.SCSIid)-12):]
				}
				t.LUNs = append(t.LUNs, l)
				w.fabric.luns = append(w.fabric.luns, l)
			}
			w.fabric.targets = append(w.fabric.targets, t)
		}
		for _, ls := range ss.FC {
			l := &LUN{Kind: "fc", Site: s, LUNid: ls.LUN, SCSIid: ls.SCSIid, Size: int64(ls.Size), Vendor: ls.Vendor, Serial: ls.Serial}
			if l.Size == 0 {
				l.Size = 1 << 40
			}
			if l.Vendor == "" {
				l.Vendor = "NETAPP"
			}
			if l.Serial == "" {
				l.Serial = l.SCSIid[max(0, len(l.SCSIid)-12):]
			}
			w.fabric.luns = append(w.fabric.luns, l)
		}
	}
	for si, ss := range sc.Sites {
		for _, ps := range ss.Pools {
			p, err := w.buildPool(seed, w.sites[si], ps)
			if err != nil {
				return fmt.Errorf("pool %s: %w", ps.Name, err)
			}
			w.sites[si].Pools = append(w.sites[si].Pools, p)
			w.pools = append(w.pools, p)
		}
	}
	w.flushMetadata()
	for _, ms := range sc.Mirrors {
		m := &Mirror{Name: ms.Name, Src: w.fabric.lunBySCSIid(ms.Source), Dst: w.fabric.lunBySCSIid(ms.Destination), State: ms.State, Lag: time.Duration(ms.Lag)}
		if m.Name == "" {
			m.Name = ms.Source + "->" + ms.Destination
		}
		if m.State == "" {
			m.State = MirrorReplicating
		}
		if m.Src.mirror != nil || m.Dst.mirror != nil {
			return fmt.Errorf("mirror %s: a LUN can be in one mirror only", m.Name)
		}
		m.Src.mirror, m.Dst.mirror = m, m
		w.fabric.mirrors = append(w.fabric.mirrors, m)
		if m.State != MirrorSplit {
			w.copyMirror(m)
		} else {
			m.Dst.Image = m.Src.Image.clone()
		}
	}
	return w.buildSnapshots(sc.Snapshots)
}

func (w *World) buildPool(seed int64, site *Site, ps PoolSpec) (*Pool, error) {
	p := &Pool{w: w, Name: ps.Name, Site: site, db: newDB(), users: map[string]User{}, sessions: map[string]*Session{},
		redoLogs: map[string]bool{}, metaCache: map[string]metaInfo{}}
	p.db.onCommit = func(class string) {
		if class != "task" {
			p.metaDirty = true
		}
	}
	if w.timing.Concurrency > 0 {
		p.sem = make(chan struct{}, w.timing.Concurrency)
	}
	p.dbLock, p.openDB = newSlots(1), newSlots(1)
	p.uuid = ps.UUID
	if p.uuid == "" {
		p.uuid = stableUUID(seed, "pool", ps.Name)
	}
	p.ref = w.newRef()
	for _, u := range ps.Users {
		p.users[u.Name] = User(u)
	}
	uuidOf := func(given string, parts ...string) string {
		if given != "" {
			return given
		}
		return stableUUID(seed, append([]string{ps.Name}, parts...)...)
	}
	// Hosts and their control domains.
	for i, hs := range ps.Hosts {
		h := &Host{pool: p, Name: hs.Name, ref: w.newRef(), dom0: w.newRef(), addr: hs.Address, memory: int64(hs.Memory), vmOps: newSlots(w.timing.HostVMOps)}
		if h.memory == 0 {
			h.memory = 256 << 30
		}
		cpus := hs.CPUs
		if cpus == 0 {
			cpus = 32
		}
		p.db.Create("host", h.ref, map[string]any{
			"uuid": uuidOf("", "host", hs.Name), "name_label": hs.Name, "name_description": "Default install",
			"hostname": hs.Name, "address": h.addr, "enabled": true, "API_version_major": int64(2), "API_version_minor": int64(21),
			"API_version_vendor": "XenSource", "memory_overhead": int64(0), "allowed_operations": []string{"provision", "evacuate"},
			"software_version": map[string]string{"product_version": "8.4.0", "product_brand": "XenServer", "xapi": "24.19", "platform_name": "XCP", "date": "2025-03-19"},
			"cpu_info":         map[string]string{"cpu_count": strconv.Itoa(cpus), "vendor": "GenuineIntel"},
			"other_config":     map[string]string{"simulated_memory_total": strconv.FormatInt(h.memory, 10)},
		})
		p.db.Create("VM", h.dom0, map[string]any{
			"uuid": uuidOf("", "dom0", hs.Name), "name_label": "Control domain on host: " + hs.Name, "name_description": "The domain which manages physical devices and manages other domains",
			"power_state": "Running", "is_control_domain": true, "is_a_template": false, "resident_on": h.ref, "domid": int64(0),
			"memory_static_max": int64(4 << 30), "memory_dynamic_max": int64(4 << 30), "memory_dynamic_min": int64(4 << 30), "memory_static_min": int64(4 << 30),
			"memory_target": int64(4 << 30), "VCPUs_max": int64(16), "VCPUs_at_startup": int64(16), "user_version": int64(1),
			"actions_after_shutdown": "destroy", "actions_after_reboot": "destroy", "actions_after_crash": "destroy",
			"allowed_operations": []string{}, "other_config": map[string]string{"storage_driver_domain": h.dom0, "is_system_domain": "true"},
		})
		p.hosts = append(p.hosts, h)
		if i == 0 {
			p.master = h
		}
	}
	p.db.Create("pool", p.ref, map[string]any{
		"uuid": p.uuid, "name_label": ps.Name, "name_description": ps.Description, "master": p.master.ref,
		"other_config": map[string]string{}, "ha_enabled": false, "restrictions": map[string]string{"restrict_dr": "false"},
		"allowed_operations": []string{"ha_enable", "cluster_create"},
	})
	nets := map[string]string{}
	for i, ns := range ps.Networks {
		ref := w.newRef()
		bridge := ns.Bridge
		if bridge == "" {
			bridge = fmt.Sprintf("xenbr%d", i+1)
		}
		p.db.Create("network", ref, map[string]any{"uuid": uuidOf("", "network", ns.Name), "name_label": ns.Name, "name_description": ns.Description,
			"bridge": bridge, "MTU": int64(1500), "managed": true, "other_config": map[string]string{}, "allowed_operations": []string{}})
		nets[ns.Name] = ref
	}
	srs := map[string]string{}
	for _, rs := range ps.SRs {
		ref, err := w.buildSR(p, seed, rs)
		if err != nil {
			return nil, err
		}
		srs[rs.Name] = ref
	}
	if len(srs) > 0 {
		for _, rs := range ps.SRs {
			if rs.Type == "lvmoiscsi" || rs.Type == "lvmohba" {
				p.db.Update("pool", p.ref, map[string]any{"default_SR": srs[rs.Name], "suspend_image_SR": srs[rs.Name], "crash_dump_SR": srs[rs.Name]})
				break
			}
		}
	}
	apps := map[string]string{}
	for _, as := range ps.VApps {
		ref := w.newRef()
		p.db.Create("VM_appliance", ref, map[string]any{"uuid": uuidOf(as.UUID, "vapp", as.Name), "name_label": as.Name, "name_description": as.Description})
		apps[as.Name] = ref
	}
	for i, vs := range ps.VMs {
		if err := w.buildVM(p, seed, i, vs, nets, srs, apps, uuidOf); err != nil {
			return nil, fmt.Errorf("VM %s: %w", vs.Name, err)
		}
	}
	for _, ref := range apps {
		p.refreshApplianceOps(ref)
	}
	for _, name := range ps.ReplicateMetadata {
		if f := p.enableReplication(srs[name]); f != nil {
			return nil, fmt.Errorf("replicate metadata to %s: %w", name, f)
		}
	}
	for _, s := range p.sessions {
		s.ttl = time.Duration(ps.SessionTTL)
	}
	p.sessionTTL = time.Duration(ps.SessionTTL)
	return p, nil
}

func (w *World) buildSR(p *Pool, seed int64, rs SRSpec) (string, error) {
	ref := w.newRef()
	uuid := rs.UUID
	if uuid == "" {
		uuid = stableUUID(seed, p.Name, "sr", rs.Name)
	}
	shared := rs.Type == "lvmoiscsi" || rs.Type == "lvmohba" || rs.Type == "nfs"
	var lun *LUN
	size := int64(100 << 30)
	if rs.Type == "lvmoiscsi" || rs.Type == "lvmohba" {
		lun = w.fabric.lunBySCSIid(rs.LUN)
		if lun.Image != nil && lun.Image.UUID != uuid {
			return "", fmt.Errorf("SR %s: LUN %s already holds SR %s", rs.Name, rs.LUN, lun.Image.UUID)
		}
		lun.Image = &SRImage{UUID: uuid, NameLabel: rs.Name, NameDescription: rs.Description, Type: rs.Type, VDIs: map[string]*ImageVDI{}}
		size = lun.Size
	}
	desc := rs.Description
	if desc == "" && lun != nil && lun.Kind == "iscsi" {
		desc = fmt.Sprintf("iSCSI SR [%s (%s; LUN %d: %s)]", lun.Target.Address, lun.Target.IQN, lun.LUNid, lun.SCSIid)
		lun.Image.NameDescription = desc
	} else if desc == "" && lun != nil {
		desc = fmt.Sprintf("Hardware HBA SR [%s]", lun.SCSIid)
		lun.Image.NameDescription = desc
	}
	content := "user"
	if !shared {
		content = "user"
	}
	p.db.Create("SR", ref, map[string]any{
		"uuid": uuid, "name_label": rs.Name, "name_description": desc, "type": rs.Type, "content_type": content,
		"shared": shared, "physical_size": size, "physical_utilisation": int64(0), "virtual_allocation": int64(0),
		"sm_config": map[string]string{"allocation": "thick"}, "other_config": map[string]string{}, "introduced_by": NullRef,
	})
	for _, h := range p.hosts {
		if !shared && h.Name != rs.Host {
			continue
		}
		var dc map[string]string
		switch rs.Type {
		case "lvmoiscsi":
			dc = map[string]string{"target": lun.Target.Address, "port": strconv.Itoa(lun.Target.Port), "targetIQN": lun.Target.IQN, "SCSIid": lun.SCSIid}
			if lun.Target.CHAPUser != "" {
				dc["chapuser"], dc["chappassword"] = lun.Target.CHAPUser, lun.Target.CHAPPassword
			}
		case "lvmohba":
			dc = map[string]string{"SCSIid": lun.SCSIid}
		case "nfs":
			dc = map[string]string{"server": "nfs.lab", "serverpath": "/export/" + rs.Name}
		default:
			dc = map[string]string{"device": "/dev/sda3"}
		}
		p.db.Create("PBD", w.newRef(), map[string]any{"uuid": w.newUUID(), "host": h.ref, "SR": ref, "device_config": dc, "currently_attached": true, "other_config": map[string]string{}})
	}
	p.refreshSROps(ref)
	return ref, nil
}

func (w *World) buildVM(p *Pool, seed int64, idx int, vs VMSpec, nets, srs, apps map[string]string, uuidOf func(string, ...string) string) error {
	ref := w.newRef()
	uuid := uuidOf(vs.UUID, "vm", vs.Name)
	mem := int64(vs.Memory)
	if mem == 0 {
		mem = 2 << 30
	}
	vcpus := vs.VCPUs
	if vcpus == 0 {
		vcpus = 2
	}
	power := vs.Power
	if power == "" {
		power = "Halted"
	}
	var host *Host
	if power == "Running" || power == "Paused" {
		host = p.hosts[idx%len(p.hosts)]
		if vs.Host != "" {
			for _, h := range p.hosts {
				if h.Name == vs.Host {
					host = h
				}
			}
		}
	}
	oc := map[string]string{"mac_seed": stableUUID(seed, p.Name, "mac", vs.Name)}
	for k, v := range vs.OtherConfig {
		oc[k] = v
	}
	app := NullRef
	if vs.VApp != "" {
		app = apps[vs.VApp]
	}
	tags := vs.Tags
	if tags == nil {
		tags = []string{}
	}
	fields := map[string]any{
		"uuid": uuid, "name_label": vs.Name, "name_description": vs.Description, "power_state": power,
		"user_version": int64(1), "is_a_template": false, "memory_static_max": mem, "memory_dynamic_max": mem,
		"memory_dynamic_min": mem, "memory_static_min": mem / 2, "memory_target": mem, "VCPUs_max": vcpus, "VCPUs_at_startup": vcpus,
		"VCPUs_params": map[string]string{}, "actions_after_shutdown": "destroy", "actions_after_reboot": "restart", "actions_after_crash": "restart",
		"HVM_boot_policy": "BIOS order", "HVM_boot_params": map[string]string{"order": "cdn"}, "platform": map[string]string{"acpi": "1", "apic": "true", "pae": "true", "viridian": "true"},
		"other_config": oc, "tags": tags, "appliance": app, "order": vs.Order, "start_delay": vs.StartDelay, "shutdown_delay": vs.ShutdownDelay,
		"ha_restart_priority": vs.HARestartPriority, "version": vs.Version, "generation_id": "0:0", "domain_type": "hvm",
		"resident_on": NullRef, "affinity": NullRef, "domid": int64(-1), "metrics": NullRef, "guest_metrics": NullRef,
		"last_booted_record": "", "recommendations": "", "PV_bootloader": "", "PV_kernel": "", "PV_ramdisk": "", "PV_args": "",
		"PV_bootloader_args": "", "PV_legacy_args": "", "PCI_bus": "", "domarch": "", "is_control_domain": false,
	}
	if host != nil {
		fields["resident_on"] = host.ref
		fields["domid"] = int64(idx + 1)
	}
	fields["allowed_operations"] = vmAllowedOps(power)
	p.db.Create("VM", ref, fields)
	for i, d := range vs.Disks {
		size := int64(d.Size)
		if size == 0 {
			size = 20 << 30
		}
		name := d.Name
		if name == "" {
			name = fmt.Sprintf("%s disk %d", vs.Name, i)
		}
		sm := map[string]string{}
		if d.SCSIid != "" {
			sm["SCSIid"] = d.SCSIid
		}
		vdi := p.createVDI(srs[d.SR], map[string]any{"uuid": stableUUID(seed, p.Name, "vdi", vs.Name, strconv.Itoa(i)), "name_label": name,
			"name_description": "Created by xapisim", "virtual_size": size, "type": "user", "sm_config": sm})
		p.db.Create("VBD", w.newRef(), map[string]any{
			"uuid": stableUUID(seed, p.Name, "vbd", vs.Name, strconv.Itoa(i)), "VM": ref, "VDI": vdi, "device": "xvd" + string(rune('a'+i)),
			"userdevice": strconv.Itoa(i), "bootable": i == 0, "mode": "RW", "type": "Disk", "unpluggable": true, "empty": false,
			"currently_attached": power == "Running" || power == "Paused", "other_config": map[string]string{}, "qos_algorithm_params": map[string]string{},
			"allowed_operations": []string{"attach"},
		})
	}
	for i, n := range vs.Networks {
		p.db.Create("VIF", w.newRef(), map[string]any{
			"uuid": stableUUID(seed, p.Name, "vif", vs.Name, strconv.Itoa(i)), "VM": ref, "network": nets[n], "device": strconv.Itoa(i),
			"MAC": macFor(oc["mac_seed"], i), "MTU": int64(1500), "currently_attached": power == "Running" || power == "Paused",
			"other_config": map[string]string{}, "qos_algorithm_params": map[string]string{}, "locking_mode": "network_default",
			"allowed_operations": []string{"attach"},
		})
	}
	if power == "Suspended" {
		vdi := p.createVDI(srs[vs.SuspendSR], map[string]any{"uuid": stableUUID(seed, p.Name, "suspend", vs.Name), "name_label": "Suspend image",
			"name_description": "Suspend image", "virtual_size": mem + (16 << 20), "type": "suspend", "sm_config": map[string]string{}})
		p.db.Update("VM", ref, map[string]any{"suspend_VDI": vdi, "suspend_SR": srs[vs.SuspendSR]})
	}
	return nil
}

// macFor derives a stable locally-administered MAC from a VM's mac_seed, as xapi does.
func macFor(seed string, device int) string {
	h := stableUUID(0, seed, strconv.Itoa(device))
	hex := strings.ReplaceAll(h, "-", "")
	return fmt.Sprintf("%s:%s:%s:%s:%s:%s", "02", hex[0:2], hex[2:4], hex[4:6], hex[6:8], hex[8:10])
}
