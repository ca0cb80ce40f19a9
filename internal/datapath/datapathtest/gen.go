package datapathtest

// The benchmark object, bpf/bench.c, is generated here rather than in
// internal/datapath so that only tests and benchmarks embed it, never
// lvsd. Regenerate it, with the other objects, by
//
//	go generate ./internal/datapath/...
//
// with the compiler and flags internal/datapath/gen.go explains.

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type bench_frame bench ../../../bpf/bench.c -- -I../../../bpf/include
