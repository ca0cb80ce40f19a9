package decaptest

// The BPF object is generated from bpf/decap_test.c and committed, as the
// data plane's is (see internal/datapath/gen.go for the compiler and
// flags).

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type decap_family -type decap_vip_key -type decap_test_tunnel decapTest ../../../../bpf/decap_test.c -- -I../../../../bpf/include
