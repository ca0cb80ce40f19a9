package testnet

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// bpf(2) commands and attach types used here (include/uapi/linux/bpf.h).
const (
	bpfProgQuery  = 16 // BPF_PROG_QUERY
	bpfTCXIngress = 46 // BPF_TCX_INGRESS
	bpfTCXEgress  = 47 // BPF_TCX_EGRESS
)

// progQueryAttr is union bpf_attr's BPF_PROG_QUERY member.
type progQueryAttr struct {
	TargetIfindex   uint32
	AttachType      uint32
	QueryFlags      uint32
	AttachFlags     uint32
	ProgIDs         uint64
	ProgCnt         uint32
	_               uint32
	ProgAttachFlags uint64
	LinkIDs         uint64
	LinkAttachFlags uint64
	Revision        uint64
}

// TCXPrograms returns how many BPF programs are attached to link of the
// namespace through TCX, on ingress and on egress. (tc does not show TCX
// attachments, nor does every bpftool; the kernel answers BPF_PROG_QUERY.)
func (ns *Namespace) TCXPrograms(link string) (ingress, egress int, err error) {
	err = ns.in(func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return err
		}
		for _, q := range []struct {
			attach uint32
			n      *int
		}{{bpfTCXIngress, &ingress}, {bpfTCXEgress, &egress}} {
			attr := progQueryAttr{TargetIfindex: uint32(ifi.Index), AttachType: q.attach}
			if _, _, errno := unix.Syscall(unix.SYS_BPF, bpfProgQuery, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)); errno != 0 {
				return fmt.Errorf("query tcx programs of %s: %w", link, errno)
			}
			*q.n = int(attr.ProgCnt)
		}
		return nil
	}, func() {})
	return ingress, egress, err
}
