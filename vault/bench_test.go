package vault

import (
	"fmt"
	"testing"
)

// benchItems returns n resources of about size bytes, with record ids
// distinct across calls (round r).
func benchItems(r, n, size int) []Item {
	items := make([]Item, n)
	for i := range items {
		id := fmt.Sprintf("Observation/r%06d-%04d", r, i)
		items[i] = Item{id, 1, resource(id, 1, size)}
	}
	return items
}

// BenchmarkPutBatch stores batches of 1000 resources of 2 KB on disk, one
// synced Pebble batch each, as an ingest does. It reports plaintext MB/s
// and items/s.
func BenchmarkPutBatch(b *testing.B) {
	const n, size = 1000, 2 << 10
	for _, fresh := range []bool{true, false} {
		name := "new records"
		if !fresh {
			name = "new versions"
		}
		b.Run(name, func(b *testing.B) {
			v := MustOpen(b, b.TempDir(), MustKEK(b, "kek-1", 1))
			base := benchItems(0, n, size)
			if !fresh {
				if _, err := v.PutBatch(base); err != nil {
					b.Fatal(err)
				}
			}
			rounds := make([][]Item, 0, b.N)
			for r := range b.N {
				items := benchItems(r+1, n, size)
				if !fresh {
					for i := range items {
						items[i] = Item{base[i].RecordID, r + 2, items[i].Plaintext}
					}
				}
				rounds = append(rounds, items)
			}
			b.SetBytes(int64(n * size))
			b.ResetTimer()
			for _, items := range rounds {
				if _, err := v.PutBatch(items); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "items/s")
		})
	}
}

// BenchmarkGet reads 2 KB resources back with their hash check.
func BenchmarkGet(b *testing.B) {
	const n, size = 1000, 2 << 10
	v := MustOpen(b, b.TempDir(), MustKEK(b, "kek-1", 1))
	items := benchItems(0, n, size)
	hashes, err := v.PutBatch(items)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		it := items[i%n]
		if _, err := v.Get(it.RecordID, it.Version, hashes[i%n]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}

// BenchmarkPut stores one 2 KB resource per synced write, for comparison
// with PutBatch.
func BenchmarkPut(b *testing.B) {
	const size = 2 << 10
	v := MustOpen(b, b.TempDir(), MustKEK(b, "kek-1", 1))
	items := benchItems(0, b.N, size)
	b.SetBytes(size)
	b.ResetTimer()
	for _, it := range items {
		if _, err := v.Put(it.RecordID, it.Version, it.Plaintext); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
}
