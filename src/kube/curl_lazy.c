/*
 * curl_lazy.c -- libcurl, loaded when the first Kubernetes source (or
 * kubeconfig) needs it, not at start.
 *
 * Debian's libcurl brings 26 more shared libraries (GnuTLS, p11-kit,
 * Kerberos, LDAP, RTMP, SSH, ...), about 3.8 MiB of resident pages in
 * every process that links it, some of which initialise themselves when
 * loaded.  A globaldns that serves manifest files, hosts and the forwarder
 * never makes an HTTP request, so the binary does not link libcurl: the
 * libcurl functions it calls are defined here, with libcurl's own names
 * and types (so the callers are plain libcurl code), and each forwards to
 * the function of that name in libcurl.so.4, opened with dlopen on the
 * first call.  Should it be missing, a Kubernetes source is refused with
 * the reason (curl_lazy_error, checked before its kubeconfig is read) and
 * every call fails the way libcurl's own would (NULL handles, error codes);
 * nothing else is affected.
 *
 * The executable does not export these names (it is not linked with
 * -rdynamic and no shared library it links refers to them), so libcurl's
 * calls to its own functions stay inside libcurl.
 */
#define CURL_DISABLE_TYPECHECK   /* the real prototypes, not the macros */

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <curl/curl.h>

#include "curl_lazy.h"

#define CURL_SONAME "libcurl.so.4"

/* The entry points used, in one table filled by dlsym. */
#define CURL_FUNCS(X) \
	X(CURLcode, curl_global_init, (long)) \
	X(void, curl_global_cleanup, (void)) \
	X(CURL *, curl_easy_init, (void)) \
	X(CURLcode, curl_easy_setopt, (CURL *, CURLoption, ...)) \
	X(CURLcode, curl_easy_getinfo, (CURL *, CURLINFO, ...)) \
	X(void, curl_easy_cleanup, (CURL *)) \
	X(const char *, curl_easy_strerror, (CURLcode)) \
	X(char *, curl_easy_escape, (CURL *, const char *, int)) \
	X(void, curl_free, (void *)) \
	X(struct curl_slist *, curl_slist_append, (struct curl_slist *, const char *)) \
	X(void, curl_slist_free_all, (struct curl_slist *)) \
	X(CURLM *, curl_multi_init, (void)) \
	X(CURLMcode, curl_multi_setopt, (CURLM *, CURLMoption, ...)) \
	X(CURLMcode, curl_multi_socket_action, (CURLM *, curl_socket_t, int, int *)) \
	X(CURLMcode, curl_multi_assign, (CURLM *, curl_socket_t, void *)) \
	X(CURLMcode, curl_multi_add_handle, (CURLM *, CURL *)) \
	X(CURLMcode, curl_multi_remove_handle, (CURLM *, CURL *)) \
	X(CURLMsg *, curl_multi_info_read, (CURLM *, int *)) \
	X(CURLMcode, curl_multi_cleanup, (CURLM *)) \
	X(CURLU *, curl_url, (void)) \
	X(void, curl_url_cleanup, (CURLU *)) \
	X(CURLUcode, curl_url_get, (CURLU *, CURLUPart, char **, unsigned int)) \
	X(CURLUcode, curl_url_set, (CURLU *, CURLUPart, const char *, unsigned int))

static struct {
#define X(ret, name, args) ret (*name) args;
	CURL_FUNCS(X)
#undef X
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void *handle;
static int loaded;
static char why[512];

static void load(void)
{
	handle = dlopen(CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(why, sizeof(why), "the Kubernetes API source needs libcurl: cannot load %s: %s "
			"(Debian: apt-get install libcurl4)", CURL_SONAME, dlerror());
		return;
	}
#define X(ret, name, args) \
	*(void **)&fn.name = dlsym(handle, #name); \
	if (!fn.name) { \
		snprintf(why, sizeof(why), "the Kubernetes API source needs libcurl 7.68 or later: %s has no %s", \
			CURL_SONAME, #name); \
		return; \
	}
	CURL_FUNCS(X)
#undef X
	loaded = 1;
}

const char *curl_lazy_error(void)
{
	return why;
}

int curl_lazy_load(void)
{
	pthread_once(&once, load);
	return loaded ? 0 : -1;
}

int curl_lazy_loaded(void)
{
	return loaded;
}

/* Call f(h, option, the setopt argument in ap) with that argument read as
 * the type the option's number range says (as libcurl reads it): long,
 * object pointer, function pointer, curl_off_t, blob pointer. */
#define FORWARD_OPT(f, h, option, ap) \
	((option) < CURLOPTTYPE_OBJECTPOINT ? f(h, option, va_arg(ap, long)) \
	 : (option) < CURLOPTTYPE_FUNCTIONPOINT ? f(h, option, va_arg(ap, void *)) \
	 : (option) < CURLOPTTYPE_OFF_T ? f(h, option, va_arg(ap, void (*)(void))) \
	 : (option) < CURLOPTTYPE_BLOB ? f(h, option, va_arg(ap, curl_off_t)) \
	 : f(h, option, va_arg(ap, void *)))

/* The wrappers: one per entry point, failing as libcurl would when it
 * could not be loaded. */

CURLcode curl_global_init(long flags)
{
	return curl_lazy_load() ? CURLE_FAILED_INIT : fn.curl_global_init(flags);
}

void curl_global_cleanup(void)
{
	if (loaded)
		fn.curl_global_cleanup();
}

CURL *curl_easy_init(void)
{
	return curl_lazy_load() ? NULL : fn.curl_easy_init();
}

CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
	CURLcode rc;
	va_list ap;

	if (!loaded)
		return CURLE_FAILED_INIT;
	va_start(ap, option);
	rc = FORWARD_OPT(fn.curl_easy_setopt, h, option, ap);
	va_end(ap);
	return rc;
}

CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...)
{
	void *out;
	va_list ap;

	if (!loaded)
		return CURLE_FAILED_INIT;
	va_start(ap, info);
	out = va_arg(ap, void *);        /* always a pointer to the result */
	va_end(ap);
	return fn.curl_easy_getinfo(h, info, out);
}

void curl_easy_cleanup(CURL *h)
{
	if (loaded)
		fn.curl_easy_cleanup(h);
}

const char *curl_easy_strerror(CURLcode code)
{
	return loaded ? fn.curl_easy_strerror(code) : "libcurl could not be loaded";
}

char *curl_easy_escape(CURL *h, const char *s, int len)
{
	return curl_lazy_load() ? NULL : fn.curl_easy_escape(h, s, len);
}

void curl_free(void *p)
{
	if (loaded)
		fn.curl_free(p);
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s)
{
	return curl_lazy_load() ? NULL : fn.curl_slist_append(l, s);
}

void curl_slist_free_all(struct curl_slist *l)
{
	if (loaded)
		fn.curl_slist_free_all(l);
}

CURLM *curl_multi_init(void)
{
	return curl_lazy_load() ? NULL : fn.curl_multi_init();
}

CURLMcode curl_multi_setopt(CURLM *m, CURLMoption option, ...)
{
	CURLMcode rc;
	va_list ap;

	if (!loaded)
		return CURLM_BAD_HANDLE;
	va_start(ap, option);
	rc = FORWARD_OPT(fn.curl_multi_setopt, m, option, ap);
	va_end(ap);
	return rc;
}

CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev, int *running)
{
	return loaded ? fn.curl_multi_socket_action(m, s, ev, running) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_assign(CURLM *m, curl_socket_t s, void *p)
{
	return loaded ? fn.curl_multi_assign(m, s, p) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
	return loaded ? fn.curl_multi_add_handle(m, h) : CURLM_BAD_HANDLE;
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
	return loaded ? fn.curl_multi_remove_handle(m, h) : CURLM_BAD_HANDLE;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *left)
{
	if (!loaded) {
		*left = 0;
		return NULL;
	}
	return fn.curl_multi_info_read(m, left);
}

CURLMcode curl_multi_cleanup(CURLM *m)
{
	return loaded ? fn.curl_multi_cleanup(m) : CURLM_BAD_HANDLE;
}

CURLU *curl_url(void)
{
	return curl_lazy_load() ? NULL : fn.curl_url();
}

void curl_url_cleanup(CURLU *u)
{
	if (loaded)
		fn.curl_url_cleanup(u);
}

CURLUcode curl_url_get(CURLU *u, CURLUPart what, char **part, unsigned int flags)
{
	if (!loaded) {
		*part = NULL;
		return CURLUE_BAD_HANDLE;
	}
	return fn.curl_url_get(u, what, part, flags);
}

CURLUcode curl_url_set(CURLU *u, CURLUPart what, const char *part, unsigned int flags)
{
	return loaded ? fn.curl_url_set(u, what, part, flags) : CURLUE_BAD_HANDLE;
}
