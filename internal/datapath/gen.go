package datapath

// The BPF objects are generated from bpf/*.c and committed, so a build needs
// no C toolchain. Regenerate after changing bpf/ with
//
//	go generate ./internal/datapath
//
// which needs clang-19 (Debian's clang-19 package) and libbpf-dev. The
// compiler is named in the lines below (go:generate expands no ${VAR:-x}
// defaults, and BPF2GO_CC would lose to -cc anyway) so that everyone
// produces byte-identical objects and CI can check them with git diff
// after regenerating. To try another compiler once, run bpf2go by hand
// with -cc.

//go:generate go tool bpf2go -cc clang-19 -cflags "-O2 -g -Wall -Werror -mcpu=v3" -target bpfel -type lvs_abi -type lvs_family -type lvs_sched -type lvs_svc_flags -type lvs_method -type lvs_real_flags -type lvs_tcp_state -type lvs_conn_flags -type lvs_counter -type lvs_service_key -type lvs_service -type lvs_real -type lvs_real_conns -type lvs_stats -type lvs_tuple -type lvs_conn -type lvs_lblc_key -type lvs_lblc_entry -type lvs_tmpl -type lvs_tmpl_state -type lvs_tun_type -type lvs_tun_flags -type lvs_frag_key -type lvs_frag -type lvs_setting_flags lvs ../../bpf/lvs.c -- -I../../bpf/include
