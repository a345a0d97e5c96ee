/*
 * Every layout shared by the kernel programs in bpf/ and the Swift side (invariant 3): included by the
 * BPF programs (after vmlinux.h) and imported by Swift through the CLibBPF module. Never re-declare these in Swift.
 */
#ifndef DPM_RECORDS_H
#define DPM_RECORDS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Tenant slots per host. Slot 0 collects every cgroup that user space has not mapped ("other"), so totals add up. */
#define DPM_MAX_SLOTS 256
#define DPM_OTHER_SLOT 0
/* Marks "no slot": the idle task, or a CPU whose current task started before the probes were attached. */
#define DPM_NO_SLOT 0xffffffffu
#define DPM_SLOT_WORDS (DPM_MAX_SLOTS / 64)
/* Log2 buckets of run-queue wait in ns: bucket i counts waits in [2^i, 2^(i+1)) ns; the last one is open-ended. */
#define DPM_RUNQ_HIST_BUCKETS 32
/* Each CPU publishes its touched slots at most this often (tunable `flush_interval_ns`). */
#define DPM_DEFAULT_FLUSH_INTERVAL_NS 1000000ull

/*
 * Counters of one tenant slot on one CPU that no record carried yet. A flush moves them into its record and leaves
 * zero behind (when the ring has no room for the record, it takes nothing), so records carry deltas, every count
 * reaches user space exactly once, and the reader only adds. Run-queue waits are not counted apart: they are the sum
 * of the histogram's buckets.
 */
struct dpm_slot_counters {
	__u64 cpu_ns;               /* on-CPU time, accounted when the task switches out */
	__u64 runq_wait_ns;         /* sum of wake-up (or preemption) to switch-in */
	__u64 rx_bytes;             /* cgroup_skb ingress, skb->len (L3 and up) */
	__u64 tx_bytes;             /* cgroup_skb egress */
	__u32 voluntary_switches;   /* the task blocked */
	__u32 involuntary_switches; /* the task was preempted or yielded while runnable */
	__u32 page_faults;          /* user page faults (page_fault_user: major and minor are not split) */
	__u32 rx_packets;           /* skbs; a GSO/GRO skb counts once */
	__u32 tx_packets;
	__u32 runq_wait_hist_mask;  /* bit i set: runq_wait_hist[i] is non-zero, so a reader skips the zero buckets */
	__u32 runq_wait_hist[DPM_RUNQ_HIST_BUCKETS];
};

/*
 * One slot in a flush record: what the slot counted on the flushing CPU since that CPU's previous record of it.
 * Variable length and 4-byte words throughout, so a common entry (no faults, no network, one or two wait buckets) is
 * 24-28 bytes and a reader touches few bytes the other CPU wrote: this fixed part, then only the parts that are
 * needed, in this order:
 *   struct dpm_entry_wide                      if `parts` has DPM_ENTRY_WIDE
 *   struct dpm_entry_page_faults               if `parts` has DPM_ENTRY_PAGE_FAULTS
 *   struct dpm_entry_network                   if `parts` has DPM_ENTRY_NETWORK
 *   __u32 count[popcount(runq_wait_hist_mask)] the non-zero run-queue wait buckets, lowest bucket first
 * (`dpm_slot_entry_bytes`). Wide values are split: the fixed and network parts carry the low bits, and an entry whose
 * value does not fit them (a run of more than 4.29 s, more than 65535 switches, 4 GiB of traffic since the CPU's
 * last record) carries the high bits in the wide part, so no count is cut.
 */
struct dpm_slot_entry {
	__u16 slot;
	__u16 parts;                /* DPM_ENTRY_* bits: which optional parts follow */
	__u32 runq_wait_hist_mask;  /* bit i set: the count of bucket i follows */
	__u32 cpu_ns;               /* low 32 bits */
	__u32 runq_wait_ns;         /* low 32 bits */
	__u16 voluntary_switches;   /* low 16 bits */
	__u16 involuntary_switches; /* low 16 bits */
};

/* A slot is a __u16 in an entry. */
_Static_assert(DPM_MAX_SLOTS <= 0x10000, "DPM_MAX_SLOTS does not fit dpm_slot_entry.slot");

#define DPM_ENTRY_WIDE 1u
#define DPM_ENTRY_PAGE_FAULTS 2u
#define DPM_ENTRY_NETWORK 4u

/* The high bits of the entry's split values: value = low | high << (width of the low part). */
struct dpm_entry_wide {
	__u32 cpu_ns;               /* bits 32-63 */
	__u32 runq_wait_ns;         /* bits 32-63 */
	__u32 rx_bytes;             /* bits 32-63 */
	__u32 tx_bytes;             /* bits 32-63 */
	__u16 voluntary_switches;   /* bits 16-31 */
	__u16 involuntary_switches; /* bits 16-31 */
};

struct dpm_entry_page_faults {
	__u32 page_faults;
};

struct dpm_entry_network {
	__u32 rx_bytes;             /* low 32 bits */
	__u32 tx_bytes;             /* low 32 bits */
	__u32 rx_packets;
	__u32 tx_packets;
};

/* The largest entry: every part and every bucket. */
#define DPM_SLOT_ENTRY_MAX_BYTES (sizeof(struct dpm_slot_entry) + sizeof(struct dpm_entry_wide) + \
				  sizeof(struct dpm_entry_page_faults) + sizeof(struct dpm_entry_network) + \
				  DPM_RUNQ_HIST_BUCKETS * sizeof(__u32))

/* Bytes of an entry with these parts and wait buckets: the one definition of the stride, for the kernel that writes
 * entries and the reader that walks them. */
static inline __u32 dpm_slot_entry_bytes(__u32 parts, __u32 runq_wait_hist_mask)
{
	__u32 bytes = sizeof(struct dpm_slot_entry);

	if (parts & DPM_ENTRY_WIDE)
		bytes += sizeof(struct dpm_entry_wide);
	if (parts & DPM_ENTRY_PAGE_FAULTS)
		bytes += sizeof(struct dpm_entry_page_faults);
	if (parts & DPM_ENTRY_NETWORK)
		bytes += sizeof(struct dpm_entry_network);
	return bytes + __builtin_popcount(runq_wait_hist_mask) * sizeof(__u32);
}

/*
 * One ring-buffer record: every slot one CPU touched since its previous flush. `entries` entries follow the
 * header back to back (4-byte aligned). One record per CPU per flush keeps the reader's cost to one header and one
 * consumer-position update per CPU, not per slot. The record may end in unused bytes (the writer reserves room for
 * its largest entry).
 */
struct dpm_flush_record {
	__u32 cpu;
	__u32 entries;
	__u64 flushed_ns;           /* bpf_ktime_get_ns() at the flush (CLOCK_MONOTONIC) */
};

/*
 * Per-CPU bookkeeping of the scheduler programs (map `cpu_state`, one entry). Times are bpf_ktime_get_ns().
 */
struct dpm_cpu_state {
	__u64 last_flush_ns;
	__u64 run_start_ns;         /* when the current task switched in */
	__u64 dropped_records;      /* flush records the full ring buffer refused on this CPU */
	__u32 current_slot;         /* slot of the task on this CPU, or DPM_NO_SLOT */
	/* A flush's running sums, kept here rather than in registers: the verifier does not track map memory, so the
	 * paths through the flush loops stay alike and it checks them once, not once per combination of slots. */
	__u32 flush_entries;        /* entries in the record */
	__u32 flush_bytes;          /* the record's size, then where the next entry goes */
	__u32 reserved;
	__u64 touched[DPM_SLOT_WORDS]; /* bit per slot changed since the last flush */
};

/*
 * One CPU's flush times (map `cpu_flushes`, a BPF_F_MMAPABLE array indexed by CPU) that the consumer reads in place
 * to pick the CPUs whose counts wait for a flush no context switch will bring soon: a task running uninterrupted
 * (its run is charged only when it switches out) or an idle CPU holding counts. Aligned 8-byte fields: a reader
 * never sees one half-written.
 */
struct dpm_cpu_flush {
	__u64 last_flush_ns;        /* the CPU's last flush, from a context switch or asked for (as `last_flush_ns`) */
	__u64 parked_flush_ns;      /* == last_flush_ns: an asked-for flush found the CPU idle with nothing to publish,
				     * so nothing more is due until a context switch there flushes again */
};

/*
 * What each CPU runs now (map `cpu_running`, a BPF_F_MMAPABLE array indexed by CPU, read in place by the agent):
 * the slot of the task on the CPU and since when its run is charged to no published count (its switch-in, or the
 * last `flush_cpu` that charged it up to then), so a reader sees a run that no record carries yet, without a
 * syscall. One aligned 8-byte word written with one store at every context switch: a reader never sees a torn
 * {slot, time}. The low DPM_RUN_SLOT_BITS bits hold the slot (DPM_NO_SLOT's low bits: none), the rest
 * bpf_ktime_get_ns() rounded down to a multiple of 2^DPM_RUN_SLOT_BITS ns (4.1 us), so a run read from it is at most
 * that much too long. The padding gives each CPU's word a 64-byte cache line of its own: the store is on the
 * scheduler's hottest path and must not share a line another CPU writes.
 */
#define DPM_RUN_SLOT_BITS 12
#define DPM_RUN_SLOT_MASK 0xfffull /* a literal, so Swift imports it */
struct dpm_cpu_running {
	__u64 slot_and_since_ns;    /* (since_ns & ~DPM_RUN_SLOT_MASK) | (slot & DPM_RUN_SLOT_MASK) */
	__u64 padding[7];
};

_Static_assert(DPM_RUN_SLOT_MASK == (1ull << DPM_RUN_SLOT_BITS) - 1, "the mask is the slot bits");
_Static_assert(DPM_MAX_SLOTS <= DPM_RUN_SLOT_MASK, "a slot must not read as DPM_NO_SLOT's low bits");
_Static_assert(sizeof(struct dpm_cpu_running) == 64, "one cache line per CPU");

static inline __u64 dpm_running_word(__u32 slot, __u64 since_ns)
{
	return (since_ns & ~DPM_RUN_SLOT_MASK) | (slot & DPM_RUN_SLOT_MASK);
}

/* Per-task state (task storage for tp_btf, a pid-keyed hash for raw_tp): when the task was enqueued, and its cached
 * slot. */
struct dpm_task_state {
	__u64 enqueued_ns;          /* last wake-up or preemption; 0 once switched in */
	__u64 css_set;              /* the task's css_set (pointer as a number) when `slot` was cached */
	__u32 slot;
	__u32 slot_generation;      /* `slot_generation` when `slot` was cached */
};

#endif
