/*
 * metrics_process.c -- the standard process_* families, as every
 * Prometheus client exports them (client_golang's process collector, which
 * CoreDNS serves): CPU time, memory, file descriptors, start time and
 * network bytes, read from /proc at scrape time.
 *
 * Names, types and help texts are client_golang's, so the dashboards and
 * alerts written for CoreDNS pods (process_resident_memory_bytes,
 * rate(process_cpu_seconds_total[5m]), process_open_fds /
 * process_max_fds) work unchanged.  Nothing here runs on the query path.
 */
#include "globaldns/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Fields of /proc/self/stat after the command (which may hold spaces and
 * parentheses, so it is skipped to the last ')'). */
struct proc_stat {
	unsigned long utime, stime;     /* clock ticks */
	unsigned long long starttime;   /* clock ticks after boot */
	unsigned long vsize;            /* bytes */
	long rss;                       /* pages */
};

static int read_stat(const char *path, struct proc_stat *st)
{
	char buf[1024], *p;
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p)
		return -1;
	/* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
	 * cmajflt utime stime cutime cstime priority nice num_threads
	 * itrealvalue starttime vsize rss */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu"
		" %*d %*d %*d %*d %*d %*d %llu %lu %ld",
		&st->utime, &st->stime, &st->starttime, &st->vsize, &st->rss) != 5)
		return -1;
	return 0;
}

double metrics_stat_cpu_seconds(const char *path)
{
	struct proc_stat st;
	long ticks = sysconf(_SC_CLK_TCK);

	if (ticks <= 0 || read_stat(path, &st) < 0)
		return 0;
	return (double)(st.utime + st.stime) / (double)ticks;
}

/* The boot time (btime of /proc/stat), in seconds since the epoch. */
static long long boot_time(void)
{
	char line[256];
	long long bt = -1;
	FILE *f = fopen("/proc/stat", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &bt) == 1)
			break;
	fclose(f);
	return bt;
}

static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;                   /* the one opendir holds */
}

/* Bytes received and sent on every interface of the process's network
 * namespace (/proc/self/net/dev), as client_golang reports them. */
static int net_bytes(double *rx, double *tx)
{
	char line[512];
	FILE *f = fopen("/proc/self/net/dev", "re");

	if (!f)
		return -1;
	*rx = *tx = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long r, t;
		char *c = strchr(line, ':');
		if (!c)
			continue;       /* the two header lines */
		if (sscanf(c + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &r, &t) == 2) {
			*rx += (double)r;
			*tx += (double)t;
		}
	}
	fclose(f);
	return 0;
}

static double rlimit_value(int resource)
{
	struct rlimit rl;

	if (getrlimit(resource, &rl) < 0)
		return -1;
	/* unlimited: Go reads "unlimited" as the largest uint64 */
	return rl.rlim_cur == RLIM_INFINITY ? 18446744073709551615.0 : (double)rl.rlim_cur;
}

static void gauge(struct metrics_out *o, const char *name, const char *help,
	double v)
{
	metrics_out_family(o, name, METRICS_GAUGE, help);
	metrics_out_sample(o, name, "", v, NULL);
}

void metrics_process_collect(void *arg, struct metrics_out *o)
{
	(void)arg;
	struct proc_stat st;
	long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	long fds = open_fds();
	long long bt = boot_time();
	double rx, tx;

	if (ticks <= 0)
		ticks = 100;
	if (read_stat("/proc/self/stat", &st) == 0) {
		metrics_out_family(o, "process_cpu_seconds_total", METRICS_COUNTER,
			"Total user and system CPU time spent in seconds.");
		metrics_out_sample(o, "process_cpu_seconds_total", "",
			(double)(st.utime + st.stime) / (double)ticks, NULL);
		gauge(o, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
			(double)st.vsize);
		gauge(o, "process_resident_memory_bytes", "Resident memory size in bytes.",
			(double)st.rss * (double)page);
		if (bt >= 0)
			gauge(o, "process_start_time_seconds",
				"Start time of the process since unix epoch in seconds.",
				(double)bt + (double)st.starttime / (double)ticks);
	}
	if (fds >= 0)
		gauge(o, "process_open_fds", "Number of open file descriptors.", (double)fds);
	gauge(o, "process_max_fds", "Maximum number of open file descriptors.",
		rlimit_value(RLIMIT_NOFILE));
	gauge(o, "process_virtual_memory_max_bytes",
		"Maximum amount of virtual memory available in bytes.", rlimit_value(RLIMIT_AS));
	if (net_bytes(&rx, &tx) == 0) {
		metrics_out_family(o, "process_network_receive_bytes_total", METRICS_COUNTER,
			"Number of bytes received by the process over the network.");
		metrics_out_sample(o, "process_network_receive_bytes_total", "", rx, NULL);
		metrics_out_family(o, "process_network_transmit_bytes_total", METRICS_COUNTER,
			"Number of bytes sent by the process over the network.");
		metrics_out_sample(o, "process_network_transmit_bytes_total", "", tx, NULL);
	}
}
