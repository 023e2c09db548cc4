// say.h: the test programs' output. say writes one line with one
// write(2): lines from threads and forked children do not interleave,
// and nothing sits in a stdio buffer when a child is forked or the
// program crashes. A line is ended with a newline unless it has one.
#ifndef SAY_H
#define SAY_H

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

static void say(const char *fmt, ...) {
	char buf[1536];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
	if (n == 0 || buf[n - 1] != '\n') buf[n++] = '\n';
	ssize_t w = write(1, buf, n);
	(void)w;
}

#endif
