// SPDX-License-Identifier: GPL-2.0
/*
 * Per-tenant telemetry: run-queue wait, on-CPU time, context switches, user page faults, and network bytes and
 * packets, keyed by cgroup v2 id and aggregated in the kernel per CPU and tenant slot. Each CPU publishes the slots
 * it touched at most once per `flush_interval_ns` through the ring buffer `records`, without waking the consumer,
 * which drains on its own clock. The scheduler and page-fault probes come in a tp_btf flavour and a raw_tp
 * fallback; the loader enables one of the two sets before load.
 *
 * Run-queue wait is the time from a task's wake-up (or preemption) to its switch-in, both stamped here with
 * bpf_ktime_get_ns(). The tp_btf flavour keeps the stamp in task-local storage, the raw_tp fallback in a pid-keyed
 * hash. Not from the kernel's own `sched_info.last_queued`: at sched_switch the run queue's clock is stale whenever
 * the waking CPU asked __schedule to skip its update, so `rq->clock - last_queued` came out zero or negative for
 * close to half of all waits (checked on this kernel) and the waits that remained overstated the tail.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "dpm_records.h"

char LICENSE[] SEC("license") = "GPL";


/* Minimum time between two flushes of one CPU. Set by the loader before load. */
const volatile __u64 flush_interval_ns = DPM_DEFAULT_FLUSH_INTERVAL_NS;

/* Bumped by user space after every change of `cgroup_slots`: invalidates the slots cached per CPU and per task. */
__u32 slot_generation;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPM_MAX_SLOTS);
	__type(key, __u64);   /* cgroup v2 id */
	__type(value, __u32); /* slot */
} cgroup_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DPM_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct dpm_slot_counters);
} slot_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpm_cpu_state);
} cpu_state SEC(".maps");

/* Scratch where a CPU's flush assembles its record before copying it into the ring, indexed by CPU (too large for a
 * per-CPU value). The loader sets max_entries to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpm_flush_record);
} flush_batch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} records SEC(".maps");

/* The tp_btf flavour's per-task state: created at a task's first wake-up, freed by the kernel when it exits. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct dpm_task_state);
} task_state SEC(".maps");

/* The raw_tp fallback's per-task state, keyed by pid. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct dpm_task_state);
} pid_state SEC(".maps");

/* How many cgroups a slot lookup climbs: a tenant is a watched cgroup and everything below it (a pod and its
 * containers, a container and the cgroups it makes), so a task counts for its nearest watched ancestor. */
#define DPM_CGROUP_CLIMB 8

/* The slot of a cgroup or of its nearest watched ancestor, else the "other" slot. Callers cache the answer per task:
 * the climb runs when a task's cgroup or the slot map changed. */
static __always_inline __u32 slot_of_cgroup_tree(struct cgroup *cgroup)
{
#pragma clang loop unroll(disable)
	for (int level = 0; level < DPM_CGROUP_CLIMB && cgroup; level++) {
		__u64 id = BPF_CORE_READ(cgroup, kn, id);
		__u32 *slot = bpf_map_lookup_elem(&cgroup_slots, &id);
		if (slot)
			return *slot;
		struct cgroup_subsys_state *parent = BPF_CORE_READ(cgroup, self.parent);
		cgroup = parent ? BPF_CORE_READ(parent, cgroup) : NULL;
	}
	return DPM_OTHER_SLOT;
}

static __always_inline struct dpm_cpu_state *this_cpu_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&cpu_state, &zero);
}

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r, shift;

	r = (v > 0xFFFFFFFFull) << 5;
	v >>= r;
	shift = (v > 0xFFFF) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/*
 * Publishes the cumulative counters of every slot this CPU touched since its last flush as one record. If the ring is
 * full, counts the drop and marks the slots touched again: counters are cumulative, so they go out complete with a
 * later flush. A global function, so the verifier checks it once rather than on every path of its callers.
 */
__noinline int publish_touched(struct dpm_cpu_state *state, __u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct dpm_flush_record *batch = bpf_map_lookup_elem(&flush_batch, &cpu);

	if (!state)
		return 0;
	state->last_flush_ns = now;
	if (!batch)
		return 0;
	batch->cpu = cpu;
	batch->flushed_ns = bpf_ktime_get_ns();
	/* The count lives in map memory, opaque to the verifier: it need not walk every possible count. */
	batch->entries = 0;
#pragma clang loop unroll(disable)
	for (__u32 word = 0; word < DPM_SLOT_WORDS; word++) {
		__u64 bits = state->touched[word];
		state->touched[word] = 0;
#pragma clang loop unroll(disable)
		for (__u32 i = 0; i < 64 && bits; i++) {
			__u32 slot = word * 64 + log2_u64(bits & -bits);
			bits &= bits - 1;
			struct dpm_slot_counters *counters = bpf_map_lookup_elem(&slot_counters, &slot);
			if (!counters)
				continue;
			struct dpm_slot_entry *entry = &batch->entry[batch->entries & (DPM_FLUSH_BATCH_SLOTS - 1)];
			entry->slot = slot;
			entry->counters = *counters;
			batch->entries++;
		}
	}
	__u32 entries = batch->entries;
	if (!entries)
		return 0;
	__u64 size = offsetof(struct dpm_flush_record, entry) + (__u64)entries * sizeof(struct dpm_slot_entry);
	/* Hide the compiler's knowledge of `size`, so the bound below reaches the verifier. */
	asm volatile("" : "+r"(size));
	if (size > sizeof(*batch))
		size = sizeof(*batch);
	if (bpf_ringbuf_output(&records, batch, size, BPF_RB_NO_WAKEUP) == 0)
		return 0;
	state->dropped_records++;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < DPM_FLUSH_BATCH_SLOTS && i < entries; i++) {
		__u32 slot = batch->entry[i].slot;
		state->touched[(slot / 64) & (DPM_SLOT_WORDS - 1)] |= 1ull << (slot & 63);
	}
	return 0;
}

/* Marks a slot touched from a program that a scheduler program may interrupt or preempt. */
static __always_inline void mark_touched_atomic(struct dpm_cpu_state *state, __u32 slot)
{
	__u64 bit = 1ull << (slot & 63);
	__u64 *word = &state->touched[(slot / 64) & (DPM_SLOT_WORDS - 1)];
	if (!(*word & bit))
		__sync_fetch_and_or(word, bit);
}

/*
 * The common part of a context switch: charge the outgoing task's run to the CPU's current slot, count the switch,
 * record the incoming task's run-queue wait, and flush when due. Runs with interrupts off.
 */
static __always_inline void account_switch(struct dpm_cpu_state *state, __u64 now, bool voluntary, __u32 next_slot,
					   __u64 wait_ns)
{
	struct dpm_slot_counters *counters;
	__u32 prev_slot = state->current_slot;
	if (prev_slot < DPM_MAX_SLOTS && (counters = bpf_map_lookup_elem(&slot_counters, &prev_slot))) {
		if (state->run_start_ns)
			counters->cpu_ns += now - state->run_start_ns;
		if (voluntary)
			counters->voluntary_switches++;
		else
			counters->involuntary_switches++;
		state->touched[(prev_slot / 64) & (DPM_SLOT_WORDS - 1)] |= 1ull << (prev_slot & 63);
	}
	state->current_slot = next_slot;
	state->run_start_ns = now;
	if (wait_ns && next_slot < DPM_MAX_SLOTS && (counters = bpf_map_lookup_elem(&slot_counters, &next_slot))) {
		__u32 bucket = log2_u64(wait_ns);
		counters->runq_wait_ns += wait_ns;
		counters->runq_waits++;
		counters->runq_wait_hist[bucket < DPM_RUNQ_HIST_BUCKETS ? bucket : DPM_RUNQ_HIST_BUCKETS - 1]++;
		state->touched[(next_slot / 64) & (DPM_SLOT_WORDS - 1)] |= 1ull << (next_slot & 63);
	}
	if (now - state->last_flush_ns >= flush_interval_ns)
		publish_touched(state, now);
}

/* A task's cgroup v2 (the default hierarchy's). */
static __always_inline struct cgroup *cgroup_of(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp);
}

/* Resolves a task's slot through its cached state (may be missing: no cache); refreshes the cache when the cgroup
 * or the slot map changed. */
static __always_inline __u32 cached_slot(struct dpm_task_state *task, struct cgroup *cgroup)
{
	__u64 cgroup_id = BPF_CORE_READ(cgroup, kn, id);
	__u32 generation = slot_generation;

	if (!task)
		return slot_of_cgroup_tree(cgroup);
	if (task->cgroup_id == cgroup_id && task->slot_generation == generation)
		return task->slot;
	task->cgroup_id = cgroup_id;
	task->slot = slot_of_cgroup_tree(cgroup);
	task->slot_generation = generation;
	return task->slot;
}

/* The incoming task's slot, and its run-queue wait if it was enqueued (task state may be missing: no wait). */
static __always_inline __u32 switch_in(struct dpm_task_state *task, struct cgroup *cgroup, __u64 now, __u64 *wait_ns)
{
	if (task && task->enqueued_ns) {
		*wait_ns = now - task->enqueued_ns;
		task->enqueued_ns = 0;
	}
	return cached_slot(task, cgroup);
}

static __always_inline void count_page_fault(struct dpm_task_state *task, struct cgroup *cgroup)
{
	struct dpm_cpu_state *state = this_cpu_state();
	__u32 slot = cached_slot(task, cgroup);
	struct dpm_slot_counters *counters = bpf_map_lookup_elem(&slot_counters, &slot);

	if (!state || !counters)
		return;
	__sync_fetch_and_add(&counters->page_faults, 1);
	mark_touched_atomic(state, slot);
}

/* tp_btf flavour: task pointers are typed, per-task state lives in task storage. */

static __always_inline void stamp_enqueue_btf(struct task_struct *task, __u64 now)
{
	struct dpm_task_state *state = bpf_task_storage_get(&task_state, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (state)
		state->enqueued_ns = now;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup_btf, struct task_struct *task)
{
	stamp_enqueue_btf(task, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_btf, struct task_struct *task)
{
	stamp_enqueue_btf(task, bpf_ktime_get_ns());
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct dpm_cpu_state *state = this_cpu_state();
	__u64 now = bpf_ktime_get_ns();
	__u32 next_slot = DPM_NO_SLOT;
	__u64 wait_ns = 0;

	if (!state)
		return 0;
	/* A preempted task goes back to the run queue: its wait starts now. */
	if (prev_state == 0 && prev->pid)
		stamp_enqueue_btf(prev, now);
	if (next->pid)
		next_slot = switch_in(bpf_task_storage_get(&task_state, next, 0, 0), cgroup_of(next), now, &wait_ns);
	account_switch(state, now, !preempt && prev_state != 0, next_slot, wait_ns);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user_btf)
{
	struct task_struct *task = bpf_get_current_task_btf();

	count_page_fault(bpf_task_storage_get(&task_state, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE), cgroup_of(task));
	return 0;
}

/* raw_tp fallback: untyped arguments read with CO-RE, per-task state in the pid-keyed hash. */

static __always_inline int record_enqueue_raw(struct task_struct *task)
{
	__u32 pid = BPF_CORE_READ(task, pid);
	struct dpm_task_state *state = bpf_map_lookup_elem(&pid_state, &pid);
	__u64 now = bpf_ktime_get_ns();

	if (state) {
		state->enqueued_ns = now;
	} else {
		struct dpm_task_state fresh = { .enqueued_ns = now, .slot = DPM_NO_SLOT };
		bpf_map_update_elem(&pid_state, &pid, &fresh, BPF_ANY);
	}
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(sched_wakeup_raw, struct task_struct *task)
{
	return record_enqueue_raw(task);
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new_raw, struct task_struct *task)
{
	return record_enqueue_raw(task);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(sched_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	struct dpm_cpu_state *state = this_cpu_state();
	__u64 now = bpf_ktime_get_ns();
	__u32 prev_pid = BPF_CORE_READ(prev, pid);
	__u32 next_pid = BPF_CORE_READ(next, pid);
	__u32 next_slot = DPM_NO_SLOT;
	__u64 wait_ns = 0;

	if (!state)
		return 0;
	/* A preempted task goes back to the run queue: its wait starts now. */
	if (prev_state == 0 && prev_pid)
		record_enqueue_raw(prev);
	if (next_pid)
		next_slot = switch_in(bpf_map_lookup_elem(&pid_state, &next_pid), cgroup_of(next), now, &wait_ns);
	account_switch(state, now, !preempt && prev_state != 0, next_slot, wait_ns);
	return 0;
}

SEC("raw_tp/page_fault_user")
int BPF_PROG(page_fault_user_raw)
{
	__u32 pid = bpf_get_current_pid_tgid();

	count_page_fault(bpf_map_lookup_elem(&pid_state, &pid), cgroup_of((struct task_struct *)bpf_get_current_task()));
	return 0;
}

/* Network: attached to each watched cgroup v2 directory, so it runs for sockets there and below; the socket's
 * cgroup, or its nearest watched ancestor, picks the slot. Always allows. */

static __always_inline __u32 slot_of_skb(struct __sk_buff *skb)
{
	__u64 id = bpf_skb_cgroup_id(skb);
	__u32 *slot = bpf_map_lookup_elem(&cgroup_slots, &id);
	__u32 nearest = DPM_OTHER_SLOT;

	if (slot)
		return *slot;
	/* From the root down: the last watched ancestor met is the nearest. Past the socket's own level the id is 0. */
#pragma clang loop unroll(disable)
	for (int level = 1; level < 16; level++) {
		id = bpf_skb_ancestor_cgroup_id(skb, level);
		if (!id)
			break;
		slot = bpf_map_lookup_elem(&cgroup_slots, &id);
		if (slot)
			nearest = *slot;
	}
	return nearest;
}

static __always_inline void count_skb(struct __sk_buff *skb, bool ingress)
{
	struct dpm_cpu_state *state = this_cpu_state();
	__u32 slot = slot_of_skb(skb);
	struct dpm_slot_counters *counters = bpf_map_lookup_elem(&slot_counters, &slot);

	if (!state || !counters)
		return;
	if (ingress) {
		__sync_fetch_and_add(&counters->rx_bytes, skb->len);
		__sync_fetch_and_add(&counters->rx_packets, 1);
	} else {
		__sync_fetch_and_add(&counters->tx_bytes, skb->len);
		__sync_fetch_and_add(&counters->tx_packets, 1);
	}
	mark_touched_atomic(state, slot);
}

SEC("cgroup_skb/ingress")
int cgroup_ingress(struct __sk_buff *skb)
{
	count_skb(skb, true);
	return 1;
}

SEC("cgroup_skb/egress")
int cgroup_egress(struct __sk_buff *skb)
{
	count_skb(skb, false);
	return 1;
}
