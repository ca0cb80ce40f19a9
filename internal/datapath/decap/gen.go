package decap

// The BPF object is generated from bpf/decap.c and committed, as the data
// plane's is (see internal/datapath/gen.go for the compiler and flags).

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type decap_abi -type decap_family -type decap_tunnel -type decap_counter -type decap_vip_key -type decap_config decap ../../../bpf/decap.c -- -I../../../bpf/include
