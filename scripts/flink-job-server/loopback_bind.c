/* Preloaded into the Flink JVMs of a local run (LD_PRELOAD, pipeline/beam/java.sh): a bind() to the wildcard address
 * (0.0.0.0 or ::) binds the loopback address instead (127.0.0.1, or ::ffff:127.0.0.1 on a dual-stack socket), so
 * nothing they listen on is reachable from other hosts. Beam Java's gRPC servers (the job, artifact and Fn API
 * services) bind every interface whatever --job-host says (NettyServerBuilder.forPort). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

int bind(int fd, const struct sockaddr *address, socklen_t length) {
  static int (*next_bind)(int, const struct sockaddr *, socklen_t);
  if (!next_bind) next_bind = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
  if (address && address->sa_family == AF_INET && length >= sizeof(struct sockaddr_in)) {
    struct sockaddr_in ipv4 = *(const struct sockaddr_in *)address;
    if (ipv4.sin_addr.s_addr == htonl(INADDR_ANY)) {
      ipv4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      return next_bind(fd, (const struct sockaddr *)&ipv4, sizeof ipv4);
    }
  } else if (address && address->sa_family == AF_INET6 && length >= sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 ipv6 = *(const struct sockaddr_in6 *)address;
    if (IN6_IS_ADDR_UNSPECIFIED(&ipv6.sin6_addr)) {
      static const unsigned char mapped_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1};
      for (int i = 0; i < 16; i++) ipv6.sin6_addr.s6_addr[i] = mapped_loopback[i];
      return next_bind(fd, (const struct sockaddr *)&ipv6, sizeof ipv6);
    }
  }
  return next_bind(fd, address, length);
}
