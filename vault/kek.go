package vault

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	cc "carechain"
)

// maxKEKID is the longest KEK id in bytes.
const maxKEKID = 64

// KEK is a node's key-encryption key: a 256-bit AES key and the id recorded
// beside every data key it wraps (e.g. "kek-1"). Its formatting methods
// print only the id, so a KEK is never logged by accident.
type KEK struct {
	ID  string
	key [32]byte
	gcm *kekGCM // the key's AES-256-GCM, built once (shared by copies)
}

// kekGCM holds a KEK's AEAD, built on first use: every read unwraps a data
// key and a salt with it, and building AES-GCM (the key schedule) costs
// as much as opening one.
type kekGCM struct {
	once sync.Once
	aead cipher.AEAD
	err  error
}

// aead returns the KEK's AES-256-GCM.
func (k *KEK) aead() (cipher.AEAD, error) {
	if k.gcm == nil {
		return newGCM(k.key[:])
	}
	k.gcm.once.Do(func() { k.gcm.aead, k.gcm.err = newGCM(k.key[:]) })
	return k.gcm.aead, k.gcm.err
}

// kekFile is the JSON form of a KEK file.
type kekFile struct {
	ID      string `json:"id"`
	Key     string `json:"key"` // standard base64 of the 32-byte key
	Created string `json:"created,omitempty"`
}

// NewKEK returns a KEK with the given id and 32-byte key (copied).
func NewKEK(id string, key []byte) (*KEK, error) {
	const op = "vault.NewKEK"
	if err := checkKEKID(op, id); err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, cc.Errorf(op, cc.Invalid, "KEK %q: key must be 32 bytes", id)
	}
	k := &KEK{ID: id, gcm: &kekGCM{}}
	copy(k.key[:], key)
	var zero [32]byte
	if subtle.ConstantTimeCompare(k.key[:], zero[:]) == 1 {
		return nil, cc.Errorf(op, cc.Invalid, "KEK %q: key is all zeros", id)
	}
	return k, nil
}

// checkKEKID validates a KEK id: 1 to 64 bytes of letters, digits, '.',
// '_' and '-'.
func checkKEKID(op, id string) error {
	if id == "" || len(id) > maxKEKID {
		return cc.Errorf(op, cc.Invalid, "KEK id must be 1 to %d characters", maxKEKID)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return cc.Errorf(op, cc.Invalid, "KEK id %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

// LoadKEK reads a KEK file: JSON {"id":"kek-1","key":"<base64 of 32 bytes>"}.
// The file must not be readable or writable by group or others (mode 0600
// or stricter); LoadKEK refuses it otherwise, naming the chmod that fixes it.
func LoadKEK(path string) (*KEK, error) {
	const op = "vault.LoadKEK"
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, cc.Errorf(op, cc.NotFound, "KEK file %s does not exist", path)
	}
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if !st.Mode().IsRegular() {
		return nil, cc.Errorf(op, cc.Invalid, "KEK file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, cc.Errorf(op, cc.Invalid, "KEK file %s is accessible by group or others (mode %04o); run: chmod 600 %s", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer clear(b)
	var kf kekFile
	// The decoder's error could quote the file's bytes, so it is dropped.
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "KEK file %s is not valid JSON", path)
	}
	return decodeKEK(op, kf.ID, kf.Key, "KEK file "+path)
}

// KEKFromEnv reads a KEK from the environment variable name (for example
// CARECHAIN_VAULT_KEK), whose value is "<kek id>:<base64 of 32 bytes>".
func KEKFromEnv(name string) (*KEK, error) {
	const op = "vault.KEKFromEnv"
	val, ok := os.LookupEnv(name)
	if !ok || val == "" {
		return nil, cc.Errorf(op, cc.NotFound, "environment variable %s is not set", name)
	}
	id, key, ok := strings.Cut(val, ":")
	if !ok {
		return nil, cc.Errorf(op, cc.Malformed, "environment variable %s must be \"<kek id>:<base64 key>\"", name)
	}
	return decodeKEK(op, id, key, "environment variable "+name)
}

// decodeKEK builds a KEK from its id and base64 key; where names the source
// in error messages, which never quote the key.
func decodeKEK(op, id, b64 string, where string) (*KEK, error) {
	if err := checkKEKID(op, id); err != nil {
		return nil, cc.Errorf(op, cc.Invalid, "%s: %s", where, err.(*cc.Error).Msg)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return nil, cc.Errorf(op, cc.Malformed, "%s: key is not valid base64", where)
	}
	defer clear(key)
	if len(key) != 32 {
		return nil, cc.Errorf(op, cc.Invalid, "%s: key must be 32 bytes (44 base64 characters)", where)
	}
	k, err := NewKEK(id, key)
	if err != nil {
		return nil, cc.Errorf(op, cc.Invalid, "%s: %s", where, err.(*cc.Error).Msg)
	}
	return k, nil
}

// GenerateKEK creates a KEK with a random key from crypto/rand and writes it
// to path (mode 0600; parent directories are created with mode 0700). The
// file appears atomically and complete, and an existing file is never
// overwritten (Conflict): losing a KEK loses every record it wraps.
func GenerateKEK(path, id string) (*KEK, error) {
	const op = "vault.GenerateKEK"
	if err := checkKEKID(op, id); err != nil {
		return nil, err
	}
	k := &KEK{ID: id, gcm: &kekGCM{}}
	if _, err := io.ReadFull(rand.Reader, k.key[:]); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	b, err := json.MarshalIndent(kekFile{
		ID:      id,
		Key:     base64.StdEncoding.EncodeToString(k.key[:]),
		Created: time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer clear(b)
	if err := writeNewFile(op, path, append(b, '\n')); err != nil {
		k.Destroy()
		return nil, err
	}
	return k, nil
}

// writeNewFile atomically creates path with contents b and mode 0600: it
// writes and syncs a temporary file, then hard-links it into place, which
// fails rather than overwrite; the directory is synced afterwards.
func writeNewFile(op, path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return cc.Errorf(op, cc.Conflict, "%s exists; refusing to overwrite a KEK file", path)
	}
	fh, err := os.CreateTemp(dir, ".kek-*.tmp")
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	tmp := fh.Name()
	defer os.Remove(tmp)
	err = fh.Chmod(0o600)
	if err == nil {
		_, err = fh.Write(b)
	}
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cc.Errorf(op, cc.Conflict, "%s exists; refusing to overwrite a KEK file", path)
		}
		return cc.E(op, cc.Internal, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}

// Destroy zeroes the key and drops its AEAD. The KEK must not be used
// afterwards.
func (k *KEK) Destroy() {
	clear(k.key[:])
	k.gcm = nil
}

// equal reports whether two KEKs have the same id and key.
func (k *KEK) equal(o *KEK) bool {
	return k.ID == o.ID && subtle.ConstantTimeCompare(k.key[:], o.key[:]) == 1
}

// String returns "KEK(<id>)"; the key is never printed.
func (k KEK) String() string { return "KEK(" + k.ID + ")" }

// GoString is String, for %#v.
func (k KEK) GoString() string { return k.String() }

// Format prints String for every verb, so no fmt verb can print the key.
func (k KEK) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// LogValue logs only the id (log/slog).
func (k KEK) LogValue() slog.Value { return slog.StringValue(k.String()) }

// MarshalJSON encodes only the id.
func (k KEK) MarshalJSON() ([]byte, error) { return json.Marshal(map[string]string{"id": k.ID}) }
