package sim

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// This file binds the hosts' listeners. A real pool's hosts each have their own IP and
// all listen on port 80 (HTTP) and 443 (HTTPS), which is why xapi names a host by its
// bare IP (host.address, HOST_IS_SLAVE) and clients keep the port they dialled. The
// simulator does the same on the loopback network (127.0.0.0/8 is all local on Linux):
// hosts without a fixed address get 127.0.0.1, 127.0.0.2, ... on one free port.

// tlsPortOffset places a fixed-address host's HTTPS port, as 443 is to 80.
const tlsPortOffset = 443 - 80

// listenAll binds every host at Start: scenario addresses as given, the others (all of
// them with FreePorts) on distinct loopback IPs sharing one free port (and one more
// free port for HTTPS with TLS).
func (w *World) listenAll() error {
	var free []*Host
	for _, p := range w.pools {
		for _, h := range p.hosts {
			if w.opts.FreePorts || h.addr == "" {
				free = append(free, h)
				continue
			}
			l, err := net.Listen("tcp", h.addr)
			if err != nil {
				return fmt.Errorf("host %s of pool %s: listen on %s: %w", h.Name, p.Name, h.addr, err)
			}
			h.bound = l.Addr().String()
			h.serve(l, nil)
			if w.opts.TLS {
				ip, port, _ := net.SplitHostPort(h.bound)
				n, _ := strconv.Atoi(port)
				addr := net.JoinHostPort(ip, strconv.Itoa(n+tlsPortOffset))
				tl, err := net.Listen("tcp", addr)
				if err != nil {
					return fmt.Errorf("host %s of pool %s: listen for HTTPS on %s: %w", h.Name, p.Name, addr, err)
				}
				h.tlsBound = tl.Addr().String()
				h.serve(tl, w.ca.serverConfig(h))
			}
		}
	}
	if len(free) == 0 {
		return nil
	}
	ips := make([]string, len(free))
	for i := range free {
		ips[i] = loopbackIP(i)
	}
	ls, err := listenShared(ips)
	if err != nil {
		return fmt.Errorf("hosts: %w", err)
	}
	for i, h := range free {
		h.bound = ls[i].Addr().String()
		h.serve(ls[i], nil)
	}
	if w.opts.TLS {
		ips = ips[:0]
		for _, h := range free {
			ip, _, _ := net.SplitHostPort(h.bound)
			ips = append(ips, ip)
		}
		ls, err := listenShared(ips)
		if err != nil {
			return fmt.Errorf("hosts (HTTPS): %w", err)
		}
		for i, h := range free {
			h.tlsBound = ls[i].Addr().String()
			h.serve(ls[i], w.ca.serverConfig(h))
		}
	}
	return nil
}

// loopbackIP is the i-th host's address: 127.0.0.1 to 127.0.0.254, then 127.0.1.1...
func loopbackIP(i int) string {
	return fmt.Sprintf("127.0.%d.%d", i/254, i%254+1)
}

// listenShared binds one port on every IP, retrying with another port when one of the
// IPs has it taken. Where only 127.0.0.1 exists (not Linux), each IP after the first
// falls back to 127.0.0.1 on a port of its own; Host.Address then says ip:port.
func listenShared(ips []string) ([]net.Listener, error) {
	var last error
	for attempt := 0; attempt < 100; attempt++ {
		first, err := net.Listen("tcp", net.JoinHostPort(ips[0], "0"))
		if err != nil {
			return nil, err
		}
		_, port, _ := net.SplitHostPort(first.Addr().String())
		ls := []net.Listener{first}
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, port))
			if errors.Is(err, syscall.EADDRNOTAVAIL) {
				l, err = net.Listen("tcp", "127.0.0.1:0")
			}
			if err != nil {
				last = err
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == len(ips) {
			return ls, nil
		}
		for _, l := range ls {
			_ = l.Close()
		}
	}
	return nil, fmt.Errorf("no port free on all of %s...%s: %w", ips[0], ips[len(ips)-1], last)
}

// serve answers XML-RPC and JSON-RPC on l, over TLS when conf is set.
func (h *Host) serve(l net.Listener, conf *tls.Config) {
	if conf != nil {
		l = tls.NewListener(l, conf)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog}
	h.srvs = append(h.srvs, srv)
	go func() { _ = srv.Serve(l) }()
}

// relisten binds the host's addresses again (a site coming back up).
func (h *Host) relisten() error {
	l, err := net.Listen("tcp", h.bound)
	if err != nil {
		return fmt.Errorf("host %s of pool %s: listen on %s: %w", h.Name, h.pool.Name, h.bound, err)
	}
	h.serve(l, nil)
	if h.tlsBound != "" {
		tl, err := net.Listen("tcp", h.tlsBound)
		if err != nil {
			return fmt.Errorf("host %s of pool %s: listen for HTTPS on %s: %w", h.Name, h.pool.Name, h.tlsBound, err)
		}
		h.serve(tl, h.pool.w.ca.serverConfig(h))
	}
	return nil
}

func (h *Host) stop() {
	for _, srv := range h.srvs {
		_ = srv.Close()
	}
	h.srvs = nil
}
