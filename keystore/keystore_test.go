package keystore_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	cc "carechain"
	"carechain/keystore"
	"carechain/ledger/tx"
)

const pass = "correct horse battery staple"

// newStore returns a Store in a fresh directory with the cheap demo cost.
func newStore(t *testing.T) *keystore.Store {
	t.Helper()
	s, err := keystore.Open(filepath.Join(t.TempDir(), "keys"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.SetScryptN(keystore.MinScryptN)
	return s
}

func newPriv(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// wantKind fails t unless err is a *carechain.Error of kind want.
func wantKind(t *testing.T, err error, want cc.Kind) {
	t.Helper()
	if got := cc.KindOf(err); got != want {
		t.Fatalf("error kind = %v (%v), want %v", got, err, want)
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "keys")
	if _, err := keystore.Open(dir); err != nil {
		t.Fatalf("Open: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Errorf("dir mode = %v, want %v", got, want)
	}
	if _, err := keystore.Open(dir); err != nil {
		t.Errorf("Open of an existing dir: %v", err)
	}
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = keystore.Open(file)
	if err == nil {
		t.Errorf("Open of a file: got nil error")
	}
}

func TestRoundTrip(t *testing.T) {
	s := newStore(t)
	created := map[string]*keystore.Key{}
	for _, name := range []string{"carol", "alice", "bob.node-1_x"} {
		k, err := s.Create(name, pass)
		if err != nil {
			t.Fatalf("Create(%q): %v", name, err)
		}
		if got, want := k.DID, tx.DeriveDID(k.PublicKey); got != want {
			t.Errorf("Create(%q).DID = %s, want %s", name, got, want)
		}
		if !k.Unlocked() || !bytes.Equal(k.PrivateKey().Public().(ed25519.PublicKey), k.PublicKey) {
			t.Errorf("Create(%q) returned no matching private key", name)
		}
		created[name] = k
	}

	list, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, k := range list {
		names = append(names, k.Name)
		if k.PrivateKey() != nil {
			t.Errorf("List returned private key for %s", k.Name)
		}
	}
	if got, want := strings.Join(names, ","), "alice,bob.node-1_x,carol"; got != want {
		t.Errorf("List names = %s, want %s", got, want)
	}

	tests := []struct {
		name string
		get  func(string) (*keystore.Key, error)
		priv bool
	}{
		{"show", s.Show, false},
		{"unlock", func(n string) (*keystore.Key, error) { return s.Unlock(n, pass) }, true},
	}
	for _, tt := range tests {
		for name, want := range created {
			got, err := tt.get(name)
			if err != nil {
				t.Fatalf("%s(%q): %v", tt.name, name, err)
			}
			if got.Name != want.Name || got.DID != want.DID || !got.PublicKey.Equal(want.PublicKey) || !got.Created.Equal(want.Created) {
				t.Errorf("%s(%q) = %v %v, want %v %v", tt.name, name, got, got.Created, want, want.Created)
			}
			if got.Unlocked() != tt.priv {
				t.Errorf("%s(%q).Unlocked() = %v, want %v", tt.name, name, got.Unlocked(), tt.priv)
			}
			if tt.priv && !got.PrivateKey().Equal(want.PrivateKey()) {
				t.Errorf("%s(%q) private key differs from Create's", tt.name, name)
			}
		}
	}

	k, err := s.Unlock("alice", pass)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello")
	if !ed25519.Verify(k.PublicKey, msg, k.Sign(msg)) {
		t.Errorf("Sign: signature does not verify")
	}
	k.Lock()
	if k.Unlocked() || k.PrivateKey() != nil {
		t.Errorf("Lock left the private key")
	}
}

func TestEmptyList(t *testing.T) {
	s := newStore(t)
	// Stray files are ignored.
	for _, f := range []string{"README", ".keystore-1.tmp", "bad name.json"} {
		if err := os.WriteFile(filepath.Join(s.Dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.Dir, "sub.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("List = %v, want empty", list)
	}
}

func TestErrors(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("alice", pass); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
		want cc.Kind
		msg  string // if set, the error's message
	}{
		{"wrong passphrase", func() error { _, err := s.Unlock("alice", "guess"); return err }, cc.Unauthorized, "wrong passphrase"},
		{"empty passphrase unlock", func() error { _, err := s.Unlock("alice", ""); return err }, cc.Unauthorized, "wrong passphrase"},
		{"wrong passphrase export", func() error { _, err := s.Export("alice", "guess"); return err }, cc.Unauthorized, "wrong passphrase"},
		{"wrong passphrase rotate", func() error { return s.Rotate("alice", "guess", newPriv(t)) }, cc.Unauthorized, "wrong passphrase"},
		{"create existing", func() error { _, err := s.Create("alice", pass); return err }, cc.Conflict, ""},
		{"import existing", func() error { _, err := s.Import("alice", pass, newPriv(t), ""); return err }, cc.Conflict, ""},
		{"show missing", func() error { _, err := s.Show("bob"); return err }, cc.NotFound, ""},
		{"unlock missing", func() error { _, err := s.Unlock("bob", pass); return err }, cc.NotFound, ""},
		{"rotate missing", func() error { return s.Rotate("bob", pass, newPriv(t)) }, cc.NotFound, ""},
		{"export missing", func() error { _, err := s.Export("bob", pass); return err }, cc.NotFound, ""},
		{"empty passphrase create", func() error { _, err := s.Create("bob", ""); return err }, cc.Invalid, ""},
		{"short private key", func() error { _, err := s.Import("bob", pass, make([]byte, 32), ""); return err }, cc.Invalid, ""},
		{"inconsistent private key", func() error {
			p := newPriv(t)
			p[40] ^= 1
			_, err := s.Import("bob", pass, p, "")
			return err
		}, cc.Invalid, ""},
		{"bad DID", func() error { _, err := s.Import("bob", pass, newPriv(t), "did:web:x"); return err }, cc.Invalid, ""},
		{"rotate to same key", func() error {
			k, err := s.Unlock("alice", pass)
			if err != nil {
				return err
			}
			return s.Rotate("alice", pass, k.PrivateKey())
		}, cc.Invalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			wantKind(t, err, tt.want)
			if tt.msg != "" {
				if got := err.(*cc.Error).Msg; got != tt.msg {
					t.Errorf("message = %q, want %q", got, tt.msg)
				}
			}
		})
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "bob.json")); !os.IsNotExist(err) {
		t.Errorf("a failed Create or Import left bob.json: %v", err)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"Alice_01.node-2", true},
		{strings.Repeat("x", 64), true},
		{"..", true}, // matches [A-Za-z0-9._-]; stored as "...json", inside the dir
		{"", false},
		{strings.Repeat("x", 65), false},
		{"a/b", false},
		{"../a", false},
		{`a\b`, false},
		{"a b", false},
		{"a:b", false},
		{"é", false},
		{"a\x00", false},
	}
	s := newStore(t)
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.name), func(t *testing.T) {
			if got := keystore.ValidName(tt.name); got != tt.ok {
				t.Errorf("ValidName = %v, want %v", got, tt.ok)
			}
			_, err := s.Create(tt.name, pass)
			if tt.ok {
				if err != nil {
					t.Fatalf("Create: %v", err)
				}
				if _, err := s.Unlock(tt.name, pass); err != nil {
					t.Errorf("Unlock: %v", err)
				}
				return
			}
			wantKind(t, err, cc.Invalid)
			for op, err := range map[string]error{
				"Show":   func() error { _, err := s.Show(tt.name); return err }(),
				"Unlock": func() error { _, err := s.Unlock(tt.name, pass); return err }(),
				"Rotate": s.Rotate(tt.name, pass, newPriv(t)),
				"Export": func() error { _, err := s.Export(tt.name, pass); return err }(),
			} {
				if got := cc.KindOf(err); got != cc.Invalid {
					t.Errorf("%s: kind %v (%v), want invalid", op, got, err)
				}
			}
		})
	}
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("unexpected directory %s in the store", e.Name())
		}
	}
}

// editFile applies edit to the decoded JSON of name's key file.
func editFile(t *testing.T, s *keystore.Store, name string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(s.Dir, name+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flip flips a bit of the base64url field key in obj.
func flip(t *testing.T, obj map[string]any, key string) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(obj[key].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	obj[key] = base64.RawURLEncoding.EncodeToString(b)
}

func sub(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestTamper(t *testing.T) {
	other := tx.EncodeKey(newPriv(t).Public().(ed25519.PublicKey))
	otherDID := tx.DeriveDID(newPriv(t).Public().(ed25519.PublicKey))
	tests := []struct {
		name      string
		edit      func(t *testing.T, s *keystore.Store) // damages alice's file
		showKind  cc.Kind                               // 0: Show succeeds
		unlockKnd cc.Kind
	}{
		{"ciphertext", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { flip(t, sub(m, "cipher"), "ciphertext") })
		}, 0, cc.Integrity},
		{"nonce", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { flip(t, sub(m, "cipher"), "nonce") })
		}, 0, cc.Integrity},
		{"did", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { m["did"] = string(otherDID) })
		}, 0, cc.Integrity},
		{"public key", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { m["public_key"] = other })
		}, 0, cc.Integrity},
		{"salt", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { flip(t, sub(m, "kdf"), "salt") })
		}, 0, cc.Unauthorized},
		{"check", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { flip(t, m, "check") })
		}, 0, cc.Unauthorized},
		{"scrypt n changed", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { sub(m, "kdf")["n"] = 2 * keystore.MinScryptN })
		}, 0, cc.Unauthorized},
		{"scrypt n huge", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { sub(m, "kdf")["n"] = 1 << 30 })
		}, cc.Integrity, cc.Integrity},
		{"name inside file", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { m["name"] = "bob" })
		}, cc.Integrity, cc.Integrity},
		{"version", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { m["version"] = 2 })
		}, cc.Integrity, cc.Integrity},
		{"unknown field", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { m["extra"] = 1 })
		}, cc.Integrity, cc.Integrity},
		{"short nonce", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { sub(m, "cipher")["nonce"] = "AAAA" })
		}, cc.Integrity, cc.Integrity},
		{"not base64", func(t *testing.T, s *keystore.Store) {
			editFile(t, s, "alice", func(m map[string]any) { m["public_key"] = "!!" })
		}, cc.Integrity, cc.Integrity},
		{"malformed JSON", func(t *testing.T, s *keystore.Store) {
			if err := os.WriteFile(filepath.Join(s.Dir, "alice.json"), []byte(`{"version":1,`), 0o600); err != nil {
				t.Fatal(err)
			}
		}, cc.Integrity, cc.Integrity},
		{"trailing data", func(t *testing.T, s *keystore.Store) {
			b, err := os.ReadFile(filepath.Join(s.Dir, "alice.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(s.Dir, "alice.json"), append(b, "{}"...), 0o600); err != nil {
				t.Fatal(err)
			}
		}, cc.Integrity, cc.Integrity},
		{"empty file", func(t *testing.T, s *keystore.Store) {
			if err := os.WriteFile(filepath.Join(s.Dir, "alice.json"), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, cc.Integrity, cc.Integrity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			if _, err := s.Create("alice", pass); err != nil {
				t.Fatal(err)
			}
			tt.edit(t, s)
			_, err := s.Show("alice")
			if tt.showKind == 0 {
				if err != nil {
					t.Errorf("Show: %v, want success", err)
				}
			} else {
				wantKind(t, err, tt.showKind)
				_, err := s.List()
				wantKind(t, err, tt.showKind)
			}
			_, err = s.Unlock("alice", pass)
			wantKind(t, err, tt.unlockKnd)
		})
	}
}

// TestMovedFile checks that a sealed seed cannot be moved to another name: a
// file renamed together with the name inside it fails authentication.
func TestMovedFile(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("alice", pass); err != nil {
		t.Fatal(err)
	}
	editFile(t, s, "alice", func(m map[string]any) { m["name"] = "mallory" })
	if err := os.Rename(filepath.Join(s.Dir, "alice.json"), filepath.Join(s.Dir, "mallory.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Show("mallory"); err != nil {
		t.Errorf("Show: %v, want success", err)
	}
	_, err := s.Unlock("mallory", pass)
	wantKind(t, err, cc.Integrity)
}

func TestImportExport(t *testing.T) {
	s := newStore(t)
	priv := newPriv(t)
	rotatedDID := tx.DeriveDID(newPriv(t).Public().(ed25519.PublicKey))
	tests := []struct {
		name    string
		did     cc.DID
		wantDID cc.DID
	}{
		{"derived", "", tx.DeriveDID(priv.Public().(ed25519.PublicKey))},
		{"explicit", rotatedDID, rotatedDID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := s.Import(tt.name, pass, priv, tt.did)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if k.DID != tt.wantDID || !k.PrivateKey().Equal(priv) {
				t.Errorf("Import = %v, want DID %s and the imported key", k, tt.wantDID)
			}
			b, err := s.Export(tt.name, pass)
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			var f map[string]string
			if err := json.Unmarshal(b, &f); err != nil {
				t.Fatalf("Export is not JSON: %v", err)
			}
			if got, want := len(f), 3; got != want || f["did"] != string(tt.wantDID) || f["public_key"] != tx.EncodeKey(priv.Public().(ed25519.PublicKey)) {
				t.Errorf("Export = %s", b)
			}
			did, got, err := keystore.ParseExport(b)
			if err != nil {
				t.Fatalf("ParseExport: %v", err)
			}
			if did != tt.wantDID || !got.Equal(priv) {
				t.Errorf("ParseExport = %s, %x; want %s, %x", did, got, tt.wantDID, priv)
			}
			// Re-import into a second store.
			s2 := newStore(t)
			k2, err := s2.Import("again", "other pass", got, did)
			if err != nil {
				t.Fatalf("re-Import: %v", err)
			}
			if k2.DID != tt.wantDID {
				t.Errorf("re-Import DID = %s, want %s", k2.DID, tt.wantDID)
			}
		})
	}
}

func TestParseExportErrors(t *testing.T) {
	priv := newPriv(t)
	did := tx.DeriveDID(priv.Public().(ed25519.PublicKey))
	seed := base64.RawURLEncoding.EncodeToString(priv.Seed())
	pub := tx.EncodeKey(priv.Public().(ed25519.PublicKey))
	otherPub := tx.EncodeKey(newPriv(t).Public().(ed25519.PublicKey))
	file := func(did, pub, seed string) []byte {
		return []byte(fmt.Sprintf(`{"did":%q,"public_key":%q,"private_key":%q}`, did, pub, seed))
	}
	tests := []struct {
		name string
		in   []byte
		want cc.Kind // 0: success
	}{
		{"ok", file(string(did), pub, seed), 0},
		{"not JSON", []byte("nope"), cc.Malformed},
		{"unknown field", []byte(`{"did":"x","extra":1}`), cc.Malformed},
		{"bad did", file("did:cc:x", pub, seed), cc.Malformed},
		{"bad seed", file(string(did), pub, "AAAA"), cc.Malformed},
		{"padded seed", file(string(did), pub, base64.URLEncoding.EncodeToString(priv.Seed())), cc.Malformed},
		{"bad public key", file(string(did), "AAAA", seed), cc.Malformed},
		{"mismatched public key", file(string(did), otherPub, seed), cc.Integrity},
		{"trailing data", append(file(string(did), pub, seed), "{}"...), cc.Malformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotDID, gotPriv, err := keystore.ParseExport(tt.in)
			if tt.want == 0 {
				if err != nil || gotDID != did || !gotPriv.Equal(priv) {
					t.Errorf("ParseExport = %s, %v; want %s", gotDID, err, did)
				}
				return
			}
			wantKind(t, err, tt.want)
		})
	}
}

func TestRotateKeepsDID(t *testing.T) {
	s := newStore(t)
	orig, err := s.Create("alice", pass)
	if err != nil {
		t.Fatal(err)
	}
	var keys []ed25519.PrivateKey
	for i := range 2 {
		next := newPriv(t)
		if err := s.Rotate("alice", pass, next); err != nil {
			t.Fatalf("Rotate %d: %v", i, err)
		}
		keys = append(keys, next)
		got, err := s.Unlock("alice", pass)
		if err != nil {
			t.Fatalf("Unlock after rotate %d: %v", i, err)
		}
		if got.DID != orig.DID {
			t.Errorf("DID after rotate %d = %s, want %s", i, got.DID, orig.DID)
		}
		if !got.PrivateKey().Equal(next) || !got.PublicKey.Equal(next.Public()) {
			t.Errorf("key after rotate %d is not the new key", i)
		}
		if !got.Created.Equal(orig.Created) {
			t.Errorf("Created after rotate %d = %v, want %v", i, got.Created, orig.Created)
		}
		shown, err := s.Show("alice")
		if err != nil || !shown.PublicKey.Equal(next.Public()) {
			t.Errorf("Show after rotate %d = %v, %v", i, shown, err)
		}
	}
	if keys[0].Equal(keys[1]) {
		t.Fatal("test generated equal keys")
	}
	// The rotated key exports with the original DID.
	b, err := s.Export("alice", pass)
	if err != nil {
		t.Fatal(err)
	}
	did, priv, err := keystore.ParseExport(b)
	if err != nil || did != orig.DID || !priv.Equal(keys[1]) {
		t.Errorf("ParseExport after rotate = %s, %v; want %s and the last key", did, err, orig.DID)
	}
	// Rotate rejects a malformed key and leaves the file alone.
	wantKind(t, s.Rotate("alice", pass, ed25519.PrivateKey{1, 2, 3}), cc.Invalid)
	if k, err := s.Unlock("alice", pass); err != nil || !k.PrivateKey().Equal(keys[1]) {
		t.Errorf("Unlock after a failed rotate = %v, %v", k, err)
	}
}

// TestRotateUpgradesCost checks that scrypt parameters are read from the file
// and that Rotate re-seals with the store's current cost.
func TestRotateUpgradesCost(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("alice", pass); err != nil {
		t.Fatal(err)
	}
	s2 := &keystore.Store{Dir: s.Dir}
	s2.SetScryptN(keystore.DemoScryptN)
	if _, err := s2.Unlock("alice", pass); err != nil {
		t.Fatalf("Unlock with another cost setting: %v", err)
	}
	if err := s2.Rotate("alice", pass, newPriv(t)); err != nil {
		t.Fatal(err)
	}
	if got, want := fileN(t, s.Dir, "alice"), keystore.DemoScryptN; got != want {
		t.Errorf("n after rotate = %d, want %d", got, want)
	}
	if _, err := s.Unlock("alice", pass); err != nil {
		t.Errorf("Unlock after rotate: %v", err)
	}
}

func fileN(t *testing.T, dir, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		KDF struct{ N, R, P int } `json:"kdf"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.KDF.N
}

func TestDefaultCost(t *testing.T) {
	s, err := keystore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create("alice", pass); err != nil {
		t.Fatal(err)
	}
	if got, want := fileN(t, s.Dir, "alice"), 1<<15; got != want {
		t.Errorf("default n = %d, want %d", got, want)
	}
}

func TestSetScryptNPanics(t *testing.T) {
	for _, n := range []int{0, 3, keystore.MinScryptN / 2, keystore.MaxScryptN * 2, keystore.MinScryptN + 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("SetScryptN(%d) did not panic", n)
				}
			}()
			new(keystore.Store).SetScryptN(n)
		})
	}
}

func TestFileModes(t *testing.T) {
	s := newStore(t)
	tests := []struct {
		name string
		do   func() error
	}{
		{"create", func() error { _, err := s.Create("alice", pass); return err }},
		{"import", func() error { _, err := s.Import("bob", pass, newPriv(t), ""); return err }},
		{"rotate", func() error { return s.Rotate("alice", pass, newPriv(t)) }},
	}
	for _, tt := range tests {
		if err := tt.do(); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		entries, err := os.ReadDir(s.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".json") {
				t.Errorf("after %s: stray file %s", tt.name, e.Name())
			}
			fi, err := e.Info()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("after %s: %s mode = %v, want %v", tt.name, e.Name(), got, want)
			}
		}
	}
	fi, err := os.Stat(s.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fi.Mode().Perm(), os.FileMode(0o700); got != want {
		t.Errorf("dir mode = %v, want %v", got, want)
	}
}

func TestNoSecretsInFileOrString(t *testing.T) {
	s := newStore(t)
	priv := newPriv(t)
	k, err := s.Import("alice", pass, priv, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "alice.json"))
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		base64.RawURLEncoding.EncodeToString(priv.Seed()),
		base64.StdEncoding.EncodeToString(priv.Seed()),
		fmt.Sprintf("%x", priv.Seed()),
		pass,
	}
	for _, out := range []string{string(b), fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k), fmt.Sprintf("%v", *k)} {
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Errorf("output leaks a secret: %s", out)
			}
		}
		if strings.Contains(out, fmt.Sprint([]byte(priv.Seed()))) {
			t.Errorf("output leaks the seed bytes: %s", out)
		}
	}
}

func TestSignLockedPanics(t *testing.T) {
	s := newStore(t)
	if _, err := s.Create("alice", pass); err != nil {
		t.Fatal(err)
	}
	k, err := s.Show("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("Sign on a locked key did not panic")
		}
	}()
	k.Sign([]byte("x"))
}

func TestConcurrentCreate(t *testing.T) {
	s := newStore(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = s.Create("alice", pass) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch cc.KindOf(err) {
		case 0:
			ok++
		case cc.Conflict:
		default:
			t.Errorf("Create: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent Creates succeeded, want 1", ok)
	}
	if _, err := s.Unlock("alice", pass); err != nil {
		t.Errorf("Unlock: %v", err)
	}
}
