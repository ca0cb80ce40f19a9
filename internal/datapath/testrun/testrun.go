// Package testrun holds the context a TC program takes from
// BPF_PROG_TEST_RUN, shared by the loaders of golvs's programs that run
// them on frames given to them.
package testrun

// SKB is the head of struct __sk_buff up to gso_size, the last field
// BPF_PROG_TEST_RUN lets a caller set that golvs uses (a shorter context
// is zero-extended; fields it does not let a caller set must be zero).
type SKB struct {
	Len            uint32
	PktType        uint32
	Mark           uint32
	QueueMapping   uint32
	Protocol       uint32
	VlanPresent    uint32
	VlanTCI        uint32
	VlanProto      uint32
	Priority       uint32
	IngressIfindex uint32
	Ifindex        uint32
	TCIndex        uint32
	CB             [5]uint32
	_              [21]uint32 // hash .. data_meta, flow_keys: not settable
	Tstamp         [2]uint32
	WireLen        uint32
	GSOSegs        uint32
	_              [2]uint32 // sk
	GSOSize        uint32
}
