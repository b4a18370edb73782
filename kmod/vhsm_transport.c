// SPDX-License-Identifier: GPL-2.0
/*
 * vhsm_transport: a netlink protocol present in every network namespace that carries vhsm
 * frames between client namespaces and the one registered vhsm-keyd.
 *
 * The module keeps no queues of its own: a frame is copied once, stamped and delivered
 * without blocking into the receiving socket, whose receive buffer is the only queue (and its
 * bound). Its state is the server's socket and a small record per client socket. A client learns of a frame that could not be delivered from a netlink error
 * message carrying the reason, queued before its sendmsg() returns.
 *
 * Identity: a client is (network namespace cookie, client id). Cookies are never reused within
 * a boot, unlike namespace inodes, so keyd cannot mistake a new namespace for a dead one. A
 * port is not an identity: the kernel frees it before it tells anyone the socket closed, so
 * another process may bind it at once. The module therefore gives every client socket an id of
 * its own (never reused) and delivers each reply to the very socket that sent the request,
 * never to whoever holds the port now.
 */
#include <linux/atomic.h>
#include <linux/random.h>
#include <linux/hashtable.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/netlink.h>
#include <linux/siphash.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "vhsm_netlink.h"

static unsigned int server_netns;
module_param(server_netns, uint, 0444);
MODULE_PARM_DESC(server_netns,
		 "inode of the network namespace keyd registers from (default: the initial one)");

static unsigned int allowed_netns[16];
static int allowed_netns_count;
module_param_array(allowed_netns, uint, &allowed_netns_count, 0444);
MODULE_PARM_DESC(allowed_netns,
		 "inodes of the only client namespaces whose frames are forwarded (default: all)");

static unsigned int max_frame = VHSM_FRAME_MAX;
module_param(max_frame, uint, 0444);
MODULE_PARM_DESC(max_frame, "largest frame forwarded, in bytes");

/* Counters under /sys/module/vhsm_transport/stats/. */
static atomic64_t frames_forwarded, replies_routed, frames_dropped, frames_refused,
	clients_gone;

struct vhsm_net {
	struct sock *sk; /* this namespace's kernel end of the protocol */
};

static unsigned int vhsm_net_id;

/*
 * The registered server: its socket, held, never its port (a port outlives nobody: the kernel
 * frees it before it reports the close, and whoever binds it next must not be taken for keyd).
 */
static DEFINE_SPINLOCK(server_lock);
static u64 server_ns_cookie; /* the namespace allowed to register */
static struct sock *server_sk;
static u32 server_portid; /* to recognise the server's release report */

/*
 * Client sockets that have sent a frame, by (namespace cookie, port). An entry holds its socket,
 * so the socket outlives the entry; it ends when a socket at that port is released or another
 * socket sends from the port (the first one is then gone: a port names one socket at a time).
 * A release is reported by port only, but after the socket is marked dead: an entry whose
 * socket is alive is never ended by another socket's release. Buckets are chosen by a keyed
 * hash, since ports are the client's choice.
 */
struct vhsm_client {
	struct hlist_node node;
	u64 net_cookie;
	u32 portid;
	u64 id; /* never reused: keyd's sessions and every reply name it */
	struct sock *sk;
};
static DEFINE_HASHTABLE(vhsm_clients, 10);
static DEFINE_SPINLOCK(clients_lock);
static u64 last_client_id; /* under clients_lock */
static siphash_key_t clients_hash_key;

static u64 client_key(u64 net_cookie, u32 portid)
{
	return siphash_2u64(net_cookie, portid, &clients_hash_key);
}

/* Under clients_lock. */
static struct vhsm_client *find_client(u64 net_cookie, u32 portid)
{
	struct vhsm_client *c;

	hash_for_each_possible(vhsm_clients, c, node, client_key(net_cookie, portid))
		if (c->net_cookie == net_cookie && c->portid == portid)
			return c;
	return NULL;
}

/* The server's socket, held, or NULL when none is registered. */
static struct sock *get_server(void)
{
	struct sock *sk;

	spin_lock(&server_lock);
	sk = server_sk;
	if (sk)
		sock_hold(sk);
	spin_unlock(&server_lock);
	return sk;
}

static bool is_server(const struct sock *sk)
{
	bool yes;

	spin_lock(&server_lock);
	yes = server_sk == sk;
	spin_unlock(&server_lock);
	return yes;
}

static bool client_allowed(struct net *net)
{
	int i;

	if (allowed_netns_count == 0)
		return true;
	for (i = 0; i < allowed_netns_count; i++)
		if (allowed_netns[i] == net->ns.inum)
			return true;
	return false;
}

/* A new message of this type holding a copy of payload, or NULL when memory is short. */
static struct sk_buff *build_message(u16 type, u32 seq, const void *payload, size_t len)
{
	struct sk_buff *skb = nlmsg_new(len, GFP_KERNEL | __GFP_NOWARN);
	struct nlmsghdr *nlh;

	if (!skb)
		return NULL;
	nlh = nlmsg_put(skb, 0, seq, type, len, 0);
	if (!nlh) {
		kfree_skb(skb);
		return NULL;
	}
	memcpy(nlmsg_data(nlh), payload, len);
	return skb;
}

/*
 * Queues the message on that very socket without blocking; a full receiver loses it and, as
 * netlink_unicast would tell it, reads ENOBUFS next. The skb is consumed either way.
 */
static int deliver(struct sock *sk, struct sk_buff *skb)
{
	int err;

	if (!skb)
		return -ENOMEM;
	err = sock_queue_rcv_skb(sk, skb);
	if (!err)
		return 0;
	kfree_skb(skb);
	if (err != -ENOMEM)
		return err;
	WRITE_ONCE(sk->sk_err, ENOBUFS);
	sk_error_report(sk);
	return -EAGAIN;
}

/* Tells keyd that a client's session is over; an entry already unlinked is freed here. */
static void client_gone(struct vhsm_client *c)
{
	struct vhsm_nl_client_gone gone = {
		.cookie = c->net_cookie,
		.client = c->id,
		.port = c->portid,
		.inode = sock_net(c->sk)->ns.inum,
	};
	struct sock *server = get_server();

	if (server && !deliver(server, build_message(VHSM_NL_CLIENT_GONE, 0, &gone, sizeof(gone))))
		atomic64_inc(&clients_gone);
	else
		atomic64_inc(&frames_dropped);
	if (server)
		sock_put(server);
	sock_put(c->sk);
	kfree(c);
}

/* The id of the socket that sent in, recorded on its first frame; 0 when memory is short. */
static u64 client_id(struct sk_buff *in)
{
	struct sock *sk = NETLINK_CB(in).sk;
	u64 cookie = sock_net(sk)->net_cookie;
	u32 portid = NETLINK_CB(in).portid;
	struct vhsm_client *c, *fresh = NULL, *replaced = NULL;
	u64 id = 0;

	for (;;) {
		spin_lock(&clients_lock);
		c = find_client(cookie, portid);
		if (c && c->sk == sk) {
			id = c->id;
		} else if (fresh) {
			if (c) {
				/* Ports are unique among live sockets: the recorded one is gone. */
				hash_del(&c->node);
				replaced = c;
			}
			fresh->id = ++last_client_id;
			id = fresh->id;
			hash_add(vhsm_clients, &fresh->node, client_key(cookie, portid));
			fresh = NULL;
		}
		spin_unlock(&clients_lock);
		if (id || fresh)
			break;
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
		if (!fresh)
			return 0;
		fresh->net_cookie = cookie;
		fresh->portid = portid;
		sock_hold(sk);
		fresh->sk = sk;
	}
	if (fresh) { /* another thread of the same socket recorded it first */
		sock_put(fresh->sk);
		kfree(fresh);
	}
	if (replaced)
		client_gone(replaced);
	return id;
}

/* Checks the frame header against the message; returns the frame type or -EINVAL. */
static int frame_type(const u8 *frame, size_t len)
{
	if (len < VHSM_FRAME_HEADER_SIZE || len > max_frame)
		return len > max_frame ? -EMSGSIZE : -EINVAL;
	if (get_unaligned_le32(frame + VHSM_FRAME_OFF_MAGIC) != VHSM_FRAME_MAGIC ||
	    get_unaligned_le32(frame + VHSM_FRAME_OFF_LENGTH) != len - VHSM_FRAME_HEADER_SIZE)
		return -EINVAL;
	return get_unaligned_le16(frame + VHSM_FRAME_OFF_TYPE);
}

/*
 * keyd's reply: delivered to the socket its header names, which keyd took from our stamp, and
 * only while that socket is the one recorded: a socket that closed loses its reply, and a
 * socket that took its port over never sees it.
 */
static void route_reply(const u8 *frame, size_t len, u32 seq)
{
	u64 cookie = get_unaligned_le64(frame + VHSM_FRAME_OFF_CONTAINER);
	u32 port = get_unaligned_le32(frame + VHSM_FRAME_OFF_CLIENT_PORT);
	u64 id = get_unaligned_le64(frame + VHSM_FRAME_OFF_CLIENT_ID);
	struct vhsm_client *c;
	struct sock *sk = NULL;
	int err = -ENOENT;

	spin_lock(&clients_lock);
	c = find_client(cookie, port);
	if (c && c->id == id) {
		sk = c->sk;
		sock_hold(sk);
	}
	spin_unlock(&clients_lock);
	if (sk) {
		err = deliver(sk, build_message(VHSM_NL_FRAME, seq, frame, len));
		sock_put(sk);
	}
	/* A client that went away or stopped reading loses its own reply, nothing more. */
	atomic64_inc(err ? &frames_dropped : &replies_routed);
}

/* A client's request: stamped with who sent it, whatever the client wrote there. */
static int forward_request(struct sk_buff *in, const u8 *frame, size_t len, u32 seq)
{
	struct net *from = sock_net(in->sk);
	struct sock *server;
	struct sk_buff *skb;
	u8 *stamped;
	u64 id;
	int err;

	if (!client_allowed(from))
		return -EPERM;
	id = client_id(in);
	if (!id)
		return -ENOMEM;
	server = get_server();
	if (!server)
		return -ECONNREFUSED;
	skb = build_message(VHSM_NL_FRAME, seq, frame, len);
	if (skb) {
		stamped = nlmsg_data(nlmsg_hdr(skb));
		put_unaligned_le64(id, stamped + VHSM_FRAME_OFF_CLIENT_ID);
		put_unaligned_le32(NETLINK_CB(in).portid, stamped + VHSM_FRAME_OFF_CLIENT_PORT);
		put_unaligned_le32(from->ns.inum, stamped + VHSM_FRAME_OFF_CONTAINER_INODE);
		put_unaligned_le64(from->net_cookie, stamped + VHSM_FRAME_OFF_CONTAINER);
	}
	err = deliver(server, skb);
	sock_put(server);
	return err;
}

static void handle_frame(struct sk_buff *skb, struct nlmsghdr *nlh)
{
	const u8 *frame = nlmsg_data(nlh);
	size_t len = nlmsg_len(nlh);
	int type = frame_type(frame, len);
	int err;

	if (is_server(NETLINK_CB(skb).sk)) {
		if (type == VHSM_FRAME_TYPE_RESPONSE)
			route_reply(frame, len, nlh->nlmsg_seq);
		else
			atomic64_inc(&frames_dropped);
		return;
	}
	if (type == VHSM_FRAME_TYPE_RESPONSE) {
		/* Only the server answers: a forged reply goes nowhere and earns no reply. */
		atomic64_inc(&frames_dropped);
		return;
	}
	if (type == VHSM_FRAME_TYPE_REQUEST)
		err = forward_request(skb, frame, len, nlh->nlmsg_seq);
	else
		err = type < 0 ? type : -EINVAL;
	if (err) {
		atomic64_inc(&frames_refused);
		netlink_ack(skb, nlh, err, NULL);
	} else {
		atomic64_inc(&frames_forwarded);
	}
}

static int register_server(struct sk_buff *skb)
{
	struct net *net = sock_net(skb->sk);
	int err = 0;

	if (!netlink_net_capable(skb, CAP_NET_ADMIN))
		return -EPERM;
	spin_lock(&server_lock);
	if (net->net_cookie != server_ns_cookie) {
		err = -EPERM;
	} else if (server_sk) {
		err = -EBUSY;
	} else {
		server_sk = NETLINK_CB(skb).sk;
		sock_hold(server_sk);
		server_portid = NETLINK_CB(skb).portid;
	}
	spin_unlock(&server_lock);
	return err;
}

/* Moves the server namespace to the sender's; a server registered elsewhere is dropped. */
static int set_server_ns(struct sk_buff *skb)
{
	struct net *net = sock_net(skb->sk);
	struct sock *old = NULL;

	if (!netlink_capable(skb, CAP_NET_ADMIN))
		return -EPERM;
	spin_lock(&server_lock);
	server_ns_cookie = net->net_cookie;
	if (server_sk && sock_net(server_sk) != net) {
		old = server_sk;
		server_sk = NULL;
		server_portid = 0;
	}
	spin_unlock(&server_lock);
	if (old)
		sock_put(old);
	return 0;
}

static void vhsm_input(struct sk_buff *skb)
{
	struct nlmsghdr *nlh = nlmsg_hdr(skb);

	if (skb->len < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > skb->len) {
		atomic64_inc(&frames_dropped);
		return;
	}
	switch (nlh->nlmsg_type) {
	case VHSM_NL_FRAME:
		handle_frame(skb, nlh);
		break;
	case VHSM_NL_REGISTER:
		netlink_ack(skb, nlh, register_server(skb), NULL);
		break;
	case VHSM_NL_SET_SERVER_NS:
		netlink_ack(skb, nlh, set_server_ns(skb), NULL);
		break;
	default:
		atomic64_inc(&frames_refused);
		netlink_ack(skb, nlh, -EOPNOTSUPP, NULL);
	}
}

/*
 * A closed socket: the server's ends its registration; a client's ends its session in keyd.
 * The report names a port, not a socket, and comes after the socket was marked dead and its
 * port freed: only a dead socket's entry is ended here, never that of a live socket that has
 * taken the port over since.
 */
static int vhsm_release(struct notifier_block *nb, unsigned long event, void *ptr)
{
	struct netlink_notify *n = ptr;
	struct vhsm_client *c;
	struct sock *old = NULL;

	if (event != NETLINK_URELEASE || n->protocol != VHSM_NETLINK_PROTOCOL)
		return NOTIFY_DONE;
	spin_lock(&server_lock);
	if (server_sk && sock_net(server_sk) == n->net && server_portid == n->portid &&
	    sock_flag(server_sk, SOCK_DEAD)) {
		old = server_sk;
		server_sk = NULL;
		server_portid = 0;
	}
	spin_unlock(&server_lock);
	if (old)
		sock_put(old);
	spin_lock(&clients_lock);
	c = find_client(n->net->net_cookie, n->portid);
	if (c && sock_flag(c->sk, SOCK_DEAD))
		hash_del(&c->node);
	else
		c = NULL;
	spin_unlock(&clients_lock);
	if (c)
		client_gone(c);
	return NOTIFY_DONE;
}

static struct notifier_block vhsm_release_notifier = {
	.notifier_call = vhsm_release,
};

static int __net_init vhsm_net_init(struct net *net)
{
	struct vhsm_net *vn = net_generic(net, vhsm_net_id);
	struct netlink_kernel_cfg cfg = {
		.input = vhsm_input,
	};

	vn->sk = netlink_kernel_create(net, VHSM_NETLINK_PROTOCOL, &cfg);
	if (!vn->sk)
		return -ENOMEM;
	spin_lock(&server_lock);
	if (server_netns && !server_ns_cookie && net->ns.inum == server_netns)
		server_ns_cookie = net->net_cookie;
	spin_unlock(&server_lock);
	return 0;
}

static void __net_exit vhsm_net_exit(struct net *net)
{
	struct vhsm_net *vn = net_generic(net, vhsm_net_id);

	netlink_kernel_release(vn->sk);
}

static struct pernet_operations vhsm_net_ops = {
	.init = vhsm_net_init,
	.exit = vhsm_net_exit,
	.id = &vhsm_net_id,
	.size = sizeof(struct vhsm_net),
};

/* A kobject of our own under the module's: plain kobj_attributes, stable across kernels. */
static struct kobject *stats_kobj;

struct vhsm_stat {
	struct kobj_attribute attr;
	atomic64_t *value;
};

static ssize_t stat_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lld\n",
			  (long long)atomic64_read(container_of(attr, struct vhsm_stat, attr)->value));
}

#define VHSM_STAT(name) { .attr = __ATTR(name, 0444, stat_show, NULL), .value = &name }
static struct vhsm_stat vhsm_stats[] = {
	VHSM_STAT(frames_forwarded), VHSM_STAT(replies_routed), VHSM_STAT(frames_dropped),
	VHSM_STAT(frames_refused), VHSM_STAT(clients_gone),
};
static struct attribute *vhsm_stat_attrs[ARRAY_SIZE(vhsm_stats) + 1];
static struct attribute_group vhsm_stat_group = {
	.attrs = vhsm_stat_attrs,
};

static int __init vhsm_transport_init(void)
{
	int i, err;

	for (i = 0; i < ARRAY_SIZE(vhsm_stats); i++)
		vhsm_stat_attrs[i] = &vhsm_stats[i].attr.attr;
	get_random_bytes(&clients_hash_key, sizeof(clients_hash_key));
	if (!server_netns)
		server_ns_cookie = init_net.net_cookie;
	err = register_pernet_subsys(&vhsm_net_ops);
	if (err)
		return err;
	if (!server_ns_cookie) {
		pr_err("vhsm_transport: no network namespace with inode %u\n", server_netns);
		err = -ENOENT;
		goto out_pernet;
	}
	err = netlink_register_notifier(&vhsm_release_notifier);
	if (err)
		goto out_pernet;
	stats_kobj = kobject_create_and_add("stats", &THIS_MODULE->mkobj.kobj);
	if (!stats_kobj) {
		err = -ENOMEM;
		goto out_notifier;
	}
	err = sysfs_create_group(stats_kobj, &vhsm_stat_group);
	if (err)
		goto out_kobj;
	pr_info("vhsm_transport: netlink protocol %d, server namespace cookie %llu\n",
		VHSM_NETLINK_PROTOCOL, server_ns_cookie);
	return 0;

out_kobj:
	kobject_put(stats_kobj);
out_notifier:
	netlink_unregister_notifier(&vhsm_release_notifier);
out_pernet:
	unregister_pernet_subsys(&vhsm_net_ops);
	return err;
}

static void __exit vhsm_transport_exit(void)
{
	/* Every socket of the protocol holds a module reference: none is left, the server's
	 * included, so its registration is already over. */
	sysfs_remove_group(stats_kobj, &vhsm_stat_group);
	kobject_put(stats_kobj);
	netlink_unregister_notifier(&vhsm_release_notifier);
	unregister_pernet_subsys(&vhsm_net_ops);
	WARN_ON(server_sk);
	WARN_ON(!hash_empty(vhsm_clients));
}

module_init(vhsm_transport_init);
module_exit(vhsm_transport_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vhsm netlink transport between container network namespaces and vhsm-keyd");
MODULE_ALIAS_NET_PF_PROTO(PF_NETLINK, VHSM_NETLINK_PROTOCOL);
