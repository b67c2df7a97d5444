package epcis

import (
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkParse parses and validates every official example that is
// accepted, round-robin, and reports events/s and bytes/s on one goroutine
// (parse+validate per event; Parse is safe to run in parallel workers at
// the capture edge).
func BenchmarkParse(b *testing.B) {
	docs := acceptedExamples(b)
	events, size := 0, 0
	for _, d := range docs {
		size += len(d)
	}
	b.SetBytes(int64(size / len(docs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		doc, err := Parse(docs[i%len(docs)])
		if err != nil {
			b.Fatal(err)
		}
		events += len(doc.Events)
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(events), "ns/event")
}

// BenchmarkParseParallel is BenchmarkParse on every core (GOMAXPROCS
// goroutines), the way a capture endpoint parses concurrent requests.
func BenchmarkParseParallel(b *testing.B) {
	docs := acceptedExamples(b)
	var events atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i, n := 0, 0
		for pb.Next() {
			doc, err := Parse(docs[i%len(docs)])
			if err != nil {
				b.Error(err)
				return
			}
			i++
			n += len(doc.Events)
		}
		events.Add(int64(n))
	})
	b.ReportMetric(float64(events.Load())/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkParseLarge parses one EPCISDocument of 1,000 ObjectEvents (the
// first event of Example_9.6.1 repeated with distinct serials), the shape
// of a bulk capture request.
func BenchmarkParseLarge(b *testing.B) {
	doc := largeDocument(b, 1000)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(doc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "events/s")
}

func acceptedExamples(tb testing.TB) [][]byte {
	var docs [][]byte
	for _, c := range exampleOutcomes {
		if c.wantEvents == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(examplesDir(tb), filepath.FromSlash(c.file)))
		if err != nil {
			tb.Fatal(err)
		}
		docs = append(docs, b)
	}
	return docs
}
