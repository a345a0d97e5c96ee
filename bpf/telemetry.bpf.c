// SPDX-License-Identifier: GPL-2.0
/*
 * Per-tenant telemetry: run-queue wait, on-CPU time, context switches, user page faults, and network bytes and
 * packets, keyed by cgroup v2 id and aggregated in the kernel per CPU and tenant slot. Each CPU publishes the slots
 * it touched at most once per `flush_interval_ns` through the ring buffer `records`, without waking the consumer,
 * which drains on its own clock and runs `flush_cpu` on a CPU whose flush is overdue (no switch there flushed it).
 * The scheduler and page-fault probes come in a tp_btf flavour and a raw_tp fallback; the loader enables one of the
 * two sets before load.
 *
 * Run-queue wait is the time from a task's wake-up (or preemption) to its switch-in, both stamped here with
 * bpf_ktime_get_ns(). The tp_btf flavour keeps the stamp in task-local storage, the raw_tp fallback in a pid-keyed
 * hash. Not from the kernel's own `sched_info.last_queued`: at sched_switch the run queue's clock is stale whenever
 * the waking CPU asked __schedule to skip its update, so `rq->clock - last_queued` came out zero or negative for
 * close to half of all waits (checked on this kernel) and the waits that remained overstated the tail. Counting
 * those as zero waits keeps the count but not the histogram (34-47% of waits with a zero wait, 40-55% in another log2
 * bucket than the stamp's), and a fresh "now" (bpf_ktime_get_ns less a per-CPU estimate of its offset to the run
 * queue's clock) still put 6-16% in another bucket: Benchmarks/telemetry/sched-info, 2026-11-30.
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

/* Each CPU's flush times, read by the consumer in place (mmap) to pick the CPUs to ask for a flush (`flush_cpu`).
 * Sized to the possible CPUs by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpm_cpu_flush);
} cpu_flushes SEC(".maps");

/* What each CPU runs now and since when (`struct dpm_cpu_running`), read in place by the agent's saturation rule.
 * Sized to the possible CPUs by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpm_cpu_running);
} cpu_running SEC(".maps");

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

/* Which optional parts a slot's entry carries. */
static __always_inline __u32 entry_parts(const struct dpm_slot_counters *counters)
{
	__u32 parts = 0;

	/* A value wider than its low part in the entry: the high bits go in the wide part. */
	if ((counters->cpu_ns | counters->runq_wait_ns | counters->rx_bytes | counters->tx_bytes) >> 32 ||
	    (counters->voluntary_switches | counters->involuntary_switches) >> 16)
		parts |= DPM_ENTRY_WIDE;
	if (counters->page_faults)
		parts |= DPM_ENTRY_PAGE_FAULTS;
	/* Bytes and packets are two adds: a preempted cgroup_skb program may have done only the first. */
	if (counters->rx_bytes | counters->tx_bytes | counters->rx_packets | counters->tx_packets)
		parts |= DPM_ENTRY_NETWORK;
	return parts;
}

/* Room for the largest entry, as one object: what `take_counters` may write. */
struct dpm_entry_room {
	__u8 bytes[DPM_SLOT_ENTRY_MAX_BYTES];
};

/*
 * Moves a slot's counters into its entry (`room`, in the ring) and leaves zero behind; returns the entry's bytes.
 * Only sched_switch and flush_cpu flush, both with interrupts off, on the CPU whose counters these are: the programs
 * that add to them on this CPU (page faults, network) each add with one atomic instruction and cannot run meanwhile,
 * so plain loads and stores see and clear a consistent set, the same one `publish_touched` sized the record by.
 * A global function: the verifier checks it once, not once per slot of the caller's loop.
 */
__noinline int take_counters(__u32 slot, struct dpm_slot_counters *from, struct dpm_entry_room *room)
{
	struct dpm_slot_entry *entry = (struct dpm_slot_entry *)room;
	__u32 parts, mask, bucket, written = 0;
	__u8 *tail;

	if (!from || !room)
		return 0;
	parts = entry_parts(from);
	mask = from->runq_wait_hist_mask;
	entry->slot = slot;
	entry->parts = parts;
	entry->runq_wait_hist_mask = mask;
	entry->cpu_ns = from->cpu_ns;
	entry->runq_wait_ns = from->runq_wait_ns;
	entry->voluntary_switches = from->voluntary_switches;
	entry->involuntary_switches = from->involuntary_switches;
	tail = (__u8 *)(entry + 1);
	if (parts & DPM_ENTRY_WIDE) {
		struct dpm_entry_wide *wide = (struct dpm_entry_wide *)tail;
		wide->cpu_ns = from->cpu_ns >> 32;
		wide->runq_wait_ns = from->runq_wait_ns >> 32;
		wide->rx_bytes = from->rx_bytes >> 32;
		wide->tx_bytes = from->tx_bytes >> 32;
		wide->voluntary_switches = from->voluntary_switches >> 16;
		wide->involuntary_switches = from->involuntary_switches >> 16;
		tail += sizeof(*wide);
	}
	from->cpu_ns = 0;
	from->runq_wait_ns = 0;
	from->voluntary_switches = 0;
	from->involuntary_switches = 0;
	from->runq_wait_hist_mask = 0;
	if (parts & DPM_ENTRY_PAGE_FAULTS) {
		struct dpm_entry_page_faults *faults = (struct dpm_entry_page_faults *)tail;
		faults->page_faults = from->page_faults;
		from->page_faults = 0;
		tail += sizeof(*faults);
	}
	if (parts & DPM_ENTRY_NETWORK) {
		struct dpm_entry_network *network = (struct dpm_entry_network *)tail;
		network->rx_bytes = from->rx_bytes;
		network->tx_bytes = from->tx_bytes;
		network->rx_packets = from->rx_packets;
		network->tx_packets = from->tx_packets;
		from->rx_bytes = 0;
		from->tx_bytes = 0;
		from->rx_packets = 0;
		from->tx_packets = 0;
		tail += sizeof(*network);
	}
	/* Only the non-zero buckets, lowest first; each is cleared as it is taken. */
	__u32 *counts = (__u32 *)tail;
	__u32 bits = mask;
#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < DPM_RUNQ_HIST_BUCKETS && bits; i++) {
		bucket = log2_u64(bits & -bits) & (DPM_RUNQ_HIST_BUCKETS - 1);
		bits &= bits - 1;
		counts[written & (DPM_RUNQ_HIST_BUCKETS - 1)] = from->runq_wait_hist[bucket];
		from->runq_wait_hist[bucket] = 0;
		written++;
	}
	return dpm_slot_entry_bytes(parts, mask);
}

/*
 * Publishes what every slot this CPU touched counted since its last flush, as one record reserved in the ring at
 * its exact size. If the ring has no room, counts the drop and takes nothing: the counts and touched marks stay and
 * go out with a later flush. A global function, so the verifier checks it once rather than on every path of its
 * callers.
 */
__noinline int publish_touched(struct dpm_cpu_state *state, __u64 now)
{
	struct dpm_flush_record *header;
	struct bpf_dynptr record;

	if (!state)
		return 0;
	state->last_flush_ns = now;
	__u32 cpu = bpf_get_smp_processor_id();
	struct dpm_cpu_flush *times = bpf_map_lookup_elem(&cpu_flushes, &cpu);
	if (times)
		times->last_flush_ns = now;
	/* First pass: the record's size. */
	state->flush_entries = 0;
	state->flush_bytes = sizeof(struct dpm_flush_record);
#pragma clang loop unroll(disable)
	for (__u32 word = 0; word < DPM_SLOT_WORDS; word++) {
		__u64 bits = state->touched[word];
#pragma clang loop unroll(disable)
		for (__u32 i = 0; i < 64 && bits; i++) {
			__u32 slot = word * 64 + log2_u64(bits & -bits);
			bits &= bits - 1;
			struct dpm_slot_counters *counters = bpf_map_lookup_elem(&slot_counters, &slot);
			if (!counters)
				continue;
			state->flush_bytes += dpm_slot_entry_bytes(entry_parts(counters), counters->runq_wait_hist_mask);
			state->flush_entries++;
		}
	}
	if (!state->flush_entries)
		return 0;
	/* Room for the largest entry after the last one, so every entry's slice below has a constant size. */
	if (bpf_ringbuf_reserve_dynptr(&records, state->flush_bytes + DPM_SLOT_ENTRY_MAX_BYTES, 0, &record)) {
		bpf_ringbuf_discard_dynptr(&record, BPF_RB_NO_WAKEUP);
		state->dropped_records++;
		return 0;
	}
	header = bpf_dynptr_data(&record, 0, sizeof(*header));
	if (!header) {
		bpf_ringbuf_discard_dynptr(&record, BPF_RB_NO_WAKEUP);
		return 0;
	}
	header->cpu = bpf_get_smp_processor_id();
	header->flushed_ns = bpf_ktime_get_ns();
	/* Second pass: the entries, over the same slots and counts (nothing else on this CPU runs meanwhile). A slot
	 * whose entry finds no room (the first pass makes that impossible) stays touched for the next flush. */
	state->flush_entries = 0;
	state->flush_bytes = sizeof(*header);
#pragma clang loop unroll(disable)
	for (__u32 word = 0; word < DPM_SLOT_WORDS; word++) {
		__u64 bits = state->touched[word];
		state->touched[word] = 0;
#pragma clang loop unroll(disable)
		for (__u32 i = 0; i < 64 && bits; i++) {
			__u64 bit = bits & -bits;
			__u32 slot = word * 64 + log2_u64(bit);
			bits &= bits - 1;
			struct dpm_slot_counters *counters = bpf_map_lookup_elem(&slot_counters, &slot);
			struct dpm_entry_room *room = bpf_dynptr_data(&record, state->flush_bytes, sizeof(*room));
			if (!counters)
				continue;
			if (!room) {
				state->touched[word] |= bit;
				continue;
			}
			state->flush_bytes += take_counters(slot, counters, room);
			state->flush_entries++;
		}
	}
	header->entries = state->flush_entries;
	bpf_ringbuf_submit_dynptr(&record, BPF_RB_NO_WAKEUP);
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

/* Starts charging this CPU's run to `slot` from `now`, and publishes the same slot and start in `cpu_running` (one
 * store into this CPU's own line): the one place both are set, so the word never shows a run already charged. */
static __always_inline void start_run(struct dpm_cpu_state *state, __u32 slot, __u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct dpm_cpu_running *running = bpf_map_lookup_elem(&cpu_running, &cpu);

	state->run_start_ns = now;
	if (running)
		running->slot_and_since_ns = dpm_running_word(slot, now);
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
	start_run(state, next_slot, now);
	if (wait_ns && next_slot < DPM_MAX_SLOTS && (counters = bpf_map_lookup_elem(&slot_counters, &next_slot))) {
		__u32 bucket = log2_u64(wait_ns);
		if (bucket >= DPM_RUNQ_HIST_BUCKETS)
			bucket = DPM_RUNQ_HIST_BUCKETS - 1;
		counters->runq_wait_ns += wait_ns;
		counters->runq_wait_hist[bucket]++;
		counters->runq_wait_hist_mask |= 1u << bucket;
		state->touched[(next_slot / 64) & (DPM_SLOT_WORDS - 1)] |= 1ull << (next_slot & 63);
	}
	if (now - state->last_flush_ns >= flush_interval_ns)
		publish_touched(state, now);
}

/*
 * Flushes this CPU now, for a consumer that sees its counts overdue: charges the current task's run up to now (it
 * goes on from here) and publishes every touched slot. Never attached: user space runs it on one CPU with
 * BPF_PROG_TEST_RUN and BPF_F_TEST_RUN_ON_CPU, which makes it an IPI handler there, interrupts off, so it cannot
 * interleave with sched_switch, and take_counters' reasoning holds. (On the caller's own CPU the kernel runs it
 * without an IPI and with interrupts on; the consumer never asks its own CPU: its own sleeps switch there.)
 *
 * Why this and not crediting the ongoing run in user space from a mmapped {slot, run start}: that needs a
 * sequence counter written on every sched_switch (cost on the probe that matters most) and a per-slot "credited
 * ahead" balance subtracted from later records, and still leaves an idle CPU's unpublished counts stuck. Here
 * sched_switch pays nothing per run (one store per flush, in publish_touched), an idle CPU's counts arrive too, and
 * the consumer pays one syscall and one IPI per overdue CPU (~12 us here, Benchmarks/telemetry results), only while
 * a task runs without switching (every third millisecond at a 1 ms interval and drain) or once each time a CPU goes
 * idle with counts: finding it idle with nothing to publish, this program parks the CPU
 * (`parked_flush_ns`) and the consumer leaves it alone until a context switch there flushes again. It keeps
 * `last_flush_ns` when it parks, so that switch flushes at once.
 *
 * `cpu_running` does publish {slot, since} now, as one word per CPU (no sequence counter), but only as a trigger: the
 * agent's saturation rule adds an ongoing run to what it compares with a quota and never to usage, so nothing is
 * credited ahead and nothing needs subtracting. This program moves the word's `since` with the run it charges.
 */
SEC("raw_tp")
int BPF_PROG(flush_cpu)
{
	struct dpm_cpu_state *state = this_cpu_state();
	struct dpm_slot_counters *counters;
	__u64 now = bpf_ktime_get_ns();
	__u64 touched = 0;

	if (!state)
		return 0;
	__u32 slot = state->current_slot;
	if (slot < DPM_MAX_SLOTS && state->run_start_ns && (counters = bpf_map_lookup_elem(&slot_counters, &slot))) {
		counters->cpu_ns += now - state->run_start_ns;
		start_run(state, slot, now);
		state->touched[(slot / 64) & (DPM_SLOT_WORDS - 1)] |= 1ull << (slot & 63);
	}
	for (__u32 word = 0; word < DPM_SLOT_WORDS; word++)
		touched |= state->touched[word];
	if (touched)
		return publish_touched(state, now);
	__u32 cpu = bpf_get_smp_processor_id();
	struct dpm_cpu_flush *times = bpf_map_lookup_elem(&cpu_flushes, &cpu);
	if (times)
		times->parked_flush_ns = state->last_flush_ns;
	return 0;
}

/*
 * A task's slot through its cached state (may be missing: no cache). The cache holds while the task's css_set
 * (`css_set`, the pointer as a number) and the slot map are the ones it was filled with; a task that moves to
 * another cgroup gets another css_set. Comparing the pointer costs one load from the task on every switch, where
 * the cgroup id costs four dependent loads (css_set, cgroup, kernfs node, id; 6-14 ns a run here, measured by
 * Benchmarks/telemetry/floor) and in the raw_tp fallback four probe-read helper calls instead of one. The climb (`slot_of_cgroup_tree`, from the css_set's cgroup v2 `dfl_cgrp`) runs only when the cache does not hold.
 * A css_set freed and another allocated at its address could fool the cache only for a task moved twice without
 * running in between (a css_set is not freed while a task uses it, and a moved task refills at its next switch).
 */
static __always_inline bool slot_cache_holds(const struct dpm_task_state *task, __u64 css_set, __u32 generation)
{
	return task && task->css_set == css_set && task->slot_generation == generation;
}

/* Climbs from the cgroup v2 of the task's css_set and caches the answer (task state may be missing: no cache). */
static __always_inline __u32 fill_slot_cache(struct dpm_task_state *task, __u64 css_set, __u32 generation,
					     struct cgroup *dfl_cgrp)
{
	__u32 slot = slot_of_cgroup_tree(dfl_cgrp);

	if (task) {
		task->css_set = css_set;
		task->slot = slot;
		task->slot_generation = generation;
	}
	return slot;
}

/* The incoming task's run-queue wait if it was enqueued, and clears the stamp (task state may be missing: none). */
static __always_inline __u64 take_wait(struct dpm_task_state *task, __u64 now)
{
	__u64 wait_ns = 0;

	if (task && task->enqueued_ns) {
		wait_ns = now - task->enqueued_ns;
		task->enqueued_ns = 0;
	}
	return wait_ns;
}

static __always_inline void count_page_fault(__u32 slot)
{
	struct dpm_cpu_state *state = this_cpu_state();
	struct dpm_slot_counters *counters = bpf_map_lookup_elem(&slot_counters, &slot);

	if (!state || !counters)
		return;
	__sync_fetch_and_add(&counters->page_faults, 1);
	mark_touched_atomic(state, slot);
}

/* tp_btf flavour: task pointers are typed, per-task state lives in task storage. */

/* A task's slot, by direct loads: the verifier lets a tp_btf program walk typed kernel pointers (a faulting load
 * reads zero), so the hops cost no helper call each. */
static __always_inline __u32 slot_of_task_btf(struct dpm_task_state *state, struct task_struct *task)
{
	struct css_set *set = task->cgroups;
	__u32 generation = slot_generation;

	if (slot_cache_holds(state, (__u64)set, generation))
		return state->slot;
	return fill_slot_cache(state, (__u64)set, generation, set->dfl_cgrp);
}

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
	if (next->pid) {
		struct dpm_task_state *next_state = bpf_task_storage_get(&task_state, next, 0, 0);
		wait_ns = take_wait(next_state, now);
		next_slot = slot_of_task_btf(next_state, next);
	}
	account_switch(state, now, !preempt && prev_state != 0, next_slot, wait_ns);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user_btf)
{
	struct task_struct *task = bpf_get_current_task_btf();

	count_page_fault(slot_of_task_btf(bpf_task_storage_get(&task_state, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE),
					  task));
	return 0;
}

/* raw_tp fallback: untyped arguments read with CO-RE, per-task state in the pid-keyed hash. */

static __always_inline __u32 slot_of_task_raw(struct dpm_task_state *state, struct task_struct *task)
{
	struct css_set *set = BPF_CORE_READ(task, cgroups);
	__u32 generation = slot_generation;

	if (slot_cache_holds(state, (__u64)set, generation))
		return state->slot;
	return fill_slot_cache(state, (__u64)set, generation, BPF_CORE_READ(set, dfl_cgrp));
}

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
	if (next_pid) {
		struct dpm_task_state *next_state = bpf_map_lookup_elem(&pid_state, &next_pid);
		wait_ns = take_wait(next_state, now);
		next_slot = slot_of_task_raw(next_state, next);
	}
	account_switch(state, now, !preempt && prev_state != 0, next_slot, wait_ns);
	return 0;
}

SEC("raw_tp/page_fault_user")
int BPF_PROG(page_fault_user_raw)
{
	__u32 pid = bpf_get_current_pid_tgid();

	count_page_fault(slot_of_task_raw(bpf_map_lookup_elem(&pid_state, &pid),
					  (struct task_struct *)bpf_get_current_task()));
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
