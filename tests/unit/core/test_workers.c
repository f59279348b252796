/*
 * test_workers.c -- how many workers `auto` means: the cgroup CPU quota
 * (v2 cpu.max, v1 cfs quota/period, the smallest on the way up) read from
 * a cgroup tree made here, and the affinity mask.
 */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "globaldns/workers.h"

static char root[256];

static void put(const char *rel, const char *text)
{
	char path[512], dir[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (p = dir + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(dir, 0700);
		*p = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/test_workers.XXXXXX");
	assert_non_null(mkdtemp(root));
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_v2_quota(void **state)
{
	(void)state;
	put("kubepods/pod1/c1/cpu.max", "150000 100000\n");   /* 1.5 CPUs: 2 */
	put("kubepods/pod1/cpu.max", "max 100000\n");
	put("kubepods/cpu.max", "400000 100000\n");
	assert_int_equal(workers_cgroup_cpus(root, "0::/kubepods/pod1/c1\n"), 2);
	/* a parent's smaller limit wins */
	put("kubepods/pod1/cpu.max", "100000 100000\n");
	assert_int_equal(workers_cgroup_cpus(root, "0::/kubepods/pod1/c1\n"), 1);
	/* no limit anywhere */
	put("free/cpu.max", "max 100000\n");
	assert_int_equal(workers_cgroup_cpus(root, "0::/free\n"), 0);
	/* a cgroup namespace: the process sees itself at the root */
	put("cpu.max", "250000 100000\n");
	assert_int_equal(workers_cgroup_cpus(root, "0::/\n"), 3);
	/* and from below it too */
	assert_int_equal(workers_cgroup_cpus(root, "0::/free\n"), 3);
	{
		char path[300];
		snprintf(path, sizeof(path), "%s/cpu.max", root);
		assert_int_equal(unlink(path), 0);
	}
}

static void test_v1_quota(void **state)
{
	(void)state;
	put("cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "50000\n");
	put("cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n");
	assert_int_equal(workers_cgroup_cpus(root,
		"12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"), 1);
	/* -1: no quota */
	put("cpu,cpuacct/docker/def/cpu.cfs_quota_us", "-1\n");
	put("cpu,cpuacct/docker/def/cpu.cfs_period_us", "100000\n");
	assert_int_equal(workers_cgroup_cpus(root, "4:cpu,cpuacct:/docker/def\n"), 0);
	/* garbage and missing files: no limit, no crash */
	assert_int_equal(workers_cgroup_cpus(root, "nonsense\n::\n0::/missing/x\n"), 0);
	assert_int_equal(workers_cgroup_cpus(root, ""), 0);
}

static void test_affinity(void **state)
{
	cpu_set_t set, one;
	int n;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(set), &set), 0);
	n = workers_cpus();
	assert_true(n >= 1 && n <= CPU_COUNT(&set));
	CPU_ZERO(&one);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			CPU_SET(c, &one);
			break;
		}
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_int_equal(workers_cpus(), 1);
	assert_int_equal(sched_setaffinity(0, sizeof(set), &set), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v2_quota),
		cmocka_unit_test(test_v1_quota),
		cmocka_unit_test(test_affinity),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
