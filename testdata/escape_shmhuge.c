// escape_shmhuge: a System V segment of huge pages (SHM_HUGETLB) of one
// page is attached whole huge pages long, but IPC_STAT says one page.
// Attached with SHM_REMAP at 0x200000, below a protected range that
// starts at 0x300000 (an edge that is not a multiple of 2 MiB), it maps
// 0x200000-0x400000, over the guard's reservations. Needs CAP_IPC_LOCK;
// no huge page is taken (SHM_NORESERVE, never touched).
#include "escape.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#ifndef SHM_HUGETLB
#define SHM_HUGETLB 04000
#endif
#ifndef SHM_NORESERVE
#define SHM_NORESERVE 010000
#endif
#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

#define EDGE 0x300000UL
#define AT 0x200000UL

int main(void) {
	int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600 | SHM_HUGETLB | SHM_NORESERVE);
	if (id < 0) {
		say("shmat-huge-below-edge info: shmget(SHM_HUGETLB): %s", ename(errno));
		return finish();
	}
	void *p = shmat(id, (void *)AT, SHM_REMAP);
	int e = errno;
	shmctl(id, IPC_RMID, NULL);
	struct mapping m;
	if (p == (void *)-1) {
		say("shmat-huge-below-edge ok: shmat: %s", ename(e));
	} else if (mapped_at(EDGE, &m) && strstr(m.path, "SYSV")) {
		say("shmat-huge-below-edge ESCAPED: %lx-%lx %s reaches %#lx", m.start, m.end, m.path, EDGE);
		failures++;
	} else {
		say("shmat-huge-below-edge ok: attached at %p, not over %#lx", p, EDGE);
	}
	return finish();
}
