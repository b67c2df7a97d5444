package store

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// benchBlock is the size of one benchmark block: 10,000 small writes, about
// 2,500 transactions of four writes each.
const benchBlock = 10_000

// fillBlock writes benchBlock keys of block n into the working overlay:
// three quarters new keys, one quarter overwriting keys of the previous
// block, and values of ~60 bytes like small canonical JSON documents.
func fillBlock(s *Store, n int) {
	w := s.Working()
	val := make([]byte, 0, 64)
	for i := range benchBlock {
		key := fmt.Sprintf("bench/%08d/%05d", n, i)
		if i%4 == 0 && n > 0 {
			key = fmt.Sprintf("bench/%08d/%05d", n-1, i)
		}
		val = append(val[:0], `{"n":`...)
		val = binary.BigEndian.AppendUint64(val, uint64(n*benchBlock+i))
		val = append(val, `,"pad":"0123456789abcdef0123456789abcdef0123"}`...)
		w.Set(key, val)
	}
}

// BenchmarkFinalizeCommit10k measures FinalizeBlock+Commit of one block of
// 10,000 small writes (the overlay is filled outside the timer) on an
// in-memory filesystem and on disk (one fsync per block).
func BenchmarkFinalizeCommit10k(b *testing.B) {
	for _, c := range []struct {
		name string
		open func(b *testing.B) *Store
	}{
		{"mem", func(b *testing.B) *Store { return MustOpenMem(b) }},
		{"disk", func(b *testing.B) *Store {
			s := MustOpen(b, b.TempDir())
			b.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := c.open(b)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				fillBlock(s, n)
				n++
				b.StartTimer()
				if _, err := s.FinalizeBlock(s.LastHeight() + 1); err != nil {
					b.Fatal(err)
				}
				if err := s.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*benchBlock), "ns/write")
		})
	}
}

// BenchmarkOverlaySet measures buffering one write in a per-transaction
// overlay and flushing it into the block overlay, as the ledger does.
func BenchmarkOverlaySet(b *testing.B) {
	s := MustOpenMem(b)
	block := s.Working()
	val := []byte(`{"a":1,"b":"0123456789abcdef"}`)
	i := 0
	for b.Loop() {
		tx := NewOverlay(block)
		tx.Set(fmt.Sprintf("o/%09d", i), val)
		tx.Flush(block)
		i++
		if block.Len() >= benchBlock {
			block.Discard()
		}
	}
}

// BenchmarkProof measures building the proof of one write in a block of
// 10,000 writes.
func BenchmarkProof(b *testing.B) {
	s := MustOpenMem(b)
	fillBlock(s, 0)
	if _, err := s.FinalizeBlock(1); err != nil {
		b.Fatal(err)
	}
	if err := s.Commit(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := s.Proof("bench/00000000/04242"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlocksCPU commits 40 blocks shaped like bench epcis's (42,000
// writes each: keys of ~55 bytes, values of ~100 bytes, a quarter of them
// overwriting keys of earlier blocks) on disk and reports the process's CPU
// time per write (user + system, every goroutine: Pebble's flushes and
// compactions included), which wall time alone would hide.
func BenchmarkBlocksCPU(b *testing.B) {
	const blocks, perBlock = 40, 42_000
	for b.Loop() {
		b.StopTimer()
		s := MustOpen(b, b.TempDir())
		cpu0 := processCPU()
		b.StartTimer()
		val := make([]byte, 0, 128)
		for n := range blocks {
			w := s.Working()
			for i := range perBlock {
				key := fmt.Sprintf("sup/i/urn:epc:id:sgtin:0614141.107346.%010d", n*perBlock+i)
				if i%4 == 0 && n > 0 {
					key = fmt.Sprintf("sup/i/urn:epc:id:sgtin:0614141.107346.%010d", (n-1)*perBlock+i)
				}
				val = append(val[:0], "acme-logistics|active|urn:epc:id:sgln:0614141.00001.0|"...)
				val = binary.BigEndian.AppendUint64(val, uint64(n*perBlock+i))
				val = append(val, "|LOT-2026-0001|2027-06-30|in_progress|acme"...)
				w.Set(key, val)
			}
			if _, err := s.FinalizeBlock(s.LastHeight() + 1); err != nil {
				b.Fatal(err)
			}
			if err := s.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.Close(); err != nil { // waits for flushes in progress
			b.Fatal(err)
		}
		b.StopTimer()
		b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(blocks*perBlock), "cpu-ns/write")
		b.StartTimer()
	}
}

// processCPU is the CPU time this process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
