// lowso.h: for the Windows test programs, which run under Wine.
#include <stdio.h>
#include <string.h>

// low_shared_objects prints each mapping of a Linux shared object that
// starts in 0x10000-0x80000000, read from the process's own
// /proc/self/maps through Wine's Z: drive, then their count, and
// returns the count, or -1 if the maps cannot be read.
static int low_shared_objects(void) {
	FILE *f = fopen("Z:\\proc\\self\\maps", "r");
	if (!f) {
		printf("maps: cannot open\n");
		return -1;
	}
	char line[512];
	int so = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long long start;
		if (sscanf(line, "%llx", &start) == 1 && start >= 0x10000 && start < 0x80000000ULL && strstr(line, ".so")) {
			printf("in the range: %s", line);
			so++;
		}
	}
	fclose(f);
	printf("shared objects in the range: %d\n", so);
	return so;
}
