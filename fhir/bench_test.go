package fhir

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// syntheaBundles reads every Synthea patient bundle once per benchmark.
func syntheaBundles(b *testing.B) (raws [][]byte, resources, size int) {
	b.Helper()
	files, _ := filepath.Glob(filepath.Join(testdataDir(b, "synthea", "patients"), "*.json"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		raws = append(raws, raw)
		resources += len(mustParseBundle(b, raw).Entries)
		size += len(raw)
	}
	return raws, resources, size
}

// BenchmarkParseBundle reports the validating parse rate of the Synthea
// patient bundles (resources/s) with one worker and with one per CPU.
func BenchmarkParseBundle(b *testing.B) {
	raws, resources, size := syntheaBundles(b)
	// The library alone, validating each bundle whole: the floor.
	b.Run("library", func(b *testing.B) {
		b.SetBytes(int64(size))
		for i := 0; i < b.N; i++ {
			for _, raw := range raws {
				if issues := validate(raw); hasErrors(issues) {
					b.Fatal(issues)
				}
			}
		}
		b.ReportMetric(float64(resources*b.N)/b.Elapsed().Seconds(), "resources/s")
	})
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				for _, raw := range raws {
					if _, err := ParseBundleParallel(raw, workers); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(resources*b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}

// BenchmarkResolve reports the rate of Resolve (reference rewriting and
// the second validation of the typed result) on the same bundles.
func BenchmarkResolve(b *testing.B) {
	raws, resources, _ := syntheaBundles(b)
	var bundles []*Bundle
	for _, raw := range raws {
		bundles = append(bundles, mustParseBundle(b, raw))
	}
	n := 0
	newID := func(string) string { n++; return "id" + strconv.Itoa(n) }
	// Every conditional reference resolves to some stored provider.
	lookup := func(typ, ident string) (string, bool) {
		if strings.HasPrefix(ident, fullURLSystem) {
			return "", false // never loaded before: create everything
		}
		return "p" + strconv.Itoa(len(ident)), true
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, bu := range bundles {
			if _, err := Resolve(bu, lookup, newID); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(resources*b.N)/b.Elapsed().Seconds(), "resources/s")
}
