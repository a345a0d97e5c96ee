#ifndef DPM_CENFORCE_SHIM_H
#define DPM_CENFORCE_SHIM_H
/* The C that Enforce needs: libnuma, thread affinity, and the netlink/tc message layouts.
 * No _GNU_SOURCE here (it would give glibc's types a second definition next to Foundation's), so the affinity
 * call goes through syscall(2) with a mask built by hand instead of the CPU_SET macros. */
#include <unistd.h>
#include <errno.h>
#include <sys/syscall.h>
#include <numa.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/pkt_sched.h>
#include <linux/pkt_cls.h>
#include <linux/if_link.h>
#include <linux/tc_act/tc_mirred.h>

/** Sets the affinity of one thread (by kernel thread id) to the CPUs whose numbers are in `cpus`. */
static inline int dpm_set_thread_affinity(pid_t tid, const int *cpus, int count) {
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    const int bits = 8 * (int)sizeof(unsigned long);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= 1024) { errno = EINVAL; return -1; }
        mask[cpus[i] / bits] |= 1UL << (cpus[i] % bits);
    }
    return (int)syscall(SYS_sched_setaffinity, tid, sizeof(mask), mask);
}

/** Reads the affinity of one thread (by kernel thread id) into `cpus`, at most `capacity` CPU numbers; returns how
 * many, or -1 with errno set. */
static inline int dpm_get_thread_affinity(pid_t tid, int *cpus, int capacity) {
    unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
    const int bits = 8 * (int)sizeof(unsigned long);
    if (syscall(SYS_sched_getaffinity, tid, sizeof(mask), mask) < 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < 1024 && count < capacity; cpu++) {
        if (mask[cpu / bits] & (1UL << (cpu % bits))) cpus[count++] = cpu;
    }
    return count;
}

/** Moves the calling thread into the network namespace open at `fd` (setns with CLONE_NEWNET). */
static inline int dpm_enter_network_namespace(int fd) {
    return (int)syscall(SYS_setns, fd, 0x40000000 /* CLONE_NEWNET */);
}

/** Moves the pages of process `pid` from the NUMA nodes in `from_nodes` to those in `to_nodes` (libnuma). */
static inline int dpm_migrate_pages(int pid, const int *from_nodes, int from_count, const int *to_nodes, int to_count) {
    struct bitmask *from = numa_allocate_nodemask();
    struct bitmask *to = numa_allocate_nodemask();
    if (!from || !to) { if (from) numa_free_nodemask(from); if (to) numa_free_nodemask(to); return -1; }
    for (int i = 0; i < from_count; i++) numa_bitmask_setbit(from, (unsigned)from_nodes[i]);
    for (int i = 0; i < to_count; i++) numa_bitmask_setbit(to, (unsigned)to_nodes[i]);
    int moved = numa_migrate_pages(pid, from, to);
    numa_free_nodemask(from);
    numa_free_nodemask(to);
    return moved;
}
#endif
