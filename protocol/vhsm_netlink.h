/* Wire constants of the netlink transport, shared by the kernel module (C, kernel headers)
 * and by keyd and the client library (C++). The frame header's full layout belongs to
 * frame.cpp; the module only reads and stamps the fields named here. */
#ifndef VHSM_NETLINK_H
#define VHSM_NETLINK_H

#include <linux/types.h>

/* Netlink protocol number of vhsm_transport.ko (MAX_LINKS is 32; 31 is unassigned). */
#define VHSM_NETLINK_PROTOCOL 31

/* nlmsg_type values (above NLMSG_MIN_TYPE). One vhsm message per datagram, never batched. */
enum vhsm_nl_type {
  VHSM_NL_FRAME = 0x10,         /* payload: one frame (client request or keyd reply) */
  VHSM_NL_REGISTER = 0x11,      /* keyd -> module: this socket is the server; acked */
  VHSM_NL_CLIENT_GONE = 0x12,   /* module -> keyd: a client socket closed */
  VHSM_NL_SET_SERVER_NS = 0x13, /* privileged: the sender's namespace hosts the server */
};

/* Payload of VHSM_NL_CLIENT_GONE, host byte order. */
struct vhsm_nl_client_gone {
  __u64 cookie; /* the client's network namespace cookie */
  __u64 client; /* the module's id of the socket (never reused; ports are) */
  __u32 port;   /* its netlink port id */
  __u32 inode;  /* its network namespace inode */
};

/* Frame header fields the module reads and stamps (little endian). */
#define VHSM_FRAME_HEADER_SIZE 48
#define VHSM_FRAME_MAGIC 0x4d534856u
#define VHSM_FRAME_OFF_MAGIC 0
#define VHSM_FRAME_OFF_TYPE 6
#define VHSM_FRAME_OFF_LENGTH 16
#define VHSM_FRAME_OFF_CLIENT_PORT 24
#define VHSM_FRAME_OFF_CONTAINER_INODE 28
#define VHSM_FRAME_OFF_CONTAINER 32
#define VHSM_FRAME_OFF_CLIENT_ID 40
#define VHSM_FRAME_TYPE_REQUEST 1
#define VHSM_FRAME_TYPE_RESPONSE 2
#define VHSM_FRAME_MAX (VHSM_FRAME_HEADER_SIZE + 512 * 1024)

#endif
