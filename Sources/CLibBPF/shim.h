#ifndef DPM_CLIBBPF_SHIM_H
#define DPM_CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#endif
