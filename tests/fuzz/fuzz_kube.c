/*
 * fuzz_kube.c -- fuzz target for what the Kubernetes API server sends,
 * decoded by src/kube/kube_watch.c and kubeconfig.c without I/O: the
 * newline framing of a watch stream fed in pieces, watch events, list
 * pages, error summaries, exec credentials.
 *
 * Byte 0 picks the decoder (bits 0-2), the rest is the body:
 *   0, 4  watch stream: byte 1 seeds the piece sizes (1 to 64 bytes),
 *         mode 0 with no line cap -- the lines must be exactly the
 *         reference split of the body (split on '\n', the last piece
 *         without one kept back, a trailing '\r' cut, empty lines
 *         skipped) -- and mode 4 with a cap of 48 bytes (lines never
 *         longer); every line goes to kube_event_parse
 *   1     kube_list_parse, then every item
 *   2     kube_status_summary (the HTTP code from byte 1)
 *   3     kube_exec_credential_parse
 * Anything else (5-7): all of them on the whole body.
 *
 * Built with --enable-fuzzer it is a libFuzzer target; built without,
 * main() replays tests/fuzz/corpus/kube as an ordinary test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube/kube_watch.h"
#include "kube/kubeconfig.h"
#include "replay.h"

struct expect {
	const char *body;               /* the reference lines, in order */
	size_t len, pos;
	size_t max;                     /* the line cap (0: none) */
	int capped;
};

static void event(const char *line, size_t len)
{
	enum kube_event_type type = KUBE_EV_ERROR;
	const cJSON *obj = NULL;
	char err[256];
	cJSON *doc;

	err[0] = '\0';
	doc = kube_event_parse(line, len, &type, &obj, err, sizeof(err));
	if (!doc) {
		if (!err[0] || strlen(err) >= sizeof(err))
			abort();
		return;
	}
	if (!cJSON_IsObject(obj) || type > KUBE_EV_ERROR)
		abort();
	cJSON_Delete(doc);
}

/* The next reference line of e->body at or after e->pos, or 0 if none. */
static int next_line(struct expect *e, const char **s, size_t *n)
{
	while (e->pos < e->len) {
		const char *start = e->body + e->pos;
		const char *nl = memchr(start, '\n', e->len - e->pos);
		size_t l;
		if (!nl)
			return 0;               /* no newline: never a line */
		l = (size_t)(nl - start);
		e->pos += l + 1;
		if (l && start[l - 1] == '\r')
			l--;
		if (l) {
			*s = start;
			*n = l;
			return 1;
		}
	}
	return 0;
}

static int on_line(void *arg, const char *line, size_t len)
{
	struct expect *e = arg;
	const char *want;
	size_t wlen;

	/* one trailing CR is cut ("a\r\r\n" gives "a\r") */
	if (!len || memchr(line, '\n', len))
		abort();
	if (e->capped) {
		if (len > e->max)
			abort();
	} else if (!next_line(e, &want, &wlen) || wlen != len || memcmp(want, line, len) != 0) {
		abort();
	}
	event(line, len);
	return 0;
}

static void stream(const uint8_t *data, size_t size, unsigned int seed, int capped)
{
	struct kube_lines kl;
	struct expect e = { (const char *)data, size, 0, capped ? 48 : 0, capped };
	size_t off = 0;
	const char *rest;
	size_t restlen;

	kube_lines_init(&kl, capped ? 48 : size + 1);
	while (off < size) {
		size_t piece;
		seed = seed * 1103515245u + 12345u;
		piece = 1 + ((seed >> 16) % 64);
		if (piece > size - off)
			piece = size - off;
		if (kube_lines_feed(&kl, (const char *)data + off, piece, on_line, &e) != 0 && !capped)
			abort();                /* no cap, nothing stops: always 0 */
		off += piece;
	}
	/* every reference line came out */
	if (!capped && next_line(&e, &rest, &restlen))
		abort();
	kube_lines_free(&kl);
}

static void list(const char *body, size_t len)
{
	const cJSON *items = NULL, *cont = NULL, *rv = NULL, *it;
	char err[256];
	cJSON *doc;

	err[0] = '\0';
	doc = kube_list_parse(body, len, &items, &cont, &rv, err, sizeof(err));
	if (!doc) {
		if (!err[0])
			abort();
		return;
	}
	if (!cJSON_IsArray(items) || !cJSON_IsString(rv)
	    || (cont && !cJSON_IsString(cont) && !cJSON_IsNull(cont)))
		abort();
	cJSON_ArrayForEach(it, items)
		(void)cJSON_GetObjectItemCaseSensitive(it, "metadata");
	cJSON_Delete(doc);
}

static void status(const char *body, size_t len, long code)
{
	char out[512];
	long retry = -1;

	kube_status_summary(code, body, len, out, sizeof(out), &retry);
	if (strlen(out) >= sizeof(out) || strncmp(out, "HTTP ", 5) != 0
	    || retry < -1 || retry >= 86400)
		abort();
}

static void credential(const char *body, size_t len)
{
	char *token = NULL, *cert = NULL, *key = NULL, err[256];
	long long expires = -1;

	err[0] = '\0';
	if (kube_exec_credential_parse(body, len, &token, &expires, &cert, &key, err, sizeof(err)) < 0) {
		if (!err[0] || token || cert || key)
			abort();
		return;
	}
	if (!token && !(cert && key))
		abort();
	free(token);
	free(cert);
	free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int mode;
	const char *body;
	size_t len;

	if (size < 2)
		return 0;
	mode = data[0] & 7;
	body = (const char *)data + 1;
	len = size - 1;
	switch (mode) {
	case 0:
	case 4:
		stream(data + 2, size - 2, data[1], mode == 4);
		break;
	case 1:
		list(body, len);
		break;
	case 2:
		status(body + 1, len - 1, 100 + (long)data[1] * 2);
		break;
	case 3:
		credential(body, len);
		break;
	default:
		stream(data + 1, size - 1, 7, 0);
		list(body, len);
		status(body, len, 500);
		credential(body, len);
		break;
	}
	return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "kube", NULL);
}
#endif
