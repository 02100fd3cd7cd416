// The node cluster self-test's probe: a static binary that is the whole image.
//
//	probe serve PORT       answer every TCP connection with one line naming this host
//	probe check NAME PORT  resolve NAME (the pod's resolv.conf: the cluster's dnsmasq and
//	                       search domains), connect to NAME:PORT, expect that line
//
// Pure Go (CGO_ENABLED=0): its resolver reads /etc/resolv.conf itself, so the image needs
// no libc and no NSS configuration.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

const banner = "eg-harness-probe"

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: probe serve PORT | probe check NAME PORT")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		serve(os.Args[2])
	case "check":
		if len(os.Args) != 4 {
			os.Exit(2)
		}
		os.Exit(check(os.Args[2], os.Args[3]))
	default:
		os.Exit(2)
	}
}

func serve(port string) {
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	host, _ := os.Hostname()
	fmt.Println("serving on", port)
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		fmt.Fprintf(conn, "%s %s\n", banner, host)
		conn.Close()
	}
}

func check(name, port string) int {
	addrs, err := net.LookupHost(name)
	if err != nil {
		fmt.Println("resolve failed:", err)
		return 1
	}
	fmt.Println("resolved", name, "to", strings.Join(addrs, ","))
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(name, port), 5*time.Second)
	if err != nil {
		fmt.Println("connect failed:", err)
		return 1
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, banner) {
		fmt.Printf("unexpected answer %q (%v)\n", line, err)
		return 1
	}
	fmt.Print("answer: ", line)
	return 0
}
