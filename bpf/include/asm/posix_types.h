/* SPDX-License-Identifier: GPL-2.0 */
/* Debian installs the arch asm/ headers under /usr/include/<triplet>, which
 * clang -target bpf does not search; the generic ones are what BPF needs. */
#include <asm-generic/posix_types.h>
