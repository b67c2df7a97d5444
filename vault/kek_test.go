package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cc "carechain"
)

// writeFile writes a KEK file with the given contents and mode.
func writeFile(t *testing.T, path, contents string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(contents), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}

func TestLoadKEK(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	b64 := base64.StdEncoding.EncodeToString(key)
	good := fmt.Sprintf(`{"id":"kek-1","key":%q}`, b64)
	tests := []struct {
		name     string
		contents string
		mode     os.FileMode
		want     cc.Kind
		msg      string // a substring of the error
	}{
		{"0600", good, 0o600, 0, ""},
		{"0400", good, 0o400, 0, ""},
		{"group readable", good, 0o640, cc.Invalid, "chmod 600"},
		{"world readable", good, 0o604, cc.Invalid, "group or others (mode 0604)"},
		{"group writable", good, 0o620, cc.Invalid, "chmod 600"},
		{"not JSON", "kek-1:" + b64, 0o600, cc.Malformed, "not valid JSON"},
		{"bad base64", `{"id":"kek-1","key":"!!!"}`, 0o600, cc.Malformed, "base64"},
		{"short key", fmt.Sprintf(`{"id":"kek-1","key":%q}`, base64.StdEncoding.EncodeToString(key[:16])), 0o600, cc.Invalid, "32 bytes"},
		{"zero key", fmt.Sprintf(`{"id":"kek-1","key":%q}`, base64.StdEncoding.EncodeToString(make([]byte, 32))), 0o600, cc.Invalid, "all zeros"},
		{"no id", fmt.Sprintf(`{"key":%q}`, b64), 0o600, cc.Invalid, "KEK id"},
		{"bad id", fmt.Sprintf(`{"id":"kek 1","key":%q}`, b64), 0o600, cc.Invalid, "KEK id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek.json")
			writeFile(t, path, tt.contents, tt.mode)
			k, err := LoadKEK(path)
			MustKind(t, err, tt.want)
			if err != nil {
				if !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not mention %q", err, tt.msg)
				}
				if strings.Contains(err.Error(), b64) || strings.Contains(err.Error(), b64[:8]) {
					t.Errorf("error %q quotes the key", err)
				}
				return
			}
			if k.ID != "kek-1" || !bytes.Equal(k.key[:], key) {
				t.Errorf("LoadKEK = %s with another key", k)
			}
		})
	}
	_, err := LoadKEK(filepath.Join(t.TempDir(), "absent.json"))
	MustKind(t, err, cc.NotFound)
}

func TestGenerateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "kek-2.json")
	k, err := GenerateKEK(path, "kek-2")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Errorf("file mode = %04o, want 0600", got)
	}
	loaded, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.equal(k) {
		t.Errorf("LoadKEK(GenerateKEK file) = %s with another key", loaded)
	}
	other, err := GenerateKEK(filepath.Join(filepath.Dir(path), "kek-3.json"), "kek-3")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.key[:], k.key[:]) {
		t.Error("two generated KEKs have the same key")
	}
	_, err = GenerateKEK(path, "kek-2")
	MustKind(t, err, cc.Conflict)
	if again, err := LoadKEK(path); err != nil || !again.equal(k) {
		t.Errorf("the refused GenerateKEK changed the file: %v", err)
	}
	_, err = GenerateKEK(filepath.Join(t.TempDir(), "x.json"), "bad id")
	MustKind(t, err, cc.Invalid)
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want 2 (no temporary files left)", len(entries))
	}
}

func TestKEKFromEnv(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	b64 := base64.StdEncoding.EncodeToString(key)
	tests := []struct {
		name  string
		value string
		set   bool
		want  cc.Kind
	}{
		{"good", "kek-1:" + b64, true, 0},
		{"unset", "", false, cc.NotFound},
		{"empty", "", true, cc.NotFound},
		{"no id", b64, true, cc.Malformed},
		{"empty id", ":" + b64, true, cc.Invalid},
		{"bad base64", "kek-1:not base64!", true, cc.Malformed},
		{"short key", "kek-1:" + base64.StdEncoding.EncodeToString(key[:31]), true, cc.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const name = "CARECHAIN_VAULT_KEK_TEST"
			if tt.set {
				t.Setenv(name, tt.value)
			} else {
				os.Unsetenv(name)
			}
			k, err := KEKFromEnv(name)
			MustKind(t, err, tt.want)
			if err != nil {
				if strings.Contains(err.Error(), b64[:8]) {
					t.Errorf("error %q quotes the key", err)
				}
				return
			}
			if k.ID != "kek-1" || !bytes.Equal(k.key[:], key) {
				t.Errorf("KEKFromEnv = %s with another key", k)
			}
		})
	}
}

// TestKEKNeverPrinted formats a KEK every way a log line might and checks
// the key appears in none of them.
func TestKEKNeverPrinted(t *testing.T) {
	k := MustKEK(t, "kek-1", 3)
	secrets := []string{
		base64.StdEncoding.EncodeToString(k.key[:]),
		hex.EncodeToString(k.key[:]),
		fmt.Sprint(k.key[:4]),
		fmt.Sprint(k.key[0]) + " " + fmt.Sprint(k.key[1]),
	}
	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b"} {
		outputs = append(outputs, fmt.Sprintf(verb, k), fmt.Sprintf(verb, *k), fmt.Sprintf(verb, []*KEK{k}), fmt.Sprintf(verb, struct{ K KEK }{*k}))
	}
	js, err := json.Marshal(struct{ K *KEK }{k})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("kek", "kek", k, "value", *k)
	outputs = append(outputs, string(js), logged.String())
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains key material %q", out, s)
			}
		}
		if !strings.Contains(out, "kek-1") {
			t.Errorf("output %q does not name the KEK", out)
		}
	}
	k.Destroy()
	if k.key != [32]byte{} {
		t.Error("Destroy left key bytes")
	}
}

func TestWrongKEK(t *testing.T) {
	dir := t.TempDir()
	right := MustKEK(t, "kek-1", 1)
	v := MustOpen(t, dir, right)
	h := MustPut(t, v, "Obs/1", 1, []byte("x"))
	MustClose(t, v)

	t.Run("same id, other key: Open refuses it", func(t *testing.T) {
		_, err := Open(dir, MustKEK(t, "kek-1", 2))
		MustKind(t, err, cc.Integrity)
		if !strings.Contains(err.Error(), `KEK "kek-1" is not the key`) {
			t.Errorf("error %q does not name the KEK", err)
		}
	})
	t.Run("same id, other key as an older KEK", func(t *testing.T) {
		_, err := Open(dir, MustKEK(t, "kek-9", 9), MustKEK(t, "kek-1", 2))
		MustKind(t, err, cc.Integrity)
	})
	t.Run("other id: reads name the missing KEK", func(t *testing.T) {
		v := MustOpen(t, dir, MustKEK(t, "kek-9", 9))
		_, err := v.Get("Obs/1", 1, h)
		MustKind(t, err, cc.Integrity)
		if !strings.Contains(err.Error(), `KEK "kek-1", which is not loaded`) {
			t.Errorf("error %q does not name the missing KEK", err)
		}
		MustClose(t, v)
	})
	t.Run("two keys with one id", func(t *testing.T) {
		_, err := Open(dir, right, MustKEK(t, "kek-1", 2))
		MustKind(t, err, cc.Invalid)
	})
	t.Run("the right KEK still works", func(t *testing.T) {
		v := MustOpen(t, dir, right)
		MustGet(t, v, "Obs/1", 1, h, []byte("x"))
	})
}

// TestKEKCheckOnlyOnceUsed: opening with a wrong KEK id that wraps nothing
// leaves no trace, so the real key of that id is accepted later.
func TestKEKCheckOnlyOnceUsed(t *testing.T) {
	dir := t.TempDir()
	v := MustOpen(t, dir, MustKEK(t, "kek-1", 1))
	MustPut(t, v, "Obs/1", 1, []byte("x"))
	MustClose(t, v)
	v = MustOpen(t, dir, MustKEK(t, "kek-2", 5), MustKEK(t, "kek-1", 1))
	MustClose(t, v)
	v = MustOpen(t, dir, MustKEK(t, "kek-2", 6), MustKEK(t, "kek-1", 1))
	MustPut(t, v, "Obs/2", 1, []byte("y"))
	MustClose(t, v)
	_, err := Open(dir, MustKEK(t, "kek-2", 5))
	MustKind(t, err, cc.Integrity)
}

// TestKEKAEADBuiltOnce checks that a KEK builds its AES-GCM once, shares it
// with its copies, and drops it when destroyed.
func TestKEKAEADBuiltOnce(t *testing.T) {
	k, err := NewKEK("kek-1", bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a1, err := k.aead()
	if err != nil {
		t.Fatal(err)
	}
	copied := *k
	a2, _ := copied.aead()
	if a1 != a2 {
		t.Error("a copy of the KEK built its AEAD again")
	}
	w, err := k.wrap(rand.Reader, bytes.Repeat([]byte{1}, secretSize), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := copied.unwrap(w, []byte("ad")); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{1}, secretSize)) {
		t.Errorf("unwrap with the shared AEAD: %x, %v", got, err)
	}
	k.Destroy()
	if k.gcm != nil {
		t.Error("Destroy kept the AEAD")
	}
}
