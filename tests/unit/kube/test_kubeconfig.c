/*
 * test_kubeconfig.c -- kubeconfig reading and merging (KUBECONFIG=a:b as
 * kubectl merges it), relative paths, -data fields, exec users, in-cluster
 * configuration from the environment, token files, base64 and
 * ExecCredential parsing.
 */
#define _GNU_SOURCE 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kubeconfig.h"

#define assert_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (h_ == NULL || strstr(h_, n_) == NULL) \
		fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
} while (0)

static char dir[256];

static void write_file(const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *path(const char *name)
{
	static char p[4][512];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
	return p[i];
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "%s/test_kubeconfig.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	mkdir(path("sub"), 0700);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *const KC_TOKEN =
	"apiVersion: v1\n"
	"kind: Config\n"
	"clusters:\n"
	"- name: c1\n"
	"  cluster:\n"
	"    server: https://127.0.0.1:6443/\n"
	"    certificate-authority: ca.crt\n"
	"- name: c2\n"
	"  cluster:\n"
	"    server: https://[::1]:6443\n"
	"    insecure-skip-tls-verify: true\n"
	"users:\n"
	"- name: u1\n"
	"  user:\n"
	"    token: abc\n"
	"- name: u2\n"
	"  user:\n"
	"    client-certificate: sub/client.crt\n"
	"    client-key: /abs/client.key\n"
	"contexts:\n"
	"- name: one\n"
	"  context: {cluster: c1, user: u1, namespace: istio-system}\n"
	"- name: two\n"
	"  context: {cluster: c2, user: u2}\n"
	"current-context: one\n";

static void test_current_context(void **state)
{
	struct kube_conn k;
	char err[512];

	(void)state;
	write_file("a", KC_TOKEN);
	assert_int_equal(kubeconfig_load(path("a"), NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://127.0.0.1:6443");  /* trailing slash gone */
	assert_string_equal(k.ca_file, path("ca.crt"));          /* relative to the file */
	assert_string_equal(k.token, "abc");
	assert_string_equal(k.namespace, "istio-system");
	assert_int_equal(k.insecure, 0);
	assert_null(k.exec);
	assert_contains(k.origin, "context one");
	kube_conn_clear(&k);
}

static void test_named_context(void **state)
{
	struct kube_conn k;
	char err[512];

	(void)state;
	write_file("a", KC_TOKEN);
	assert_int_equal(kubeconfig_load(path("a"), "two", &k, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://[::1]:6443");
	assert_int_equal(k.insecure, 1);
	assert_null(k.token);
	assert_string_equal(k.cert_file, path("sub/client.crt"));
	assert_string_equal(k.key_file, "/abs/client.key");
	kube_conn_clear(&k);
	assert_int_equal(kubeconfig_load(path("a"), "three", &k, err, sizeof(err)), -1);
	assert_contains(err, "context \"three\" not found");
}

static void test_merge(void **state)
{
	struct kube_conn k;
	char err[512], list[1600];

	(void)state;
	/* a: the context and a user; b: the cluster (relative CA to b's dir),
	 * another user of the same name (ignored: a comes first), its own
	 * current-context (ignored: a sets one) */
	write_file("ma",
		"current-context: m\n"
		"contexts:\n- name: m\n  context: {cluster: cb, user: u}\n"
		"users:\n- name: u\n  user: {tokenFile: tok}\n");
	write_file("sub/mb",
		"current-context: other\n"
		"clusters:\n- name: cb\n  cluster: {server: 'http://127.0.0.1:8080', certificate-authority: ca.pem}\n"
		"users:\n- name: u\n  user: {token: wrong}\n"
		"contexts:\n- name: m\n  context: {cluster: nowhere, user: u}\n");
	snprintf(list, sizeof(list), "%s:%s:%s", path("missing"), path("ma"), path("sub/mb"));
	assert_int_equal(kubeconfig_load(list, NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.server, "http://127.0.0.1:8080");
	assert_string_equal(k.ca_file, path("sub/ca.pem"));
	assert_string_equal(k.token_file, path("tok"));
	assert_null(k.token);
	kube_conn_clear(&k);

	/* only missing files: an error */
	snprintf(list, sizeof(list), "%s:%s", path("missing"), path("missing2"));
	assert_int_equal(kubeconfig_load(list, NULL, &k, err, sizeof(err)), -1);
	assert_contains(err, "no kubeconfig file found");

	/* $KUBECONFIG when no path is given */
	snprintf(list, sizeof(list), "%s:%s", path("ma"), path("sub/mb"));
	setenv("KUBECONFIG", list, 1);
	assert_int_equal(kubeconfig_load(NULL, NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.server, "http://127.0.0.1:8080");
	kube_conn_clear(&k);
	unsetenv("KUBECONFIG");
}

static void test_data_fields(void **state)
{
	struct kube_conn k;
	char err[512];

	(void)state;
	/* "-----BEGIN X-----" in base64; -data beats the path */
	write_file("d",
		"clusters:\n- name: c\n  cluster:\n"
		"    server: https://h:1\n"
		"    certificate-authority: ignored.crt\n"
		"    certificate-authority-data: LS0tLS1CRUdJTiBYLS0tLS0=\n"
		"users:\n- name: u\n  user:\n"
		"    client-certificate-data: Y2VydA==\n"
		"    client-key-data: a2V5\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"current-context: x\n");
	assert_int_equal(kubeconfig_load(path("d"), NULL, &k, err, sizeof(err)), 0);
	assert_null(k.ca_file);
	assert_int_equal(k.ca_pem_len, 17);
	assert_memory_equal(k.ca_pem, "-----BEGIN X-----", 17);
	assert_string_equal(k.cert_pem, "cert");
	assert_string_equal(k.key_pem, "key");
	kube_conn_clear(&k);

	write_file("d2",
		"clusters:\n- name: c\n  cluster: {server: 'https://h:1', certificate-authority-data: '@@@'}\n"
		"contexts:\n- name: x\n  context: {cluster: c}\n"
		"current-context: x\n");
	assert_int_equal(kubeconfig_load(path("d2"), NULL, &k, err, sizeof(err)), -1);
	assert_contains(err, "certificate-authority-data\" is not valid base64");
}

static void test_exec_user(void **state)
{
	struct kube_conn k;
	char err[512];

	(void)state;
	write_file("e",
		"clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
		"users:\n- name: u\n  user:\n    exec:\n"
		"      apiVersion: client.authentication.k8s.io/v1beta1\n"
		"      command: bin/get-token\n"
		"      args: [--region, eu]\n"
		"      env: [{name: A, value: b}]\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"current-context: x\n");
	assert_int_equal(kubeconfig_load(path("e"), NULL, &k, err, sizeof(err)), 0);
	assert_non_null(k.exec);
	assert_string_equal(k.exec->command, path("bin/get-token"));
	assert_int_equal(k.exec->nargs, 2);
	assert_string_equal(k.exec->args[1], "eu");
	assert_null(k.exec->args[2]);
	assert_int_equal(k.exec->nenv, 1);
	assert_string_equal(k.exec->env[0], "A=b");
	assert_string_equal(k.exec->api_version, "client.authentication.k8s.io/v1beta1");
	kube_conn_clear(&k);

	/* a bare command name is looked up in PATH, not made absolute */
	write_file("e2",
		"clusters:\n- name: c\n  cluster: {server: 'https://h:1'}\n"
		"users:\n- name: u\n  user: {exec: {command: aws, args: null}}\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"current-context: x\n");
	assert_int_equal(kubeconfig_load(path("e2"), NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.exec->command, "aws");
	assert_string_equal(k.exec->api_version, "client.authentication.k8s.io/v1");
	assert_int_equal(k.exec->provide_cluster_info, 0);
	assert_null(k.exec_config);
	kube_conn_clear(&k);

	/* provideClusterInfo, interactiveMode IfAvailable, the exec extension */
	write_file("e3",
		"clusters:\n- name: c\n  cluster:\n    server: 'https://h:1'\n"
		"    extensions:\n    - {name: x/y, extension: {no: 1}}\n"
		"    - {name: client.authentication.k8s.io/exec, extension: {audience: a}}\n"
		"users:\n- name: u\n  user: {exec: {command: aws, interactiveMode: IfAvailable, provideClusterInfo: true}}\n"
		"contexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		"current-context: x\n");
	assert_int_equal(kubeconfig_load(path("e3"), NULL, &k, err, sizeof(err)), 0);
	assert_int_equal(k.exec->provide_cluster_info, 1);
	assert_string_equal(k.exec_config, "{\"audience\":\"a\"}");
	kube_conn_clear(&k);
}

static void test_errors(void **state)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "clusters: [\n", "line" },
		{ "- a\n- b\n", "not a kubeconfig" },
		{ "clusters: {}\n", "no current-context" },
		{ "current-context: x\ncontexts: 3\n", "\"contexts\" is not a list" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {user: u}\n", "names no cluster" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n", "cluster \"c\" not found" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {certificate-authority: x}\n", "has no \"server\"" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'ftp://x'}\n", "not an http:// or https:// URL" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://'}\n", "no host in the URL" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://:6443/'}\n", "no host in the URL" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n", "user \"u\" not found" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {token: [1]}\n", "\"token\" is not a string" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {client-certificate: a.crt}\n", "needs its key" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {auth-provider: {name: gcp}}\n", "auth-provider is not supported" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {token: \"abc\\r\\nX-Evil: 1\"}\n", "holds a line break" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {token: \"abc\\ndef\"}\n", "holds a line break" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {exec: {args: [a]}}\n", "\"command\" missing" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {exec: {command: a, interactiveMode: Always}}\n",
		  "interactiveMode Always: the plugin needs a terminal" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {exec: {command: a, interactiveMode: Sometimes}}\n",
		  "must be Never, IfAvailable or Always" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
		  "users:\n- name: u\n  user: {exec: {command: a, provideClusterInfo: 'yes'}}\n",
		  "\"provideClusterInfo\" is not a boolean" },
		{ "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\n"
		  "clusters:\n- name: c\n  cluster: {server: 'https://x', insecure-skip-tls-verify: 'yes'}\n",
		  "is not a boolean" },
	};
	struct kube_conn k;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_file("bad", cases[i].text);
		err[0] = '\0';
		if (kubeconfig_load(path("bad"), NULL, &k, err, sizeof(err)) != -1)
			fail_msg("case %zu loaded", i);
		assert_contains(err, cases[i].want);
		assert_contains(err, path("bad"));
	}
}

static void test_incluster(void **state)
{
	struct kube_conn k;
	char err[512];

	(void)state;
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	assert_int_equal(kube_incluster(NULL, &k, err, sizeof(err)), 1);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	assert_int_equal(kube_incluster(NULL, &k, err, sizeof(err)), 1);  /* both needed */
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	unsetenv("GLOBALDNS_SA_DIR");
	assert_int_equal(kube_incluster(NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://10.96.0.1:443");
	assert_string_equal(k.token_file, KUBE_SA_DIR "/token");
	assert_string_equal(k.ca_file, KUBE_SA_DIR "/ca.crt");
	kube_conn_clear(&k);
	setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
	setenv("GLOBALDNS_SA_DIR", "/sa", 1);
	assert_int_equal(kube_incluster(NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.server, "https://[fd00::1]:443");     /* bracketed */
	assert_string_equal(k.token_file, "/sa/token");
	kube_conn_clear(&k);
	assert_int_equal(kube_incluster("/explicit", &k, err, sizeof(err)), 0);
	assert_string_equal(k.ca_file, "/explicit/ca.crt");
	kube_conn_clear(&k);
	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	assert_int_equal(kube_incluster(NULL, &k, err, sizeof(err)), -1);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	unsetenv("GLOBALDNS_SA_DIR");
}

static void test_token_file(void **state)
{
	char err[256], *t;

	(void)state;
	write_file("tok", "  eyJhbGc.abc.def \n\n");
	t = kube_read_token(path("tok"), err, sizeof(err));
	assert_string_equal(t, "eyJhbGc.abc.def");
	free(t);
	write_file("tok", " \n");
	assert_null(kube_read_token(path("tok"), err, sizeof(err)));
	assert_contains(err, "empty token");
	write_file("tok", "a\nb\n");
	assert_null(kube_read_token(path("tok"), err, sizeof(err)));
	assert_null(kube_read_token(path("nonexistent"), err, sizeof(err)));
	assert_contains(err, "nonexistent");
}

static void test_base64(void **state)
{
	size_t n;
	char *s;

	(void)state;
	s = kube_base64_decode("aGVsbG8gd29ybGQ=", &n);
	assert_string_equal(s, "hello world");
	assert_int_equal(n, 11);
	free(s);
	s = kube_base64_decode("aGVs\nbG8", &n);               /* no padding, a line break */
	assert_string_equal(s, "hello");
	free(s);
	assert_null(kube_base64_decode("a$b=", &n));
	assert_null(kube_base64_decode("aGVs=bG8=", &n));      /* data after padding */
}

static void test_exec_credential(void **state)
{
	char err[256], *tok, *cert, *key;
	long long exp;
	const char *ok1 = "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
		"\"status\":{\"token\":\"T\",\"expirationTimestamp\":\"2024-01-02T03:04:05Z\"}}";
	const char *ok2 = "{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"T2\","
		"\"expirationTimestamp\":\"2024-01-02T05:04:05.123+02:00\"}}";
	const char *certs = "{\"kind\":\"ExecCredential\",\"status\":{\"clientCertificateData\":\"C\",\"clientKeyData\":\"K\"}}";

	(void)state;
	assert_int_equal(kube_exec_credential_parse(ok1, strlen(ok1), &tok, &exp, &cert, &key, err, sizeof(err)), 0);
	assert_string_equal(tok, "T");
	assert_true(exp == 1704164645LL);
	assert_null(cert);
	free(tok);
	assert_int_equal(kube_exec_credential_parse(ok2, strlen(ok2), &tok, &exp, &cert, &key, err, sizeof(err)), 0);
	assert_true(exp == 1704164645LL);                       /* the offset applied */
	free(tok);
	assert_int_equal(kube_exec_credential_parse(certs, strlen(certs), &tok, &exp, &cert, &key, err, sizeof(err)), 0);
	assert_null(tok);
	assert_true(exp == 0);
	assert_string_equal(cert, "C");
	assert_string_equal(key, "K");
	free(cert);
	free(key);
	assert_int_equal(kube_exec_credential_parse("nope", 4, &tok, &exp, &cert, &key, err, sizeof(err)), -1);
	assert_int_equal(kube_exec_credential_parse("{\"kind\":\"Other\"}", 16, &tok, &exp, &cert, &key, err, sizeof(err)), -1);
	assert_contains(err, "not an ExecCredential");
	assert_int_equal(kube_exec_credential_parse("{\"kind\":\"ExecCredential\",\"status\":{}}", 37,
		&tok, &exp, &cert, &key, err, sizeof(err)), -1);
	assert_contains(err, "no status.token");
	assert_int_equal(kube_exec_credential_parse("{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\",\"expirationTimestamp\":\"soon\"}}",
		78, &tok, &exp, &cert, &key, err, sizeof(err)), -1);
	assert_contains(err, "RFC 3339");
	{
		const char *crlf = "{\"kind\":\"ExecCredential\",\"status\":{\"token\":\"x\\r\\nX-Evil: 1\"}}";
		assert_int_equal(kube_exec_credential_parse(crlf, strlen(crlf), &tok, &exp, &cert, &key, err, sizeof(err)), -1);
		assert_contains(err, "line break");
	}
}

/* proxy-url, disable-compression, impersonation, and where an inline token comes from */
static void test_proxy_impersonation(void **state)
{
	struct kube_conn k;
	char err[512];

	(void)state;
	write_file("kc-imp",
		"clusters:\n"
		"- name: c\n"
		"  cluster:\n"
		"    server: https://api.example.com\n"
		"    proxy-url: socks5://127.0.0.1:1080\n"
		"    disable-compression: true\n"
		"users:\n"
		"- name: u\n"
		"  user:\n"
		"    token: t0k\n"
		"    as: jane\n"
		"    as-uid: \"42\"\n"
		"    as-groups: [a, b]\n"
		"    as-user-extra:\n"
		"      scopes.example.com/x: [one, two]\n"
		"      \"k%y\": [v]\n"
		"contexts:\n"
		"- name: x\n"
		"  context: {cluster: c, user: u}\n"
		"current-context: x\n");
	assert_int_equal(kubeconfig_load(path("kc-imp"), NULL, &k, err, sizeof(err)), 0);
	assert_string_equal(k.proxy_url, "socks5://127.0.0.1:1080");
	assert_int_equal(k.disable_compression, 1);
	assert_int_equal(k.nheaders, 7);
	assert_string_equal(k.headers[0], "Impersonate-User: jane");
	assert_string_equal(k.headers[1], "Impersonate-Uid: 42");
	assert_string_equal(k.headers[2], "Impersonate-Group: a");
	assert_string_equal(k.headers[3], "Impersonate-Group: b");
	assert_string_equal(k.headers[4], "Impersonate-Extra-scopes.example.com%2Fx: one");
	assert_string_equal(k.headers[5], "Impersonate-Extra-scopes.example.com%2Fx: two");
	assert_string_equal(k.headers[6], "Impersonate-Extra-k%25y: v");
	assert_null(k.headers[7]);
	assert_string_equal(k.kubeconfig_paths, path("kc-imp"));
	assert_string_equal(k.kubeconfig_context, "x");
	kube_conn_clear(&k);

	write_file("kc-badproxy",
		"clusters: [{name: c, cluster: {server: \"https://a\", proxy-url: \"ftp://p:1\"}}]\n"
		"contexts: [{name: x, context: {cluster: c}}]\ncurrent-context: x\n");
	assert_int_equal(kubeconfig_load(path("kc-badproxy"), NULL, &k, err, sizeof(err)), -1);
	assert_contains(err, "proxy-url \"ftp://p:1\": unsupported scheme");
	write_file("kc-badas",
		"clusters: [{name: c, cluster: {server: \"https://a\"}}]\n"
		"users: [{name: u, user: {as-groups: \"a\"}}]\n"
		"contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n");
	assert_int_equal(kubeconfig_load(path("kc-badas"), NULL, &k, err, sizeof(err)), -1);
	assert_contains(err, "as-groups");
	write_file("kc-crlf",
		"clusters: [{name: c, cluster: {server: \"https://a\"}}]\n"
		"users: [{name: u, user: {as: \"a\\r\\nX-Evil: 1\"}}]\n"
		"contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n");
	assert_int_equal(kubeconfig_load(path("kc-crlf"), NULL, &k, err, sizeof(err)), -1);
	assert_contains(err, "line break");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context),
		cmocka_unit_test(test_named_context),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_data_fields),
		cmocka_unit_test(test_exec_user),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_incluster),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_exec_credential),
		cmocka_unit_test(test_proxy_impersonation),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
