// SPDX-License-Identifier: GPL-2.0
/*
 * Anchors for the cost of a sched_switch and a sched_wakeup probe: tp_btf programs that each do one thing, attached
 * beside the real probes so that all of them run on the same events. Their kernel BPF stats (ns per run) split
 * a probe's cost into the fixed part (entry, exit and the stats' own two clock reads: `floor_empty`, `floor_wk_empty`)
 * and what one clock read, one task-storage lookup, one per-CPU array update, or four dependent loads to a cgroup id
 * add. `floor_counters` / `floor_wk_count` are the "minimal counters-only program": per-tenant counters
 * keyed by the task's cgroup v2 id in a hash map shared by all CPUs, no stamps. `floor_wk_store` writes the wakee's
 * task storage (no clock read): what a per-task wake-up stamp costs when the wakee last ran on another CPU.
 * Names stay within 15 characters (the kernel's program name).
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

/* Per-tenant counters of the counters-only anchors, keyed by cgroup v2 id. */
struct floor_tenant_counts {
	__u64 switches;
	__u64 wakeups;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct floor_tenant_counts);
} floor_tenants SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} floor_wakee_storage SEC(".maps");

__u64 floor_sink;

/* The tenant's counters of a task's cgroup v2 id, created at its first event. */
static __always_inline struct floor_tenant_counts *tenant_counts(struct task_struct *task)
{
	__u64 id = task->cgroups->dfl_cgrp->kn->id;
	struct floor_tenant_counts *counts = bpf_map_lookup_elem(&floor_tenants, &id);

	if (counts)
		return counts;
	struct floor_tenant_counts zero = {};
	bpf_map_update_elem(&floor_tenants, &id, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&floor_tenants, &id);
}

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

/* Counts the outgoing task's switch for its tenant. */
SEC("tp_btf/sched_switch")
int BPF_PROG(floor_counters, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct floor_tenant_counts *counts = tenant_counts(prev);

	if (counts)
		__sync_fetch_and_add(&counts->switches, 1);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wk_empty, struct task_struct *task)
{
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wk_store, struct task_struct *task)
{
	__u64 *value = bpf_task_storage_get(&floor_wakee_storage, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (value)
		*value += 1;
	return 0;
}

/* Counts the wakee's wake-up for its tenant. */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(floor_wk_count, struct task_struct *task)
{
	struct floor_tenant_counts *counts = tenant_counts(task);

	if (counts)
		__sync_fetch_and_add(&counts->wakeups, 1);
	return 0;
}
