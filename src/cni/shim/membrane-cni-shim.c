/*
 * membrane-cni-shim: the fast path of membrane's CNI plugin. bin/membrane-cni
 * executes it (built by scripts/build.sh into dist/cni/membrane-cni-shim);
 * without it, the Node plugin (dist/cni/main.js) runs as before.
 *
 * A Node process per CNI call spends most of a pod's ADD starting up. This
 * shim instead hands the invocation (the CNI_* variables and stdin) to the
 * agent in one `POST /v1/cni` over the agent's unix socket; the agent runs
 * the plugin's own code in-process (src/api/cni-route.ts, src/cni/run.ts)
 * and answers with the plugin's stdout as the body and its exit code in the
 * `membrane-cni-exit-code` header, which the shim passes on verbatim.
 *
 * Whenever that does not work out (no socket, connection refused, an agent
 * without /v1/cni, an answer cut off or timed out, a configuration the shim
 * cannot read the socket from), the shim executes the Node plugin with the
 * same argv, environment and stdin (kept in a memfd), so every answer the
 * plugin process gives (agent down, DEL's idempotence, errors) stays.
 *
 * The socket is the configuration's top-level "agentSocket" string, else
 * /var/run/membrane/agent.sock (src/cni/config.ts). The scan below reads only
 * as much JSON as it needs; a configuration it cannot follow goes to the
 * default socket, and the agent's parse of it then decides, as the plugin's
 * would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_AGENT_SOCKET "/var/run/membrane/agent.sock"
#define EXIT_HEADER "membrane-cni-exit-code:"
/* As the Node plugin's agent client: a wedged agent must not hang the runtime forever. */
#define ANSWER_TIMEOUT_S 120

extern char **environ;

struct buf {
	char *data;
	size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (b->len + n + 1 > cap) cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) { perror("membrane-cni-shim: out of memory"); exit(1); }
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal of s[0..n). */
static void put_json_string(struct buf *b, const char *s, size_t n)
{
	put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; put(b, esc, 2); }
		else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); put(b, esc, 6); }
		else put(b, (const char *)&s[i], 1);
	}
	put(b, "\"", 1);
}

static int read_all(int fd, struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n == 0) return 0;
		if (n < 0) { if (errno == EINTR) continue; return -1; }
		put(b, chunk, (size_t)n);
	}
}

/* ---- just enough JSON to find the top-level "agentSocket" ---- */

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
	return p;
}

/* Past a string literal starting at p ('"'); NULL when cut off. */
static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\') p++;
		else if (*p == '"') return p + 1;
	}
	return NULL;
}

/* Past any value starting at p; NULL when it is not one. */
static const char *skip_value(const char *p, const char *end)
{
	if (p >= end) return NULL;
	if (*p == '"') return skip_string(p, end);
	if (*p == '{' || *p == '[') {
		int depth = 0;
		for (; p < end; p++) {
			if (*p == '"') { p = skip_string(p, end); if (!p) return NULL; p--; }
			else if (*p == '{' || *p == '[') depth++;
			else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
		}
		return NULL;
	}
	while (p < end && !strchr(",}] \t\r\n", *p)) p++; /* number, true, false, null */
	return p;
}

/*
 * Copies the top-level "agentSocket" string into out. 1 when found, 0 when
 * the configuration has none (or none the shim can read: not a string, not
 * an object, escapes), -1 when it names one too long for a unix socket.
 */
static int agent_socket(const char *p, const char *end, char *out, size_t outlen)
{
	p = ws(p, end);
	if (p >= end || *p != '{') return 0;
	p = ws(p + 1, end);
	while (p < end && *p == '"') {
		const char *key = p + 1, *after = skip_string(p, end);
		if (!after) return 0;
		size_t keylen = (size_t)(after - 1 - key);
		p = ws(after, end);
		if (p >= end || *p != ':') return 0;
		p = ws(p + 1, end);
		if (keylen == 11 && memcmp(key, "agentSocket", 11) == 0) {
			if (*p != '"') return 0;
			const char *v = p + 1, *vend = skip_string(p, end);
			if (!vend || memchr(v, '\\', (size_t)(vend - 1 - v))) return 0;
			size_t n = (size_t)(vend - 1 - v);
			if (n == 0) return 0;
			if (n >= outlen) return -1;
			memcpy(out, v, n);
			out[n] = '\0';
			return 1;
		}
		p = skip_value(p, end);
		if (!p) return 0;
		p = ws(p, end);
		if (p < end && *p == ',') p = ws(p + 1, end);
	}
	return 0;
}

/* ---- the fast path ---- */

/* 0 with the body and exit code when the agent ran the invocation, -1 otherwise. */
static int ask_agent(const char *socket_path, const struct buf *stdin_buf, struct buf *body, int *exit_code)
{
	struct buf req = {0}, payload = {0}, answer = {0};
	int rc = -1, fd = -1;

	puts_(&payload, "{\"env\":{");
	int first = 1;
	for (char **e = environ; *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strncmp(*e, "CNI_", 4) != 0 || !eq) continue;
		if (!first) put(&payload, ",", 1);
		first = 0;
		put_json_string(&payload, *e, (size_t)(eq - *e));
		put(&payload, ":", 1);
		put_json_string(&payload, eq + 1, strlen(eq + 1));
	}
	puts_(&payload, "},\"stdin\":");
	put_json_string(&payload, stdin_buf->data ? stdin_buf->data : "", stdin_buf->len);
	puts_(&payload, "}");

	char head[256];
	snprintf(head, sizeof head, "POST /v1/cni HTTP/1.1\r\nHost: membrane-agent\r\nConnection: close\r\n"
		"Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", payload.len);
	puts_(&req, head);
	put(&req, payload.data, payload.len);

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof addr.sun_path) goto out;
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) goto out;
	struct timeval tv = { .tv_sec = ANSWER_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (size_t sent = 0; sent < req.len;) {
		ssize_t n = write(fd, req.data + sent, req.len - sent);
		if (n < 0) { if (errno == EINTR) continue; goto out; }
		sent += (size_t)n;
	}
	if (read_all(fd, &answer) < 0 || answer.len == 0) goto out;

	/* HTTP/1.1 200, the exit code header, a Content-Length body that is all there. */
	char *head_end = strstr(answer.data, "\r\n\r\n");
	if (!head_end || strncmp(answer.data, "HTTP/1.1 200 ", 13) != 0) goto out;
	*head_end = '\0';
	long code = -1, length = -1;
	for (char *line = strstr(answer.data, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, EXIT_HEADER, strlen(EXIT_HEADER)) == 0) code = strtol(line + strlen(EXIT_HEADER), NULL, 10);
		else if (strncasecmp(line, "content-length:", 15) == 0) length = strtol(line + 15, NULL, 10);
	}
	char *content = head_end + 4;
	if (code < 0 || code > 255 || length < 0 || (size_t)length > answer.len - (size_t)(content - answer.data)) goto out;
	put(body, content, (size_t)length);
	*exit_code = (int)code;
	rc = 0;
out:
	if (fd >= 0) close(fd);
	free(req.data);
	free(payload.data);
	free(answer.data);
	return rc;
}

/* ---- the slow path: the Node plugin, with the stdin already read ---- */

static void exec_node_plugin(char **argv, const struct buf *stdin_buf, int stdin_is_tty)
{
	if (!stdin_is_tty) {
		int mem = memfd_create("membrane-cni-stdin", 0);
		if (mem < 0) { perror("membrane-cni-shim: memfd_create"); exit(1); }
		for (size_t done = 0; done < stdin_buf->len;) {
			ssize_t n = write(mem, stdin_buf->data + done, stdin_buf->len - done);
			if (n < 0) { if (errno == EINTR) continue; perror("membrane-cni-shim: memfd write"); exit(1); }
			done += (size_t)n;
		}
		if (lseek(mem, 0, SEEK_SET) < 0 || dup2(mem, 0) < 0) { perror("membrane-cni-shim: stdin"); exit(1); }
		close(mem);
	}
	/* main.js sits beside this executable in dist/cni/. */
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 16);
	if (n <= 0) { perror("membrane-cni-shim: /proc/self/exe"); exit(1); }
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	strcpy(slash + 1, "main.js");
	int argc = 0;
	while (argv[argc]) argc++;
	char **args = calloc((size_t)argc + 3, sizeof *args);
	if (!args) exit(1);
	args[0] = "node";
	args[1] = self;
	for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
	execvp("node", args);
	/* The error JSON the spec asks for: stdout carries nothing else. */
	printf("{\"cniVersion\":\"1.1.0\",\"code\":999,\"msg\":\"membrane-cni could not execute node for %s\",\"details\":\"%s\"}\n",
		self, strerror(errno));
	exit(1);
}

int main(int argc, char **argv)
{
	(void)argc;
	signal(SIGPIPE, SIG_IGN);
	struct buf in = {0}, body = {0};
	struct stat st;
	int stdin_is_tty = fstat(0, &st) == 0 && S_ISCHR(st.st_mode);
	if (!stdin_is_tty) {
		/* A non-blocking stdin would end the read early: read it blocking. */
		int fl = fcntl(0, F_GETFL);
		if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(0, F_SETFL, fl & ~O_NONBLOCK);
		if (read_all(0, &in) < 0) exec_node_plugin(argv, &in, 1);
	}
	char socket_path[sizeof ((struct sockaddr_un *)0)->sun_path];
	int found = agent_socket(in.data ? in.data : "", in.data ? in.data + in.len : "", socket_path, sizeof socket_path);
	if (found < 0) exec_node_plugin(argv, &in, stdin_is_tty);
	if (found == 0) strcpy(socket_path, DEFAULT_AGENT_SOCKET);
	int code;
	if (ask_agent(socket_path, &in, &body, &code) < 0) exec_node_plugin(argv, &in, stdin_is_tty);
	for (size_t done = 0; done < body.len;) {
		ssize_t n = write(1, body.data + done, body.len - done);
		if (n < 0) { if (errno == EINTR) continue; return 1; }
		done += (size_t)n;
	}
	return code;
}
