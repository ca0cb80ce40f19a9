package api

import (
	"net"
	"syscall"
)

// listenPrivate listens on a unix socket that only its owner can use.
func listenPrivate(path string) (net.Listener, error) {
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}
