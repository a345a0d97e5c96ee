// The agent's system calls that Swift cannot import directly: GNU-only flags, macros and variadic calls.
#ifndef DPM_CLOOP_SYSTEM_H
#define DPM_CLOOP_SYSTEM_H

#include <stdint.h>
#include <sys/types.h>

/// Sets the calling thread's timer slack (prctl PR_SET_TIMERSLACK); returns 0 or -errno.
int dpm_set_timer_slack_ns(unsigned long nanoseconds);

/// Pins the calling thread to one CPU; returns 0 or -errno.
int dpm_pin_current_thread(int cpu);

/// Makes the calling thread SCHED_FIFO at `priority` with SCHED_RESET_ON_FORK, so children start as SCHED_OTHER
/// (a real-time child cannot join a v1 `cpu` child cgroup). Returns 0 or -errno.
int dpm_set_fifo_reset_on_fork(int priority);

/// The peer's credentials of a connected unix socket (SO_PEERCRED); returns 0 or -errno.
int dpm_peer_credentials(int fd, uid_t *uid, pid_t *pid);

/// Names the calling thread (as `ps -L` and `top -H` show it); returns 0 or -errno.
int dpm_name_current_thread(const char *name);

/// The calling thread's kernel id.
pid_t dpm_thread_id(void);

/// Sleeps until an absolute CLOCK_MONOTONIC time in nanoseconds; returns 0 or the error number (EINTR).
int dpm_sleep_until_ns(uint64_t deadline_ns);

/// CLOCK_MONOTONIC now, in nanoseconds.
uint64_t dpm_monotonic_ns(void);

#endif
