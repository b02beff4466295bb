/*
 * The real floor of a request/reply over a socket on this machine: two
 * processes (a fork) ping-pong a small length-prefixed message over a Unix
 * socket or loopback TCP, with blocking reads and writes and preallocated
 * buffers, as fast as the kernel allows. Nothing a library does can beat
 * it; "ours / floor" above 1.0 would mean the floor is wrong.
 *
 *     cc -O2 -o c_floor bench/c_floor.c
 *     ./c_floor <unix|tcp> <milliseconds>     prints {"ops":N,"seconds":S}
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MESSAGE 32

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static int exactly(int fd, char *buffer, size_t size, int writing) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = writing ? write(fd, buffer + done, size - done) : read(fd, buffer + done, size - done);
    if (n <= 0) return -1;
    done += (size_t)n;
  }
  return 0;
}

int main(int argc, char **argv) {
  int tcp = argc > 1 && strcmp(argv[1], "tcp") == 0;
  double seconds = (argc > 2 ? atof(argv[2]) : 1000.0) / 1000.0;
  int listener, one = 1;
  struct sockaddr_un unix_address;
  struct sockaddr_in tcp_address;
  char path[64];
  if (tcp) {
    listener = socket(AF_INET, SOCK_STREAM, 0);
    memset(&tcp_address, 0, sizeof tcp_address);
    tcp_address.sin_family = AF_INET;
    tcp_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof tcp_address;
    if (bind(listener, (struct sockaddr *)&tcp_address, length) != 0) return 1;
    getsockname(listener, (struct sockaddr *)&tcp_address, &length);
  } else {
    snprintf(path, sizeof path, "/tmp/c-floor-%d.sock", (int)getpid());
    unlink(path);
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&unix_address, 0, sizeof unix_address);
    unix_address.sun_family = AF_UNIX;
    strncpy(unix_address.sun_path, path, sizeof unix_address.sun_path - 1);
    if (bind(listener, (struct sockaddr *)&unix_address, sizeof unix_address) != 0) return 1;
  }
  listen(listener, 1);
  pid_t child = fork();
  if (child == 0) {
    /* The echo side. */
    int conn = accept(listener, NULL, NULL);
    if (tcp) setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buffer[MESSAGE];
    while (exactly(conn, buffer, MESSAGE, 0) == 0 && exactly(conn, buffer, MESSAGE, 1) == 0) {
    }
    _exit(0);
  }
  int conn = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
  int connected = tcp ? connect(conn, (struct sockaddr *)&tcp_address, sizeof tcp_address)
                      : connect(conn, (struct sockaddr *)&unix_address, sizeof unix_address);
  if (connected != 0) return 1;
  if (tcp) setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buffer[MESSAGE];
  memset(buffer, 0, MESSAGE);
  buffer[3] = MESSAGE - 4;
  long ops = 0;
  double start = now(), elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < 256; i++) {
      if (exactly(conn, buffer, MESSAGE, 1) != 0 || exactly(conn, buffer, MESSAGE, 0) != 0) return 1;
    }
    ops += 256;
    elapsed = now() - start;
  }
  close(conn);
  waitpid(child, NULL, 0);
  close(listener);
  if (!tcp) unlink(path);
  printf("{\"ops\":%ld,\"seconds\":%f}\n", ops, elapsed);
  return 0;
}
