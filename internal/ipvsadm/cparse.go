package ipvsadm

import (
	"math"
	"net/netip"
	"strings"
)

// The C library's number and address parsers, as ipvsadm relies on them:
// what they accept (leading blanks, signs, octal and hex dotted quads) is part
// of ipvsadm's command line.

func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// strtol10 parses s as strtol(s, &end, 10) does. It returns the value
// (clamped on overflow), how many bytes were consumed (0 when no digits were
// found) and whether the value overflowed (errno == ERANGE).
func strtol10(s string) (n int64, used int, overflow bool) {
	i := 0
	for i < len(s) && isCSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	var u uint64
	for i < len(s) && isDigit(s[i]) {
		d := uint64(s[i] - '0')
		if u > (math.MaxUint64-d)/10 {
			overflow = true
		} else {
			u = u*10 + d
		}
		i++
	}
	if i == start {
		return 0, 0, false
	}
	switch {
	case !neg && (overflow || u > math.MaxInt64):
		return math.MaxInt64, i, true
	case neg && (overflow || u > 1<<63):
		return math.MinInt64, i, true
	case neg:
		return -int64(u), i, false
	}
	return int64(u), i, false
}

// stringToNumber is ipvsadm's string_to_number: the whole string must be a
// base-10 number within [min, max]; it returns -1 otherwise.
func stringToNumber(s string, min, max int64) int64 {
	n, used, overflow := strtol10(s)
	if used == 0 || used != len(s) || overflow || n < min || n > max {
		return -1
	}
	return n
}

// atoi is glibc's atoi, (int)strtol(s, NULL, 10): the leading number,
// anything after it ignored, 0 if none, clamped to a long on overflow and
// then cut to an int's low 32 bits, so 4294967360 is 64 and
// 9223372036854775808 (LONG_MAX after clamping) is -1.
func atoi(s string) int32 {
	n, _, _ := strtol10(s)
	return int32(n)
}

// strIsDigit is ipvsadm's str_is_digit: true for an empty string too.
func strIsDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// strtoul0 parses an unsigned number with C's base prefixes (0x hex,
// 0 octal) from the start of s, as strtoul(s, &end, 0) does for a string
// that starts with a digit. It returns the value, the bytes consumed and
// whether it overflowed 32 bits.
func strtoul0(s string) (v uint64, used int, big bool) {
	base := uint64(10)
	i := 0
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		if len(s) > 2 && hexVal(s[2]) >= 0 {
			base, i = 16, 2
		} else {
			return 0, 1, false // "0x" alone: just the 0
		}
	} else if strings.HasPrefix(s, "0") {
		base = 8
	}
	start := i
	for i < len(s) {
		d := hexVal(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		v = v*base + uint64(d)
		if v > math.MaxUint32 {
			big = true
			v = math.MaxUint32 + 1
		}
		i++
	}
	if i == start {
		return 0, 0, false
	}
	return v, i, big
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// inetAton is glibc's inet_aton: one to four parts separated by dots, each
// decimal, octal (leading 0) or hex (0x), the last part filling the
// remaining bytes ("198.18" is 198.0.0.18); trailing blanks end the address.
func inetAton(s string) (netip.Addr, bool) {
	var parts []uint64
	i := 0
	var val uint64
	for {
		if i >= len(s) || !isDigit(s[i]) {
			return netip.Addr{}, false
		}
		v, used, big := strtoul0(s[i:])
		if big {
			return netip.Addr{}, false
		}
		val = v
		i += used
		if i < len(s) && s[i] == '.' {
			if len(parts) > 2 || val > 0xff {
				return netip.Addr{}, false
			}
			parts = append(parts, val)
			i++
			continue
		}
		break
	}
	if i < len(s) && !isCSpace(s[i]) {
		return netip.Addr{}, false
	}
	max := [...]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}
	if val > max[len(parts)] {
		return netip.Addr{}, false
	}
	for j, p := range parts {
		val |= p << (24 - 8*j)
	}
	return netip.AddrFrom4([4]byte{byte(val >> 24), byte(val >> 16), byte(val >> 8), byte(val)}), true
}

// inetPton6 is inet_pton(AF_INET6, ...): a textual IPv6 address, no zone.
func inetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// inetPton4 is inet_pton(AF_INET, ...): a strict dotted quad.
func inetPton4(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// inetNtop is glibc's inet_ntop. An IPv6 address is in Go's RFC 5952
// form but for one case: glibc's inet_ntop6 writes an IPv4-compatible
// address (96 zero bits, then a nonzero word) as ::a.b.c.d, where Go
// writes two hex words.
func inetNtop(a netip.Addr) string {
	if a.Is6() && !a.Is4In6() {
		b := a.As16()
		var zero [12]byte
		if [12]byte(b[:12]) == zero && (b[12] != 0 || b[13] != 0) {
			return "::" + netip.AddrFrom4([4]byte(b[12:])).String()
		}
	}
	return a.String()
}
