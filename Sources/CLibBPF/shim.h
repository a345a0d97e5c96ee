#ifndef DPM_CLIBBPF_SHIM_H
#define DPM_CLIBBPF_SHIM_H
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
/* The kernel record layouts, defined once for the BPF programs and Swift (invariant 3). */
#include "../../bpf/dpm_records.h"

/*
 * Thin wrappers for what Swift cannot import: LIBBPF_OPTS is a macro, and BTF walks use inline helpers.
 * Each returns a negative errno on failure, like libbpf 1.x.
 */

/* Opens an object from memory; NULL with errno set on failure. */
static inline struct bpf_object *dpm_object_open_mem(const void *bytes, size_t size, const char *name)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = name);
	return bpf_object__open_mem(bytes, size, &opts);
}

/* Finds variable `name` in data section `section` (".rodata", ".bss"): its offset and size in the section. */
static inline int dpm_datasec_variable(const struct bpf_object *object, const char *section, const char *name,
				       __u32 *offset, __u32 *size)
{
	const struct btf *btf = bpf_object__btf(object);
	if (!btf)
		return -ENOENT;
	__s32 id = btf__find_by_name_kind(btf, section, BTF_KIND_DATASEC);
	if (id < 0)
		return -ENOENT;
	const struct btf_type *datasec = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *info = btf_var_secinfos(datasec);
	for (__u16 i = 0; i < btf_vlen(datasec); i++, info++) {
		const struct btf_type *var = btf__type_by_id(btf, info->type);
		if (strcmp(btf__name_by_offset(btf, var->name_off), name) == 0) {
			*offset = info->offset;
			*size = info->size;
			return 0;
		}
	}
	return -ENOENT;
}

/* Attaches a cgroup program to the cgroup directory open as `cgroup_fd` (a BPF link: multi-attach, auto-detach). */
static inline struct bpf_link *dpm_attach_cgroup(const struct bpf_program *program, int cgroup_fd)
{
	return bpf_program__attach_cgroup(program, cgroup_fd);
}

/*
 * Probes whether the kernel loads a tp_btf program for raw tracepoint `name` (as libbpf-tools' probe_tp_btf):
 * 1 yes, 0 no. Needs vmlinux BTF; loads a two-instruction program and closes it.
 */
static inline int dpm_probe_tp_btf(const char *name)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return 0;
	char typedef_name[128];
	snprintf(typedef_name, sizeof(typedef_name), "btf_trace_%s", name);
	int id = btf__find_by_name_kind(vmlinux, typedef_name, BTF_KIND_TYPEDEF);
	btf__free(vmlinux);
	if (id <= 0)
		return 0;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_RAW_TP, .attach_btf_id = (__u32)id);
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", insns, 2, &opts);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

/* Runs a loaded raw_tp program once on CPU `cpu` (BPF_PROG_TEST_RUN with BPF_F_TEST_RUN_ON_CPU: an IPI there unless
 * `cpu` is the caller's), with no context. 0, or a negative errno (-ENXIO: that CPU is offline). */
static inline int dpm_run_program_on_cpu(int program_fd, __u32 cpu)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = cpu);
	int result = bpf_prog_test_run_opts(program_fd, &opts);
	return result < 0 ? -errno : 0;
}

/* The CPU the calling thread runs on (glibc declares sched_getcpu only under _GNU_SOURCE). */
int sched_getcpu(void);
static inline int dpm_current_cpu(void)
{
	return sched_getcpu();
}

/* The largest slot entry, as a constant Swift imports (the header's macro is a sizeof expression). */
enum {
	DPM_SLOT_ENTRY_LARGEST_BYTES = DPM_SLOT_ENTRY_MAX_BYTES,
};

/* The ring buffer's position and header words, shared with the kernel: acquire loads and release stores, as
 * libbpf's ringbuf.c does. */
static inline __u64 dpm_load_acquire_u64(const __u64 *address)
{
	return __atomic_load_n(address, __ATOMIC_ACQUIRE);
}

static inline __u32 dpm_load_acquire_u32(const __u32 *address)
{
	return __atomic_load_n(address, __ATOMIC_ACQUIRE);
}

static inline void dpm_store_release_u64(__u64 *address, __u64 value)
{
	__atomic_store_n(address, value, __ATOMIC_RELEASE);
}

/* Starts loading every 64-byte line of [start, start + bytes) into the caches for reading, without waiting: lines
 * that another CPU wrote then travel together instead of one after another as a walk reaches them. */
static inline void dpm_prefetch_lines(const void *start, size_t bytes)
{
	const char *line = (const char *)((unsigned long)start & ~63ul);
	for (const char *end = (const char *)start + bytes; line < end; line += 64)
		__builtin_prefetch(line, 0, 3);
}

#endif
