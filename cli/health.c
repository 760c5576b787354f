/*
 * `grove health`: one plain HTTP/1.1 GET of /v2/health/ready on loopback, with a short
 * timeout; exit 0 on a 200 answer, 1 otherwise. It is the container image's HEALTHCHECK,
 * so it uses nothing but libc sockets (the image has no curl and no shell), and it finds
 * the port as `grove serve` does: --port, else GROVE_PORT, else PORT, else 8080.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define HEALTH_DEFAULT_PATH "/v2/health/ready"
#define HEALTH_MAX_MS       60000

typedef struct {
  const char *host; /* a numeric IPv4 or IPv6 address, or "localhost" */
  unsigned long port;
  const char *path;
  unsigned long timeout_ms;
} health_opts_t;

static const char health_usage[] =
    "usage: grove health [--host ADDR] [--port N] [--path PATH] [--timeout-ms MS]\n"
    "\n"
    "GETs PATH (default /v2/health/ready) from the grove serving on ADDR:N and exits 0\n"
    "when it answers 200, 1 otherwise (refused, timed out, or another status). ADDR: an IPv4\n"
    "or IPv6 address or localhost; default GROVE_HOST when it names one address, else\n"
    "127.0.0.1. N: --port, else GROVE_PORT, else PORT, else 8080. MS: default 2000.\n"
    "Plain HTTP only (a grove serving with --tls-cert is not probed).\n";

/* The environment's defaults: GROVE_HOST unless it is a wildcard, GROVE_PORT, then PORT. */
static int health_defaults(health_opts_t *o) {
  const char *host = getenv("GROVE_HOST");
  o->host = host != NULL && *host != '\0' && strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0
                ? host
                : "127.0.0.1";
  o->port = 8080;
  o->path = HEALTH_DEFAULT_PATH;
  o->timeout_ms = 2000;
  static const char *const vars[] = {"GROVE_PORT", "PORT"};
  for (size_t i = 0; i < 2; i++) {
    const char *v = getenv(vars[i]);
    if (v == NULL || *v == '\0') continue;
    return cli_parse_count(vars[i], v, 65535, &o->port) == 0 ? 0 : CLI_EXIT_INPUT;
  }
  return 0;
}

static int on_health_option(int c, const char *arg, void *ctx) {
  health_opts_t *o = ctx;
  switch (c) {
    case 'H':
      o->host = arg;
      return 0;
    case 'p':
      return cli_parse_count("--port", arg, 65535, &o->port) == 0 ? 0 : CLI_EXIT_INPUT;
    case 'P':
      if (arg[0] != '/' || strpbrk(arg, " \r\n") != NULL) {
        fprintf(stderr, "grove health: --path \"%s\": expected an absolute path, no spaces\n", arg);
        return CLI_EXIT_INPUT;
      }
      o->path = arg;
      return 0;
    case 't':
      return cli_parse_count("--timeout-ms", arg, HEALTH_MAX_MS, &o->timeout_ms) == 0
                 ? 0
                 : CLI_EXIT_INPUT;
  }
  return CLI_EXIT_INPUT;
}

/* ADDR (numeric, or "localhost") and PORT as a socket address; -1 when ADDR is neither. */
static int health_address(const char *host, unsigned long port, struct sockaddr_storage *ss,
                          socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
  if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    *len = sizeof *v4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    *len = sizeof *v6;
    return 0;
  }
  return -1;
}

/* Milliseconds left before DEADLINE (cli_now() seconds), at least 0. */
static int ms_left(double deadline) {
  double left = (deadline - cli_now()) * 1000.0;
  return left > 0 ? (int)left + 1 : 0;
}

/* Waits until FD is ready for EVENTS before DEADLINE: 0, or -1 with errno (ETIMEDOUT). */
static int wait_fd(int fd, short events, double deadline) {
  struct pollfd p = {.fd = fd, .events = events};
  for (;;) {
    int n = poll(&p, 1, ms_left(deadline));
    if (n > 0) return 0;
    if (n == 0) return errno = ETIMEDOUT, -1;
    if (errno != EINTR) return -1;
  }
}

/* A non-blocking connect finished within the deadline: 0, or -1 with errno. */
static int connect_by(int fd, const struct sockaddr_storage *ss, socklen_t len, double deadline) {
  if (connect(fd, (const struct sockaddr *)ss, len) == 0) return 0;
  if (errno != EINPROGRESS) return -1;
  if (wait_fd(fd, POLLOUT, deadline) != 0) return -1;
  int soerr = 0;
  socklen_t sl = sizeof soerr;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) return -1;
  return soerr == 0 ? 0 : (errno = soerr, -1);
}

/* Sends the request and reads until the status line is in: its status, or -1 with errno. */
static int exchange(int fd, const health_opts_t *o, double deadline) {
  char req[1024], resp[512];
  const int v6 = strchr(o->host, ':') != NULL;
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s%s%s:%lu\r\nUser-Agent: grove-health\r\n"
                   "Connection: close\r\n\r\n",
                   o->path, v6 ? "[" : "", o->host, v6 ? "]" : "", o->port);
  if (n < 0 || (size_t)n >= sizeof req) return errno = ENAMETOOLONG, -1;
  for (size_t sent = 0; sent < (size_t)n;) {
    if (wait_fd(fd, POLLOUT, deadline) != 0) return -1;
    ssize_t w = send(fd, req + sent, (size_t)n - sent, MSG_NOSIGNAL);
    if (w < 0 && errno != EINTR && errno != EAGAIN) return -1;
    if (w > 0) sent += (size_t)w;
  }
  size_t got = 0;
  while (got < sizeof resp - 1 && memchr(resp, '\n', got) == NULL) {
    if (wait_fd(fd, POLLIN, deadline) != 0) return -1;
    ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
    if (r == 0) break;
    if (r < 0 && errno != EINTR && errno != EAGAIN) return -1;
    if (r > 0) got += (size_t)r;
  }
  resp[got] = '\0';
  int status = 0;
  if (sscanf(resp, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100) return errno = EPROTO, -1;
  return status;
}

/* One probe: the HTTP status, or -1 with errno saying why there was none. */
static int health_probe(const health_opts_t *o, const struct sockaddr_storage *ss, socklen_t len) {
  double deadline = cli_now() + (double)o->timeout_ms / 1000.0;
  int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int status = connect_by(fd, ss, len, deadline) == 0 ? exchange(fd, o, deadline) : -1;
  int saved = errno;
  close(fd);
  errno = saved;
  return status;
}

int cli_health(int argc, char **argv) {
  static const struct option options[] = {{"host", required_argument, NULL, 'H'},
                                          {"port", required_argument, NULL, 'p'},
                                          {"path", required_argument, NULL, 'P'},
                                          {"timeout-ms", required_argument, NULL, 't'},
                                          {NULL, 0, NULL, 0}};
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return fputs(health_usage, stdout), 0;
  health_opts_t o;
  int rc = health_defaults(&o);
  if (rc == 0)
    rc = cli_parse_options("health", health_usage, argc, argv, options, "", NULL, on_health_option,
                           &o);
  if (rc != 0) return rc;
  if (optind < argc) {
    fprintf(stderr, "grove health: unexpected argument \"%s\"\n\n%s", argv[optind], health_usage);
    return CLI_EXIT_INPUT;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (health_address(o.host, o.port, &ss, &len) != 0) {
    fprintf(stderr,
            "grove health: host \"%s\" (--host or GROVE_HOST): expected an IPv4 or IPv6 address\n",
            o.host);
    return CLI_EXIT_INPUT;
  }
  const int v6 = ss.ss_family == AF_INET6;
  char url[1024];
  snprintf(url, sizeof url, "http://%s%s%s:%lu%s", v6 ? "[" : "", o.host, v6 ? "]" : "", o.port,
           o.path);
  int status = health_probe(&o, &ss, len);
  if (status == 200) return printf("grove health: %s: 200\n", url), 0;
  if (status > 0)
    fprintf(stderr, "grove health: %s: answered %d\n", url, status);
  else if (errno == ETIMEDOUT)
    fprintf(stderr, "grove health: %s: no answer within %lu ms\n", url, o.timeout_ms);
  else
    fprintf(stderr, "grove health: %s: %s\n", url, strerror(errno));
  return CLI_EXIT_MODEL;
}
