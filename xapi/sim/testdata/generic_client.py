"""An unmodified generic XML-RPC client (Python's standard xmlrpc.client)
driving a small DR recovery against the simulator's DR pool.

Usage: python3 -I generic_client.py <DR pool URL>

The mirror of gold-01 must already be split (the Go test does it). The script
prints one JSON object with what it observed; the Go test asserts on it. Any
unexpected failure raises, which makes the process exit non-zero.
"""

import functools
import json
import sys
import xml.dom.minidom
import xmlrpc.client

URL = sys.argv[1]
PROXY = xmlrpc.client.ServerProxy(URL)
GOLD01 = "0a6b1e42-7c1d-4f2e-9a35-3f1c00000a01"
DC = {
    "target": "dr-array.lab",
    "port": "3260",
    "targetIQN": "iqn.2026-01.lab.dr-array:gold",
    "SCSIid": "36001405b0000000000000000000000b1",
}


class XapiFailure(Exception):
    def __init__(self, desc):
        super().__init__(desc)
        self.desc = desc


def raw(method, *args):
    """Calls method (dotted names resolved attribute by attribute, as the
    ServerProxy does) and returns the xapi envelope as decoded."""
    fn = functools.reduce(getattr, method.split("."), PROXY)
    return fn(*args)


def call(method, *args):
    r = raw(method, *args)
    if r["Status"] != "Success":
        raise XapiFailure(r["ErrorDescription"])
    return r["Value"]


def fails(method, *args):
    r = raw(method, *args)
    if r["Status"] == "Success":
        raise AssertionError(method + " succeeded")
    return r["ErrorDescription"]


def wait_task(s, task):
    """Waits for a task with event.from on task/<ref>, then reads it."""
    token = ""
    for _ in range(1000):
        status = call("task.get_status", s, task)
        if status not in ("pending", "cancelling"):
            break
        token = call("event.from", s, ["task/" + task], token, 5.0)["token"]
    rec = call("task.get_record", s, task)
    call("task.destroy", s, task)
    return rec


def value_fragment(result):
    """task.result is a <value>…</value> fragment."""
    doc = xml.dom.minidom.parseString(result)
    node = doc.documentElement
    return "".join(n.data for n in node.childNodes if n.nodeType == n.TEXT_NODE)


out = {}
s = call("session.login_with_password", "root", "lifeboat", "1.1", "python-xmlrpc")
out["session_prefix"] = s.split(":")[0]

# Records: empty strings and xapi's untyped ints survive.
vms = call("VM.get_all_records", s)
out["vm_count"] = len(vms)
jump_ref, jump = next((r, v) for r, v in vms.items() if v["name_label"] == "dr-jumpbox")
out["jumpbox_ref"] = jump_ref
out["jumpbox_fields"] = len(jump)
out["jumpbox_empty_strings"] = sorted(k for k, x in jump.items() if x == "" and isinstance(x, str))
out["jumpbox"] = {
    "name_description": jump["name_description"],
    "memory_static_max": jump["memory_static_max"],
    "memory_type": type(jump["memory_static_max"]).__name__,
    "domid": jump["domid"],
    "VCPUs_max": jump["VCPUs_max"],
    "is_a_template": jump["is_a_template"],
    "power_state": jump["power_state"],
    "other_config_types": sorted({type(x).__name__ for x in jump["other_config"].values()}),
}
ctrl = next(v for v in vms.values() if v["is_control_domain"])
out["dom0_domid"] = ctrl["domid"]

pool = call("pool.get_all", s)[0]
master = call("pool.get_master", s, pool)

# SR.probe with metadata: the SRlist document, and a discovery failure whose
# ErrorDescription holds an empty string (kolo loses what follows it).
srlist = call("SR.probe", s, master, DC, "lvmoiscsi", {"metadata": "true"})
doc = xml.dom.minidom.parseString(srlist)
sr = doc.getElementsByTagName("SR")[0]


def text(el, tag):
    return el.getElementsByTagName(tag)[0].firstChild.data.strip()


out["probe"] = {
    "uuid": text(sr, "UUID"),
    "name_label": text(sr, "name_label"),
    "pool_metadata_detected": text(sr, "pool_metadata_detected"),
}
err = fails("SR.probe", s, master, {"target": "dr-array.lab", "port": "3260"}, "lvmoiscsi", {})
out["probe_96"] = {"len": len(err), "code": err[0], "param1": err[1], "has_iqn": DC["targetIQN"] in err[3]}

# DR_task.create (Async, awaited with event.from).
task = call("Async.DR_task.create", s, "lvmoiscsi", DC, [GOLD01])
rec = wait_task(s, task)
out["dr_task_status"] = rec["status"]
out["dr_task_progress_type"] = type(rec["progress"]).__name__
dr_task = value_fragment(rec["result"])
out["dr_task_prefix"] = dr_task.split(":")[0]
introduced = call("DR_task.get_introduced_SRs", s, dr_task)
out["introduced"] = [call("SR.get_uuid", s, x) for x in introduced]

# The primary's metadata VDI on the introduced SR.
vdis = call("VDI.get_all_records", s)
metas = [
    ref for ref, v in vdis.items()
    if v["type"] == "metadata" and v["metadata_latest"] is True and v["metadata_of_pool"] != pool
]
out["metadata_vdis"] = len(metas)
out["metadata_pool_uuid"] = call("VDI.read_database_pool_uuid", s, metas[0])

fs = call("VDI.open_database", s, metas[0])
fvms = call("VM.get_all_records", fs)
by_name = {v["name_label"]: ref for ref, v in fvms.items()}
out["foreign_vm_count"] = len(fvms)
out["foreign_pool"] = call("pool.get_record", fs, call("pool.get_all", fs)[0])["uuid"]
dns = by_name["dns-01"]
dns_uuid = fvms[dns]["uuid"]
out["assert_dns"] = call("VM.assert_can_be_recovered", fs, dns, s)
err = fails("VM.assert_can_be_recovered", fs, by_name["build-agent"], s)
out["assert_build_agent"] = [err[0], len(err)]
out["recover_dns"] = call("VM.recover", fs, dns, s, True)
out["foreign_readonly"] = fails("VM.start", fs, dns, False, False)[0]
call("session.logout", fs)
out["foreign_after_logout"] = fails("VM.get_all", fs)[0]

ref = call("VM.get_by_uuid", s, dns_uuid)
out["recovered_version"] = call("VM.get_version", s, ref)
out["recovered_power"] = call("VM.get_power_state", s, ref)

# event.from after a VM.start, with the token returned before it.
token = call("event.from", s, ["VM"], "", 0.0)["token"]
call("VM.start", s, ref, False, False)
batch = call("event.from", s, ["VM"], token, 1.0)
out["events"] = [
    {
        "class": e["class"],
        "operation": e["operation"],
        "ref_matches": e["ref"] == ref,
        "power_state": e.get("snapshot", {}).get("power_state"),
        "id_type": type(e["id"]).__name__,
    }
    for e in batch["events"]
]
out["token_changed"] = batch["token"] != token
out["valid_ref_counts"] = batch["valid_ref_counts"]

call("DR_task.destroy", s, dr_task)
out["dr_tasks_left"] = len(call("DR_task.get_all", s))
out["gold01_still_known"] = call("SR.get_name_label", s, call("SR.get_by_uuid", s, GOLD01))
call("session.logout", s)
out["after_logout"] = fails("VM.get_all", s)[0]

json.dump(out, sys.stdout, sort_keys=True)
