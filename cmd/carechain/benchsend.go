package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	cc "carechain"
	"carechain/access"
	"carechain/client"
)

// The read benchmark's load generator runs on the node's cores, so what it
// spends per read is taken from the node. Two of its costs are not the
// node's in a real deployment and can be kept out of the measured window:
//
//   - signing: a patient's device signs its read requests. With --presign
//     every read of the run is signed (client.SignFHIRRead) before the
//     clock starts, each good for one read within access.ReadWindow.
//   - the HTTP client: net/http's Transport hands each request and answer
//     between goroutines (a connection's read and write loops) and keeps a
//     connection pool. With --http raw each sender keeps one keep-alive
//     connection of its own, writes the request line and headers itself
//     and parses the answer with net/http's http.ReadResponse.
//
// The requests are the same either way: GET /fhir/{Type}/{id} with the
// signed request in the Carechain-Read header, as client.ReadFHIR sends.

// readSender sends signed FHIR reads. Each sender goroutine has its own.
type readSender interface {
	send(ctx context.Context, sr access.SignedRead, path string) error
	close()
}

// clientSender sends through the carechain client (net/http's Transport,
// shared by all senders).
type clientSender struct{ c *client.Client }

func (s clientSender) send(ctx context.Context, sr access.SignedRead, path string) error {
	_, err := s.c.SendFHIRRead(ctx, sr, path)
	return err
}

func (clientSender) close() {}

// rawSender sends over one keep-alive HTTP/1.1 connection of its own,
// dialled on first use and again after an error or a "Connection: close".
type rawSender struct {
	host string // 127.0.0.1:port
	conn net.Conn
	br   *bufio.Reader
	req  []byte       // the request being written, reused
	body bytes.Buffer // the answer's body, reused
	stop func() bool  // unregisters the close on ctx's end
}

// newRawSender returns a sender to base ("http://host:port").
func newRawSender(base string) *rawSender {
	return &rawSender{host: strings.TrimPrefix(base, "http://")}
}

func (s *rawSender) send(ctx context.Context, sr access.SignedRead, path string) error {
	if s.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", s.host)
		if err != nil {
			return cc.E("bench.read", cc.Unavailable, err)
		}
		s.conn, s.br = conn, bufio.NewReaderSize(conn, 16<<10)
		s.stop = context.AfterFunc(ctx, func() { conn.Close() })
	}
	b := append(s.req[:0], "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, s.host...)
	b = append(b, "\r\n"+access.HeaderRead+": "...)
	b = append(b, sr.Header()...)
	b = append(b, "\r\nAccept: application/fhir+json\r\n\r\n"...)
	s.req = b
	if _, err := s.conn.Write(b); err != nil {
		s.close()
		return cc.E("bench.read", cc.Unavailable, err)
	}
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		s.close()
		return cc.E("bench.read", cc.Unavailable, err)
	}
	s.body.Reset()
	_, err = s.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		s.close()
	}
	if err != nil {
		return cc.E("bench.read", cc.Unavailable, err)
	}
	if resp.StatusCode >= 400 {
		return client.OutcomeError("GET "+path, resp.StatusCode, s.body.Bytes())
	}
	return nil
}

func (s *rawSender) close() {
	if s.conn != nil {
		s.stop()
		s.conn.Close()
		s.conn, s.br = nil, nil
	}
}

// presigned holds read requests signed before the run: bySender[k][j]
// for sender k's j-th read of a closed loop, byRead[n] for read n of an
// open one. Each is used once, by the one goroutine that makes that read;
// a read beyond them is signed when it is made.
type presigned struct {
	bySender [][]access.SignedRead
	byRead   []access.SignedRead
}

// sender returns sender k's j-th request signed ahead, or none.
func (p *presigned) sender(k, j int) access.SignedRead {
	if k < len(p.bySender) && j < len(p.bySender[k]) {
		return p.bySender[k][j]
	}
	return access.SignedRead{}
}

// read returns read n's request signed ahead, or none.
func (p *presigned) read(n int) access.SignedRead {
	if n < len(p.byRead) {
		return p.byRead[n]
	}
	return access.SignedRead{}
}

// count is how many requests were signed ahead.
func (p *presigned) count() int {
	n := len(p.byRead)
	for _, rs := range p.bySender {
		n += len(rs)
	}
	return n
}

// presign signs, with --presign, every read the run will make (a closed
// loop: as many per reader as fit in --duration at one read per block —
// a read waits for its access event's block — and a few more; an open
// loop: rate × duration) on every core, before the clock starts. sign
// signs reader r's read of its record i; a closed loop's sender k makes
// reader k's reads of records k×7, k×7+1, …; an open loop's read n is
// reader n's of record n / readers.
func presign(ctx context.Context, o benchRecordsOptions, readers int, sign func(r, i int) (access.SignedRead, error)) (*presigned, error) {
	p := &presigned{}
	if !o.presign {
		return p, nil
	}
	type job struct {
		out  *access.SignedRead
		r, i int
	}
	var jobs []job
	if o.rate > 0 {
		p.byRead = make([]access.SignedRead, int(o.rate*o.duration.Seconds())+1)
		for n := range p.byRead {
			jobs = append(jobs, job{&p.byRead[n], n, n / readers})
		}
	} else {
		per := int(o.duration/timeoutCommit(o)) + 4
		p.bySender = make([][]access.SignedRead, o.readers)
		for k := range p.bySender {
			p.bySender[k] = make([]access.SignedRead, per)
			for j := range per {
				jobs = append(jobs, job{&p.bySender[k][j], k, k*7 + j})
			}
		}
	}
	fmt.Fprintf(os.Stderr, "signing %d reads ahead (--presign)…\n", len(jobs))
	var wg sync.WaitGroup
	var first atomic.Value
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Go(func() {
			for x := w; x < len(jobs) && ctx.Err() == nil; x += workers {
				sr, err := sign(jobs[x].r, jobs[x].i)
				if err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
				*jobs[x].out = sr
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return nil, err
	}
	return p, ctx.Err()
}
