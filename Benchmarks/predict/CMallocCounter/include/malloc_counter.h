#ifndef DPM_MALLOC_COUNTER_H
#define DPM_MALLOC_COUNTER_H
#include <stdint.h>

/// Calls to malloc, calloc, realloc, posix_memalign and aligned_alloc in this process since it started.
/// The benchmark links this file, whose definitions of those functions take precedence over glibc's and forward
/// to glibc's own (__libc_malloc and friends) after counting.
uint64_t dpm_allocation_count(void);

#endif
