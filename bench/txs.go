package bench

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"

	"carechain/identity"
	"carechain/ledger/tx"
	"carechain/seed"
)

// registerPayload is the payload of patient.register.
type registerPayload struct {
	PublicKey string `json:"public_key"`
}

// PatientRegister returns the i-th benchmark transaction: a patient.register
// signed by a fresh deterministic key (seed.DeriveKey(seedStr, "i")) at
// sequence 0, so every transaction is from a new signer and all of them
// are independent.
func PatientRegister(chainID, seedStr string, i int) ([]byte, error) {
	k := seed.DeriveKey(seedStr, fmt.Sprint(i))
	pub := k.Public().(ed25519.PublicKey)
	return tx.Build(chainID, tx.DeriveDID(pub), k, 0, identity.TypePatientRegister, registerPayload{PublicKey: tx.EncodeKey(pub)})
}

// PatientRegisterTxs builds PatientRegister(chainID, seedStr, i) for i in
// [0, n), on every core.
func PatientRegisterTxs(chainID, seedStr string, n int) ([][]byte, error) {
	out := make([][]byte, n)
	var mu sync.Mutex
	var first error
	parallel(n, func(i int) {
		b, err := PatientRegister(chainID, seedStr, i)
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
			return
		}
		out[i] = b
	})
	return out, first
}

// KVTxs returns n distinct kvstore transactions "key=value" of size bytes
// each (at least 32): the key is tag and the index, the value filler
// without '=' or ':'.
func KVTxs(tag string, n, size int) [][]byte {
	out := make([][]byte, n)
	parallel(n, func(i int) {
		b := fmt.Appendf(make([]byte, 0, max(size, 32)), "%s-%09d=", tag, i)
		for j := 0; len(b) < size; j++ {
			b = append(b, 'a'+byte((i+j)%26))
		}
		out[i] = b
	})
	return out
}

// parallel calls fn(i) for i in [0, n) on GOMAXPROCS goroutines.
func parallel(n int, fn func(i int)) {
	w := min(runtime.GOMAXPROCS(0), max(n, 1))
	var wg sync.WaitGroup
	chunk := (n + w - 1) / w
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
