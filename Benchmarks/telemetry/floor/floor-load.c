/* Loads an object, attaches its programs (all, or only those named), holds them for SECONDS.
 * Usage: floor-load OBJECT SECONDS [PROGRAM...] */
#include <bpf/libbpf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool wanted(const char *name, int count, char **names)
{
	if (count == 0)
		return true;
	for (int i = 0; i < count; i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	struct bpf_object *object;
	struct bpf_program *program;

	if (argc < 3) {
		fprintf(stderr, "usage: floor-load OBJECT SECONDS [PROGRAM...]\n");
		return 2;
	}
	object = bpf_object__open_file(argv[1], NULL);
	if (!object) {
		perror(argv[1]);
		return 1;
	}
	bpf_object__for_each_program(program, object)
		bpf_program__set_autoload(program, wanted(bpf_program__name(program), argc - 3, argv + 3));
	if (bpf_object__load(object)) {
		perror(argv[1]);
		return 1;
	}
	bpf_object__for_each_program(program, object) {
		if (!bpf_program__autoload(program))
			continue;
		if (!bpf_program__attach(program)) {
			perror(bpf_program__name(program));
			return 1;
		}
	}
	sleep(atoi(argv[2]));
	return 0;
}
