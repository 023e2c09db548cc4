// winapi: a Windows program (built with mingw-w64, run by Wine) that
// does what real Windows programs do beyond lowmem.c: 48 threads, each
// with its stack, heap blocks and VirtualAlloc memory; a thread pool; TLS
// callbacks; a thread with a 256 MiB stack, recursed 128 MiB deep;
// VirtualAlloc reservations at chosen low bases, committed in pieces,
// decommitted and released; section views, anonymous and of a file, at
// chosen bases (these first, before the threads' stacks take low
// memory); MEM_TOP_DOWN (above 2 GiB in 64-bit Wine); and an access
// violation caught by a vectored handler. It prints only what is the same
// on every run (whether bases were honoured, counts, which side of 2 GiB)
// and counts the Linux shared objects in 0x10000-0x80000000 from its own
// maps, as lowmem.c does.
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include "lowso.h"

#define LOW(p) ((ULONG_PTR)(p) < 0x80000000ULL)

static volatile LONG tls_proc, tls_thread;
static void NTAPI tls_cb(PVOID h, DWORD reason, PVOID r) {
	if (reason == DLL_PROCESS_ATTACH)
		InterlockedIncrement(&tls_proc);
	if (reason == DLL_THREAD_ATTACH)
		InterlockedIncrement(&tls_thread);
}
PIMAGE_TLS_CALLBACK tls_cb_ptr __attribute__((section(".CRT$XLB"))) = tls_cb;
static __thread int tls_var = 42;

#define NT 48
static volatile LONG stack_low, heap_low, va_low, ok, tls_fresh;

static DWORD WINAPI worker(LPVOID arg) {
	int i = (int)(INT_PTR)arg, local, good = 1;
	if (LOW(&local))
		InterlockedIncrement(&stack_low);
	if (tls_var == 42)
		InterlockedIncrement(&tls_fresh);
	tls_var = i;
	HANDLE h = GetProcessHeap();
	for (int k = 0; k < 500; k++) {
		size_t sz = 16 + (k * 7919 + i * 31) % 4096;
		char *p = HeapAlloc(h, 0, sz);
		if (!p) {
			good = 0;
			break;
		}
		memset(p, i, sz);
		if (k == 0 && LOW(p))
			InterlockedIncrement(&heap_low);
		HeapFree(h, 0, p);
	}
	char *v = VirtualAlloc(NULL, 0x10000 * (1 + i % 4), MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
	if (v) {
		if (LOW(v))
			InterlockedIncrement(&va_low);
		v[100] = 1;
		VirtualFree(v, 0, MEM_RELEASE);
	} else
		good = 0;
	if (good)
		InterlockedIncrement(&ok);
	return 100 + i;
}

static volatile LONG pool_done, pool_low;
static VOID CALLBACK pool_cb(PTP_CALLBACK_INSTANCE inst, PVOID ctx) {
	int local;
	if (LOW(&local))
		InterlockedIncrement(&pool_low);
	InterlockedIncrement(&pool_done);
}

static int depth(int n, volatile char *prev) {
	volatile char buf[4096];
	buf[0] = (char)n;
	buf[4095] = prev ? prev[0] : 0;
	return n == 0 ? buf[0] : depth(n - 1, buf) + 1;
}
static volatile int big_result, big_low;
static DWORD WINAPI bigstack(LPVOID a) {
	int l;
	big_low = LOW(&l);
	big_result = depth(32 * 1024, NULL);
	return 0;
}

static char *volatile ro_page;
static volatile LONG veh_hits;
static LONG CALLBACK veh(PEXCEPTION_POINTERS e) {
	if (e->ExceptionRecord->ExceptionCode == EXCEPTION_ACCESS_VIOLATION &&
	    (char *)e->ExceptionRecord->ExceptionInformation[1] == ro_page) {
		DWORD old;
		veh_hits++;
		VirtualProtect(ro_page, 4096, PAGE_READWRITE, &old);
		return EXCEPTION_CONTINUE_EXECUTION;
	}
	return EXCEPTION_CONTINUE_SEARCH;
}

static void at(const char *what, void *want, void *got) {
	printf("%s: %s\n", what, !got ? "failed" : got == want ? "there" : LOW(got) ? "elsewhere low" : "elsewhere high");
}

int main(void) {
	printf("TLS callback, process attach: %ld\n", tls_proc);
	at("VirtualAlloc(0x10000000)", (void *)0x10000000, VirtualAlloc((void *)0x10000000, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
	char *r = VirtualAlloc((void *)0x20000000, 256 << 20, MEM_RESERVE, PAGE_NOACCESS);
	at("VirtualAlloc(0x20000000, 256M, reserve)", (void *)0x20000000, r);
	int commits = 0;
	for (int i = 0; r && i < 64; i++) {
		char *c = VirtualAlloc(r + i * (4 << 20), 1 << 20, MEM_COMMIT, PAGE_READWRITE);
		if (c == r + i * (4 << 20)) {
			c[0] = 1;
			c[(1 << 20) - 1] = 2;
			commits++;
		}
	}
	int dc = VirtualFree(r + (4 << 20), 1 << 20, MEM_DECOMMIT);
	int rl = VirtualFree(r, 0, MEM_RELEASE);
	printf("commits in the reservation: %d, decommit %d, release %d\n", commits, dc, rl);
	at("VirtualAlloc(0x20000000) after the release", (void *)0x20000000, VirtualAlloc((void *)0x20000000, 0x100000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
	at("VirtualAlloc(0x7f000000)", (void *)0x7f000000, VirtualAlloc((void *)0x7f000000, 1 << 20, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));


	HANDLE s = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0, 16 << 20, NULL);
	char *v1 = MapViewOfFileEx(s, FILE_MAP_WRITE, 0, 0, 0, (void *)0x30000000);
	at("MapViewOfFileEx(anonymous, 0x30000000)", (void *)0x30000000, v1);
	char *v2 = MapViewOfFile(s, FILE_MAP_WRITE, 0, 0, 0);
	if (v1 && v2) {
		v1[12345] = 77;
		printf("second view: %s, %s\n", v2[12345] == 77 ? "shared" : "not shared", LOW(v2) ? "low" : "high");
	}
	char tmp[MAX_PATH], name[MAX_PATH];
	GetTempPathA(sizeof tmp, tmp);
	GetTempFileNameA(tmp, "mg", 0, name);
	HANDLE f = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_FLAG_DELETE_ON_CLOSE, NULL);
	static char buf[65536];
	DWORD wr;
	for (int i = 0; i < (int)sizeof buf; i++)
		buf[i] = (char)(i * 13);
	WriteFile(f, buf, sizeof buf, &wr, NULL);
	HANDLE fs = CreateFileMappingA(f, NULL, PAGE_READWRITE, 0, 0, NULL);
	char *fv = MapViewOfFileEx(fs, FILE_MAP_WRITE, 0, 0, 0, (void *)0x31000000);
	at("MapViewOfFileEx(file, 0x31000000)", (void *)0x31000000, fv);
	printf("file view: %s\n", fv && !memcmp(fv, buf, sizeof buf) ? "right" : "wrong");
	int u1 = UnmapViewOfFile(v1), u2 = UnmapViewOfFile(v2), u3 = UnmapViewOfFile(fv);
	printf("unmapped: %d %d %d\n", u1, u2, u3);
	CloseHandle(fs);
	CloseHandle(f);
	CloseHandle(s);


	HANDLE th[NT];
	for (int i = 0; i < NT; i++)
		th[i] = CreateThread(NULL, 0, worker, (LPVOID)(INT_PTR)i, 0, NULL);
	WaitForMultipleObjects(NT, th, TRUE, INFINITE);
	int codes = 0;
	for (int i = 0; i < NT; i++) {
		DWORD c;
		GetExitCodeThread(th[i], &c);
		codes += c == 100 + (DWORD)i;
		CloseHandle(th[i]);
	}
	printf("threads: %d, exit codes right %d, ok %ld, fresh TLS %ld, TLS thread attach >= %d: %s\n", NT, codes, ok, tls_fresh, NT, tls_thread >= NT ? "yes" : "no");
	printf("low: stacks %ld, first heap blocks %ld, VirtualAlloc %ld\n", stack_low, heap_low, va_low);
	for (int i = 0; i < 200; i++)
		TrySubmitThreadpoolCallback(pool_cb, NULL, NULL);
	for (int w = 0; w < 3000 && pool_done < 200; w++)
		Sleep(10);
	printf("thread pool: %ld/200 done, %ld on low stacks\n", pool_done, pool_low);
	HANDLE b = CreateThread(NULL, 256 << 20, bigstack, NULL, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
	WaitForSingleObject(b, INFINITE);
	printf("256 MiB stack: recursion %d, %s\n", big_result, big_low ? "low" : "high");

	void *td = VirtualAlloc(NULL, 1 << 20, MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN, PAGE_READWRITE);
	void *td2 = VirtualAlloc(NULL, 1 << 20, MEM_RESERVE | MEM_COMMIT | MEM_TOP_DOWN, PAGE_READWRITE);
	printf("MEM_TOP_DOWN: %s, the second below the first: %s\n", !td ? "failed" : LOW(td) ? "low" : "high", td2 && td2 < td ? "yes" : "no");

	AddVectoredExceptionHandler(1, veh);
	ro_page = VirtualAlloc(NULL, 4096, MEM_RESERVE | MEM_COMMIT, PAGE_READONLY);
	ro_page[0] = 5;
	printf("access violation caught: %ld, the write then done: %s\n", veh_hits, ro_page[0] == 5 ? "yes" : "no");

	if (low_shared_objects() < 0)
		return 1;
	return 9;
}
