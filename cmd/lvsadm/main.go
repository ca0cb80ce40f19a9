// Command lvsadm administers lvsd with ipvsadm 1.31's command line.
package main

import (
	"os"

	"golvs/internal/ipvsadm"
)

func main() { os.Exit(ipvsadm.Main(os.Args, os.Stdin, os.Stdout, os.Stderr)) }
