// SPDX-License-Identifier: (GPL-2.0-only OR MIT)
/*
 * bench.c holds the programs that let BPF_PROG_TEST_RUN's repeat loop time
 * one path of lvs_ingress or lvs_xdp. test_run hands the same skb (or
 * xdp_buff) to every repeat, so a rewriting program would meet its own
 * output from the second repeat on: bench_restore (TC) and
 * bench_xdp_restore (XDP) put the original frame back (optionally giving
 * each repeat a new client address, so every repeat is a new flow) and
 * tail-call the program under test. bench_floor and bench_xdp_floor are
 * the floor to compare against: a trivial rewrite-and-forward (MAC swap,
 * TTL-1 with checksum, redirect), run behind the same restore step.
 *
 * bench_restore does not undo a TC tunnel encapsulation: the skb keeps
 * the encapsulation mark bpf_skb_adjust_room gave it, which no helper
 * clears, and the next repeat's encapsulation would fail (-EALREADY).
 * Those paths run one repeat per test run (BenchOptions.CallPerPacket).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "csum.h"
#include "parse.h"

char _license[] SEC("license") = "Dual MIT/GPL";

#define BENCH_FRAME_MAX 128

/* struct bench_frame is the frame the restore programs restore. */
struct bench_frame {
	__u32 len;   /* bytes of data to restore, <= BENCH_FRAME_MAX */
	__u32 vary;  /* non-zero: a new IPv4 source and TCP/UDP port per repeat */
	__u32 seq;   /* the counter */
	__u32 pad;
	__u8 data[BENCH_FRAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_frame);
} bench_frames SEC(".maps");

/* The program under test, one array per program type: a prog array takes
 * the type of the first program that uses it. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_progs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_xdp_progs SEC(".maps");

/*
 * bench_vary gives the restored frame (data..end) repeat f->seq's source.
 * The counter's low 16 bits are the source port, the rest move the
 * address within its /15 (198.18.0.0/15 stays in range), one past the
 * frame's own at least: that one has primed connections, which a repeat
 * would find rather than make a new one. The checksums go
 * stale; nothing checks them, and incremental updates cost the same on
 * any value. Direct writes, not two more helper calls, so the new-flow
 * rows carry little more harness cost than the others (see
 * restore_new_flow).
 */
static __always_inline int bench_vary(struct bench_frame *f, void *data, void *end)
{
	__u8 *pkt = data;
	__u32 seq = f->seq++;
	__u32 src = bpf_ntohl(*(__be32 *)&f->data[LVS_ETH_HLEN + 12]);

	if ((void *)(pkt + LVS_ETH_HLEN + 22) > end)
		return -1;
	*(__be32 *)(pkt + LVS_ETH_HLEN + 12) = bpf_htonl((src & ~0x1ffffu) | ((src + 1 + (seq >> 16)) & 0x1ffffu));
	*(__be16 *)(pkt + LVS_ETH_HLEN + 20) = bpf_htons((__u16)seq);
	return 0;
}

SEC("tc")
int bench_restore(struct __sk_buff *skb)
{
	__u32 zero = 0, len;
	struct bench_frame *f = bpf_map_lookup_elem(&bench_frames, &zero);

	if (!f)
		return TC_ACT_SHOT;
	len = f->len;
	if (len == 0 || len > BENCH_FRAME_MAX)
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 0, f->data, len, 0))
		return TC_ACT_SHOT;
	if (f->vary && bench_vary(f, (void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_SHOT;
	bpf_tail_call(skb, &bench_progs, 0);
	return TC_ACT_SHOT;
}

/*
 * bench_xdp_restore is bench_restore for XDP. The xdp_buff keeps the last
 * repeat's start of data: where a tunnel encapsulation prepended its
 * header (bpf_xdp_adjust_head), that room is given back first.
 */
SEC("xdp")
int bench_xdp_restore(struct xdp_md *ctx)
{
	__u32 zero = 0, len;
	struct bench_frame *f = bpf_map_lookup_elem(&bench_frames, &zero);
	__s32 grown;

	if (!f)
		return XDP_ABORTED;
	len = f->len;
	if (len == 0 || len > BENCH_FRAME_MAX)
		return XDP_ABORTED;
	grown = (__s32)bpf_xdp_get_buff_len(ctx) - (__s32)len;
	if (grown && bpf_xdp_adjust_head(ctx, grown))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, f->data, len))
		return XDP_ABORTED;
	if (f->vary && bench_vary(f, (void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &bench_xdp_progs, 0);
	return XDP_ABORTED;
}

/* bench_rewrite is the floor's work on the frame data..end: MAC swap and
 * TTL-1 with its checksum. */
static __always_inline int bench_rewrite(void *data, void *end)
{
	struct lvs_ethhdr *eth = data;
	struct lvs_iphdr *ip = data + LVS_ETH_HLEN;
	__u8 mac[6];
	__u16 old;
	__u64 s;

	if ((void *)(ip + 1) > end)
		return -1;
	__builtin_memcpy(mac, eth->dst, 6);
	__builtin_memcpy(eth->dst, eth->src, 6);
	__builtin_memcpy(eth->src, mac, 6);
	old = *(__u16 *)&ip->ttl;
	ip->ttl--;
	s = lvs_csum_start(ip->check);
	s = lvs_csum_add16(s, old, *(__u16 *)&ip->ttl);
	ip->check = lvs_csum_finish(s);
	return 0;
}

SEC("tc")
int bench_floor(struct __sk_buff *skb)
{
	if (bench_rewrite((void *)(long)skb->data, (void *)(long)skb->data_end))
		return TC_ACT_OK;
	return bpf_redirect(skb->ifindex, 0);
}

SEC("xdp")
int bench_xdp_floor(struct xdp_md *ctx)
{
	if (bench_rewrite((void *)(long)ctx->data, (void *)(long)ctx->data_end))
		return XDP_PASS;
	return bpf_redirect(ctx->ingress_ifindex, 0);
}

SEC("tc")
int bench_nop(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("xdp")
int bench_xdp_nop(struct xdp_md *ctx)
{
	return XDP_PASS;
}
