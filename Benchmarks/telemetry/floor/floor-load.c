/* Loads an object, attaches every program, holds them for SECONDS. Usage: floor-load OBJECT SECONDS */
#include <bpf/libbpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct bpf_object *object;
	struct bpf_program *program;

	if (argc != 3) {
		fprintf(stderr, "usage: floor-load OBJECT SECONDS\n");
		return 2;
	}
	object = bpf_object__open_file(argv[1], NULL);
	if (!object || bpf_object__load(object)) {
		perror(argv[1]);
		return 1;
	}
	bpf_object__for_each_program(program, object) {
		if (!bpf_program__attach(program)) {
			perror(bpf_program__name(program));
			return 1;
		}
	}
	sleep(atoi(argv[2]));
	return 0;
}
