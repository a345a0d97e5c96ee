// SPDX-License-Identifier: GPL-2.0
/*
 * Can the typed probes take run-queue waits from the kernel's own sched_info (CONFIG_SCHED_INFO) instead of
 * stamping wake-ups? Three measures of each switch-in's wait, side by side on the same switches of every task:
 *   stamp:  bpf_ktime_get_ns() at sched_wakeup / sched_wakeup_new / preemption to switch-in (what telemetry does);
 *   kernel: the run queue's clock at sched_switch less `sched_info.last_queued`, plus any `run_delay` the task
 *           accrued since its last switch-in (a wait cut by a migration); counted whenever last_queued is set;
 *   fresh:  as kernel, but "now" is bpf_ktime_get_ns() less a per-CPU estimate of (ktime - rq clock) (the minimum
 *           seen over the current and the previous 2^20 ns window), and preemptions stamped here in that clock.
 * Totals in the globals below; read by sched-info.sh.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct task_waits {
	__u64 stamp_ns;        /* ktime of the wake-up or preemption, 0 once switched in */
	__u64 fresh_stamp;     /* preemption in the fresh clock, 0 once switched in */
	__u64 run_delay_after; /* sched_info.run_delay after the last switch-in, plus one (0: unknown) */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_waits);
} task_waits SEC(".maps");

struct clock_offset {
	__u64 window;
	__u64 current_min;
	__u64 previous_min;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct clock_offset);
} clock_offset SEC(".maps");

__u64 stamp_waits, stamp_wait_ns;
__u64 kernel_waits, kernel_wait_ns, kernel_zero_waits, kernel_other_bucket;
__u64 fresh_waits, fresh_wait_ns, fresh_other_bucket, fresh_off_by_over_1us;
__u64 compared;

static __always_inline __u32 log2_u64(__u64 v)
{
	__u32 r = 0;
#pragma clang loop unroll(full)
	for (int bit = 32; bit; bit >>= 1) {
		if (v >> bit) {
			v >>= bit;
			r += bit;
		}
	}
	return r;
}

static __always_inline void stamp(struct task_struct *task)
{
	struct task_waits *waits = bpf_task_storage_get(&task_waits, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (waits)
		waits->stamp_ns = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(wakeup, struct task_struct *task)
{
	stamp(task);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(wakeup_new, struct task_struct *task)
{
	stamp(task);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_in, bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;
	struct clock_offset *offset = bpf_map_lookup_elem(&clock_offset, &zero);
	/* This CPU's run queue: next is on it (the idle task too). */
	__u64 clock = next->se.cfs_rq->rq->clock;

	if (!offset)
		return 0;
	if (now >> 20 != offset->window) {
		offset->previous_min = offset->current_min;
		offset->current_min = now - clock;
		offset->window = now >> 20;
	} else if (now - clock < offset->current_min) {
		offset->current_min = now - clock;
	}
	__u64 fresh_now = now - (offset->current_min < offset->previous_min ? offset->current_min : offset->previous_min);

	if (prev_state == 0 && prev->pid) {
		struct task_waits *waits = bpf_task_storage_get(&task_waits, prev, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (waits) {
			waits->stamp_ns = now;
			waits->fresh_stamp = fresh_now;
		}
	}
	if (!next->pid)
		return 0;
	struct task_waits *waits = bpf_task_storage_get(&task_waits, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!waits)
		return 0;
	__u64 queued = next->sched_info.last_queued, run_delay = next->sched_info.run_delay;
	__u64 pending = queued && clock > queued ? clock - queued : 0;
	__u64 moved = waits->run_delay_after && run_delay >= waits->run_delay_after ? run_delay + 1 - waits->run_delay_after : 0;
	__u64 stamp_wait = waits->stamp_ns ? now - waits->stamp_ns : 0;
	__u64 kernel_wait = moved + pending, fresh_wait = 0;
	bool fresh_counted = false;

	if (waits->fresh_stamp) {
		fresh_wait = fresh_now > waits->fresh_stamp ? fresh_now - waits->fresh_stamp : 0;
		fresh_counted = true;
	} else if (queued) {
		__u64 fresh_pending = fresh_now > queued ? fresh_now - queued : 0;
		fresh_wait = moved + (fresh_pending > pending ? fresh_pending : pending);
		fresh_counted = true;
	}
	/* The kernel's sched_info_arrive, after this tracepoint, adds clock - last_queued to run_delay. */
	waits->run_delay_after = run_delay + pending + 1;
	waits->stamp_ns = 0;
	waits->fresh_stamp = 0;

	if (stamp_wait) {
		__sync_fetch_and_add(&stamp_waits, 1);
		__sync_fetch_and_add(&stamp_wait_ns, stamp_wait);
	}
	if (queued) {
		__sync_fetch_and_add(&kernel_waits, 1);
		__sync_fetch_and_add(&kernel_wait_ns, kernel_wait);
		if (!pending)
			__sync_fetch_and_add(&kernel_zero_waits, 1);
	}
	if (fresh_counted) {
		__sync_fetch_and_add(&fresh_waits, 1);
		__sync_fetch_and_add(&fresh_wait_ns, fresh_wait);
	}
	if (stamp_wait && queued && fresh_counted) {
		__sync_fetch_and_add(&compared, 1);
		if (log2_u64(kernel_wait) != log2_u64(stamp_wait))
			__sync_fetch_and_add(&kernel_other_bucket, 1);
		if (log2_u64(fresh_wait) != log2_u64(stamp_wait))
			__sync_fetch_and_add(&fresh_other_bucket, 1);
		if (fresh_wait > stamp_wait + 1000 || stamp_wait > fresh_wait + 1000)
			__sync_fetch_and_add(&fresh_off_by_over_1us, 1);
	}
	return 0;
}
