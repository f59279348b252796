/*
 * bind.c -- `bind ADDRESS...`: the block's DNS listening addresses (IPv4
 * and IPv6 literals).  Without it a block listens on every address.
 *
 * It runs before every plugin that reads the block's addresses (the
 * plugin table's order), and adds them to the block (plugin_block_add_bind),
 * which the core listens on and labels metrics with.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"

static int bind_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "bind";
	struct plugin_block *b = ctx->block;
	size_t before = b->nbinds;

	*state = NULL;
	if (d->nargs == 0)
		PLUGIN_FAIL(d, "needs at least one address");
	for (size_t a = 0; a < d->nargs; a++) {
		const char *s = d->args[a];
		char canon[INET6_ADDRSTRLEN];
		unsigned char buf[16];
		int fam = strchr(s, ':') ? AF_INET6 : AF_INET;
		if (strcmp(s, "except") == 0)
			PLUGIN_FAIL(d, "\"except\" is not supported; list the addresses to listen on");
		if (inet_pton(fam, s, buf) != 1)
			PLUGIN_FAIL(d, "\"%s\": not an IP address (interface names are not supported)", s);
		inet_ntop(fam, buf, canon, sizeof(canon));
		for (size_t i = before; i < b->nbinds; i++)
			if (strcmp(b->binds[i], canon) == 0)
				PLUGIN_FAIL(d, "\"%s\": listed twice", s);
		if (plugin_block_add_bind(b, canon) < 0)
			PLUGIN_FAIL(d, "out of memory");
	}
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	return 0;
fail:
	return -1;
}

static void bind_free(void *state)
{
	(void)state;
}

const struct plugin_ops bind_plugin = {
	.name = "bind",
	.setup = bind_setup,
	.free = bind_free,
};
