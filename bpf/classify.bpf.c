// SPDX-License-Identifier: GPL-2.0
/*
 * Egress classifier for per-tenant bandwidth (Enforce): on a link's clsact egress hook, in direct-action mode, it
 * looks up the sending socket's cgroup v2 id in `tenant_classes` and sets skb->priority to the tenant's HTB class
 * handle (D9:minor). HTB takes a priority that names one of its leaf classes as the packet's class, so the root
 * HTB qdisc needs no filter of its own. Packets of unknown cgroups keep their priority and pass unshaped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "dpm_records.h"

char LICENSE[] SEC("license") = "GPL";

/* TC_ACT_OK from linux/pkt_cls.h (a macro, so vmlinux.h does not carry it). */
#define DPM_TC_ACT_OK 0

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPM_MAX_SLOTS);
	__type(key, __u64);   /* cgroup v2 id */
	__type(value, __u32); /* HTB class handle, major << 16 | minor */
} tenant_classes SEC(".maps");

SEC("tc")
int classify_egress(struct __sk_buff *skb)
{
	__u64 cgroup_id = bpf_skb_cgroup_id(skb);
	__u32 *handle = bpf_map_lookup_elem(&tenant_classes, &cgroup_id);

	if (handle)
		skb->priority = *handle;
	return DPM_TC_ACT_OK;
}
