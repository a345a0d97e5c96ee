// SPDX-License-Identifier: GPL-2.0
/*
 * Anchors for the cost of a sched_switch probe: five tp_btf/sched_switch programs that each do one thing, attached
 * beside the real probes so that all of them run on the same switches. Their kernel BPF stats (ns per run) split
 * a probe's cost into the fixed part (entry, exit and the stats' own two clock reads: `floor_empty`) and what one
 * clock read, one task-storage lookup, one per-CPU array update, or four dependent loads to a cgroup id add.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} floor_task_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_per_cpu SEC(".maps");

__u64 floor_sink;

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_empty, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_ktime, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	floor_sink = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_storage, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 *value = bpf_task_storage_get(&floor_task_storage, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (value)
		*value += 1;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_percpu, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 zero = 0;
	__u64 *value = bpf_map_lookup_elem(&floor_per_cpu, &zero);

	if (value)
		*value += 1;
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_cgroup_id, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	floor_sink = next->cgroups->dfl_cgrp->kn->id;
	return 0;
}
