// Package keystore is carechain's local keystore: Ed25519 keys kept in a
// directory, one JSON file per key, each private key encrypted under a
// passphrase.
//
// # File format
//
// A key named "alice" lives in <dir>/alice.json (mode 0600; the directory is
// created with mode 0700):
//
//	{
//	  "version": 1,
//	  "name": "alice",
//	  "did": "did:cc:…",
//	  "public_key": "<base64url Ed25519 public key>",
//	  "created": "2025-01-02T03:04:05Z",
//	  "kdf": {"name": "scrypt", "n": 32768, "r": 8, "p": 1, "salt": "<base64url, 16 bytes>"},
//	  "check": "<base64url, 32 bytes>",
//	  "cipher": {"name": "xchacha20-poly1305", "nonce": "<base64url, 24 bytes>", "ciphertext": "<base64url>"}
//	}
//
// The DID is derived (tx.DeriveDID) from the key's initial public key and is
// stored, because a rotation (Store.Rotate) replaces the key but keeps the DID.
//
// The passphrase is stretched with scrypt into 64 bytes. The first 32 are the
// XChaCha20-Poly1305 key that seals the 32-byte private key seed, with the
// key's name and DID as associated data, so a sealed seed cannot be moved to
// another name or DID. The last 32 bytes feed "check", an HMAC-SHA256
// passphrase verifier (as in Ethereum's keystore MAC). It tells a wrong
// passphrase apart from a damaged file without weakening the file: testing a
// guess against it costs a full scrypt derivation, as testing it against the
// AEAD tag does. The scrypt parameters and salt are stored in each file, so the
// defaults can change without breaking old files.
//
// # Errors
//
// Every error is a *carechain.Error:
//
//   - Invalid: a bad name, an empty passphrase, a malformed private key or DID.
//   - NotFound: no key of that name.
//   - Conflict: Create or Import of a name that exists.
//   - Unauthorized, message "wrong passphrase": the passphrase verifier does
//     not match. A tampered salt, scrypt parameter or verifier cannot be told
//     apart from a wrong passphrase and is reported the same way.
//   - Integrity: the file is damaged: not valid JSON, an unknown version, a
//     field of the wrong size, a name that does not match the file name, or,
//     once the passphrase is verified, a ciphertext, nonce, name or DID that
//     fails AEAD authentication, or a decrypted seed whose public key is not
//     the stored one.
//   - Internal: an I/O failure.
//
// List and Show read no secret and cannot detect a tampered public key; Unlock
// (and so Rotate and Export) checks it against the decrypted seed.
package keystore

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"

	cc "carechain"
	"carechain/internal/signature"
	"carechain/ledger/tx"
)

// Scrypt cost parameters.
const (
	// DefaultScryptN is the scrypt cost N used unless SetScryptN changes it
	// (2^15; with r=8 this takes about 32 MiB and tens of milliseconds).
	DefaultScryptN = 1 << 15
	// DemoScryptN is a cheap scrypt cost for tests and the demo ONLY: it
	// makes offline guessing of a stolen key file's passphrase about eight
	// times cheaper than DefaultScryptN. Never use it for real keys.
	DemoScryptN = 1 << 12
	// MinScryptN and MaxScryptN bound N, for SetScryptN and for files read.
	// The upper bound stops a corrupt file from demanding gigabytes of memory.
	MinScryptN = 1 << 10
	MaxScryptN = 1 << 20

	scryptR = 8
	scryptP = 1
	maxR    = 32
	maxP    = 16
)

const (
	fileVersion   = 1
	fileExt       = ".json"
	saltSize      = 16
	checkSize     = sha256.Size
	maxNameLen    = 64
	maxFileSize   = 64 << 10
	kdfScrypt     = "scrypt"
	cipherXChaCha = "xchacha20-poly1305"
	adPrefix      = "carechain-keystore-v1\x00"
	checkLabel    = "carechain-keystore-v1 passphrase check"
	dirMode       = 0o700
	fileMode      = 0o600
)

// Store is a keystore directory. The zero scrypt setting means
// DefaultScryptN. A Store's methods may be called concurrently, except
// SetScryptN, which must be called before the Store is shared. Every write is
// atomic, so a key file is always whole; of two concurrent Rotates of one key
// the last to finish wins, and of two Creates of one name exactly one succeeds.
type Store struct {
	Dir string

	scryptN int
}

// Open returns the Store in dir, creating dir (mode 0700) if it is missing.
// An existing directory's mode is left as it is.
func Open(dir string) (*Store, error) {
	const op = "keystore.open"
	if dir == "" {
		return nil, cc.Errorf(op, cc.Invalid, "keystore directory must not be empty")
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	if !fi.IsDir() {
		return nil, cc.Errorf(op, cc.Invalid, "%s is not a directory", dir)
	}
	return &Store{Dir: dir}, nil
}

// SetScryptN sets the scrypt cost N used for keys written from now on (by
// Create, Import and Rotate); existing files keep the parameters stored in
// them. n must be a power of two in [MinScryptN, MaxScryptN], or it panics.
// Use DemoScryptN only for tests and the demo; real keystores should keep
// DefaultScryptN or raise it.
func (s *Store) SetScryptN(n int) {
	if n < MinScryptN || n > MaxScryptN || n&(n-1) != 0 {
		panic(fmt.Sprintf("keystore: scrypt N %d is not a power of two in [%d, %d]", n, MinScryptN, MaxScryptN))
	}
	s.scryptN = n
}

func (s *Store) n() int {
	if s.scryptN == 0 {
		return DefaultScryptN
	}
	return s.scryptN
}

// Key is a keystore entry. Keys from Create, Import and Unlock hold the
// private key; keys from List and Show do not.
type Key struct {
	Name      string
	DID       cc.DID
	PublicKey ed25519.PublicKey
	Created   time.Time

	private ed25519.PrivateKey
}

// PrivateKey returns k's private key, or nil if k is not unlocked.
func (k *Key) PrivateKey() ed25519.PrivateKey { return k.private }

// Unlocked reports whether k holds its private key.
func (k *Key) Unlocked() bool { return k.private != nil }

// Sign signs msg with k's private key. It panics if k is not unlocked
// (see Store.Unlock): signing with a locked key is a programming error.
func (k *Key) Sign(msg []byte) []byte {
	if k.private == nil {
		panic("keystore: Sign on locked key " + k.Name + " (use Store.Unlock)")
	}
	return signature.Sign(k.private, msg)
}

// Lock zeroes and drops k's private key. Copies handed out earlier by
// PrivateKey are zeroed too, since they share memory.
func (k *Key) Lock() {
	clear(k.private)
	k.private = nil
}

// String describes k without any private material, so printing a Key with
// %v or %+v cannot leak it.
func (k Key) String() string {
	state := "locked"
	if k.private != nil {
		state = "unlocked"
	}
	return fmt.Sprintf("%s %s %s (%s)", k.Name, k.DID, tx.EncodeKey(k.PublicKey), state)
}

// GoString is String, so %#v cannot leak private material either.
func (k Key) GoString() string { return "keystore.Key{" + k.String() + "}" }

// ValidName reports whether name is a valid key name: 1 to 64 characters from
// [A-Za-z0-9._-].
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > maxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkName(op, name string) error {
	if !ValidName(name) {
		return cc.Errorf(op, cc.Invalid, "key name %q must be 1 to %d characters from [A-Za-z0-9._-]", name, maxNameLen)
	}
	return nil
}

func checkPassphrase(op, passphrase string) error {
	if passphrase == "" {
		return cc.Errorf(op, cc.Invalid, "passphrase must not be empty")
	}
	return nil
}

// checkPrivate reports whether priv is a well-formed Ed25519 private key:
// 64 bytes whose second half is the public key of the first.
func checkPrivate(op string, priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return cc.Errorf(op, cc.Invalid, "private key must be %d bytes, got %d", ed25519.PrivateKeySize, len(priv))
	}
	want := ed25519.NewKeyFromSeed(priv.Seed())
	if !bytes.Equal(want, priv) {
		return cc.Errorf(op, cc.Invalid, "private key's public half does not match its seed")
	}
	return nil
}

func (s *Store) path(name string) string { return filepath.Join(s.Dir, name+fileExt) }

// Create generates a new random Ed25519 key named name, derives its DID and
// stores it encrypted under passphrase. The returned Key is unlocked.
func (s *Store) Create(name, passphrase string) (*Key, error) {
	const op = "keystore.create"
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return s.add(op, name, passphrase, priv, "")
}

// Import stores priv under name, encrypted under passphrase. did is the key's
// DID; if it is empty it is derived from priv's public key, which is right
// only for a DID's initial key (after a rotation pass the DID explicitly).
// The returned Key is unlocked.
func (s *Store) Import(name, passphrase string, priv ed25519.PrivateKey, did cc.DID) (*Key, error) {
	const op = "keystore.import"
	if err := checkPrivate(op, priv); err != nil {
		return nil, err
	}
	return s.add(op, name, passphrase, priv, did)
}

func (s *Store) add(op, name, passphrase string, priv ed25519.PrivateKey, did cc.DID) (*Key, error) {
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	if err := checkPassphrase(op, passphrase); err != nil {
		return nil, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	if did == "" {
		did = tx.DeriveDID(pub)
	} else if !did.Valid() {
		return nil, cc.Errorf(op, cc.Invalid, "%q is not a did:cc identifier", did)
	}
	k := &Key{
		Name:      name,
		DID:       did,
		PublicKey: bytes.Clone(pub),
		Created:   time.Now().UTC().Truncate(time.Second),
		private:   bytes.Clone(priv),
	}
	b, err := s.seal(op, k, passphrase)
	if err != nil {
		return nil, err
	}
	if err := s.writeNew(op, name, b); err != nil {
		return nil, err
	}
	return k, nil
}

// List returns every key in the store, sorted by name, without private keys.
// Files that are not named <valid name>.json are ignored; a damaged key file
// fails the whole listing with Integrity, naming the file.
func (s *Store) List() ([]Key, error) {
	const op = "keystore.list"
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	keys := []Key{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), fileExt)
		if !ok || !ValidName(name) || !e.Type().IsRegular() {
			continue
		}
		f, err := s.read(op, name)
		if err != nil {
			if cc.Is(cc.NotFound, err) { // removed while listing
				continue
			}
			return nil, err
		}
		keys = append(keys, *f.key())
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Name < keys[j].Name })
	return keys, nil
}

// Show returns the key named name, without its private key.
func (s *Store) Show(name string) (*Key, error) {
	const op = "keystore.show"
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	f, err := s.read(op, name)
	if err != nil {
		return nil, err
	}
	return f.key(), nil
}

// Unlock decrypts the key named name with passphrase and returns it with its
// private key (see Key.PrivateKey, Key.Sign). A wrong passphrase is an
// Unauthorized error with the message "wrong passphrase".
func (s *Store) Unlock(name, passphrase string) (*Key, error) {
	return s.unlock("keystore.unlock", name, passphrase)
}

func (s *Store) unlock(op, name, passphrase string) (*Key, error) {
	if err := checkName(op, name); err != nil {
		return nil, err
	}
	f, err := s.read(op, name)
	if err != nil {
		return nil, err
	}
	return f.open(op, passphrase)
}

// Rotate replaces the key named name by newPriv, keeping its name, DID and
// creation time, after checking passphrase against the current file. The new
// file is sealed with the same passphrase, a fresh salt and nonce, and the
// store's current scrypt cost. newPriv must differ from the current key.
//
// Rotate changes only the local file: rotate the DID's key on the ledger
// (signed by the old key) first, or keep an export of the old key until the
// ledger rotation is committed.
func (s *Store) Rotate(name, passphrase string, newPriv ed25519.PrivateKey) error {
	const op = "keystore.rotate"
	if err := checkPrivate(op, newPriv); err != nil {
		return err
	}
	old, err := s.unlock(op, name, passphrase)
	if err != nil {
		return err
	}
	defer old.Lock()
	if bytes.Equal(old.private, newPriv) {
		return cc.Errorf(op, cc.Invalid, "the new key is the current key of %s", name)
	}
	k := &Key{
		Name:      old.Name,
		DID:       old.DID,
		PublicKey: bytes.Clone(newPriv.Public().(ed25519.PublicKey)),
		Created:   old.Created,
		private:   bytes.Clone(newPriv),
	}
	defer k.Lock()
	b, err := s.seal(op, k, passphrase)
	if err != nil {
		return err
	}
	return s.writeReplace(op, name, b)
}

// ExportFile is the portable, PLAINTEXT key file written by Export and read
// by ParseExport. Anyone holding it controls the DID.
type ExportFile struct {
	DID        cc.DID `json:"did"`
	PublicKey  string `json:"public_key"`  // base64url, no padding
	PrivateKey string `json:"private_key"` // base64url 32-byte seed, no padding
}

// Export decrypts the key named name with passphrase and returns it as a
// portable JSON key file (see ExportFile). The result is NOT encrypted: the
// caller must warn the user and write it with care (mode 0600).
func (s *Store) Export(name, passphrase string) ([]byte, error) {
	const op = "keystore.export"
	k, err := s.unlock(op, name, passphrase)
	if err != nil {
		return nil, err
	}
	defer k.Lock()
	b, err := json.MarshalIndent(ExportFile{
		DID:        k.DID,
		PublicKey:  tx.EncodeKey(k.PublicKey),
		PrivateKey: base64.RawURLEncoding.EncodeToString(k.private.Seed()),
	}, "", "  ")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return append(b, '\n'), nil
}

// ParseExport parses a key file written by Export and returns its DID and
// private key. Undecodable input is Malformed; a public key that does not
// match the private key is Integrity.
func ParseExport(b []byte) (did cc.DID, priv ed25519.PrivateKey, err error) {
	const op = "keystore.parse_export"
	var f ExportFile
	if err := decodeStrict(b, &f); err != nil {
		return "", nil, cc.Errorf(op, cc.Malformed, "key file is not valid JSON: %v", err)
	}
	if !f.DID.Valid() {
		return "", nil, cc.Errorf(op, cc.Malformed, "did %q is not a did:cc identifier", f.DID)
	}
	seed, err := base64.RawURLEncoding.DecodeString(f.PrivateKey)
	if err != nil || len(seed) != ed25519.SeedSize {
		return "", nil, cc.Errorf(op, cc.Malformed, "private_key must be a base64url %d-byte seed", ed25519.SeedSize)
	}
	defer clear(seed)
	pub, err := tx.DecodeKey(f.PublicKey)
	if err != nil {
		return "", nil, cc.Errorf(op, cc.Malformed, "public_key: %v", err)
	}
	priv = ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		clear(priv)
		return "", nil, cc.Errorf(op, cc.Integrity, "public_key does not match private_key")
	}
	return f.DID, priv, nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// keyFile is the on-disk form of a key.
type keyFile struct {
	Version   int       `json:"version"`
	Name      string    `json:"name"`
	DID       cc.DID    `json:"did"`
	PublicKey string    `json:"public_key"`
	Created   time.Time `json:"created"`
	KDF       kdfParams `json:"kdf"`
	Check     string    `json:"check"`
	Cipher    sealed    `json:"cipher"`

	// Decoded binary fields, filled by read.
	pub, salt, check, nonce, ct []byte
}

type kdfParams struct {
	Name string `json:"name"`
	N    int    `json:"n"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt string `json:"salt"`
}

type sealed struct {
	Name       string `json:"name"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

func (f *keyFile) key() *Key {
	return &Key{Name: f.Name, DID: f.DID, PublicKey: f.pub, Created: f.Created}
}

// associatedData binds a sealed seed to its key's name and DID. Neither
// contains a NUL, so the encoding is unambiguous.
func associatedData(name string, did cc.DID) []byte {
	return []byte(adPrefix + name + "\x00" + string(did))
}

// deriveKeys runs scrypt and returns the AEAD key and the passphrase verifier.
func deriveKeys(passphrase string, salt []byte, n, r, p int) (aeadKey, check []byte, err error) {
	dk, err := scrypt.Key([]byte(passphrase), salt, n, r, p, 64)
	if err != nil {
		return nil, nil, err
	}
	defer clear(dk)
	mac := hmac.New(sha256.New, dk[32:])
	mac.Write([]byte(checkLabel))
	return bytes.Clone(dk[:32]), mac.Sum(nil), nil
}

// seal encrypts k's seed under passphrase and returns the key file bytes.
func (s *Store) seal(op string, k *Key, passphrase string) ([]byte, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	n := s.n()
	aeadKey, check, err := deriveKeys(passphrase, salt, n, scryptR, scryptP)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer clear(aeadKey)
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	ct := aead.Seal(nil, nonce, k.private.Seed(), associatedData(k.Name, k.DID))
	enc := base64.RawURLEncoding.EncodeToString
	b, err := json.MarshalIndent(keyFile{
		Version:   fileVersion,
		Name:      k.Name,
		DID:       k.DID,
		PublicKey: tx.EncodeKey(k.PublicKey),
		Created:   k.Created,
		KDF:       kdfParams{Name: kdfScrypt, N: n, R: scryptR, P: scryptP, Salt: enc(salt)},
		Check:     enc(check),
		Cipher:    sealed{Name: cipherXChaCha, Nonce: enc(nonce), Ciphertext: enc(ct)},
	}, "", "  ")
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	return append(b, '\n'), nil
}

// read loads and validates the key file of name, without decrypting it.
func (s *Store) read(op, name string) (*keyFile, error) {
	fh, err := os.Open(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, cc.Errorf(op, cc.NotFound, "no key named %q", name)
	}
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	corrupt := func(format string, args ...any) error {
		return cc.Errorf(op, cc.Integrity, "key file %s is corrupt: %s", name+fileExt, fmt.Sprintf(format, args...))
	}
	if len(b) > maxFileSize {
		return nil, corrupt("larger than %d bytes", maxFileSize)
	}
	var f keyFile
	if err := decodeStrict(b, &f); err != nil {
		return nil, corrupt("%v", err)
	}
	if f.Version != fileVersion {
		return nil, corrupt("unsupported version %d", f.Version)
	}
	if f.Name != name {
		return nil, corrupt("it holds key %q", f.Name)
	}
	if !f.DID.Valid() {
		return nil, corrupt("did %q is not a did:cc identifier", f.DID)
	}
	if f.Created.IsZero() {
		return nil, corrupt("no creation time")
	}
	if f.KDF.Name != kdfScrypt || f.Cipher.Name != cipherXChaCha {
		return nil, corrupt("unsupported kdf %q or cipher %q", f.KDF.Name, f.Cipher.Name)
	}
	if k := f.KDF; k.N < MinScryptN || k.N > MaxScryptN || k.N&(k.N-1) != 0 || k.R < 1 || k.R > maxR || k.P < 1 || k.P > maxP {
		return nil, corrupt("unsupported scrypt parameters n=%d r=%d p=%d", k.N, k.R, k.P)
	}
	dec := func(field, s string, min, max int) ([]byte, error) {
		v, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(v) < min || len(v) > max {
			return nil, corrupt("%s is not base64url of the right length", field)
		}
		return v, nil
	}
	if f.pub, err = dec("public_key", f.PublicKey, ed25519.PublicKeySize, ed25519.PublicKeySize); err != nil {
		return nil, err
	}
	if f.salt, err = dec("salt", f.KDF.Salt, saltSize, 64); err != nil {
		return nil, err
	}
	if f.check, err = dec("check", f.Check, checkSize, checkSize); err != nil {
		return nil, err
	}
	if f.nonce, err = dec("nonce", f.Cipher.Nonce, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX); err != nil {
		return nil, err
	}
	ctSize := ed25519.SeedSize + chacha20poly1305.Overhead
	if f.ct, err = dec("ciphertext", f.Cipher.Ciphertext, ctSize, ctSize); err != nil {
		return nil, err
	}
	return &f, nil
}

// open decrypts f with passphrase and returns the unlocked key.
func (f *keyFile) open(op, passphrase string) (*Key, error) {
	aeadKey, check, err := deriveKeys(passphrase, f.salt, f.KDF.N, f.KDF.R, f.KDF.P)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	defer clear(aeadKey)
	if !hmac.Equal(check, f.check) {
		return nil, cc.Errorf(op, cc.Unauthorized, "wrong passphrase")
	}
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return nil, cc.E(op, cc.Internal, err)
	}
	seed, err := aead.Open(nil, f.nonce, f.ct, associatedData(f.Name, f.DID))
	if err != nil {
		return nil, cc.Errorf(op, cc.Integrity, "key file %s is corrupt: the sealed key does not authenticate", f.Name+fileExt)
	}
	defer clear(seed)
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), f.pub) {
		clear(priv)
		return nil, cc.Errorf(op, cc.Integrity, "key file %s is corrupt: public_key does not match the private key", f.Name+fileExt)
	}
	k := f.key()
	k.private = priv
	return k, nil
}

// writeTemp writes b to a new temporary file (mode 0600) in the store
// directory, syncs it and returns its path. Temporary names do not end in
// .json, so List never sees them.
func (s *Store) writeTemp(b []byte) (string, error) {
	fh, err := os.CreateTemp(s.Dir, ".keystore-*.tmp")
	if err != nil {
		return "", err
	}
	tmp := fh.Name()
	err = fh.Chmod(fileMode)
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
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// writeNew atomically creates the file of name with contents b, failing with
// Conflict if it exists. It links a synced temporary file into place, which
// never overwrites; where hard links are unsupported it falls back to a
// check-then-rename, which can race with another process.
func (s *Store) writeNew(op, name string, b []byte) error {
	tmp, err := s.writeTemp(b)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer os.Remove(tmp)
	dst := s.path(name)
	if err := os.Link(tmp, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return cc.Errorf(op, cc.Conflict, "a key named %q exists", name)
		}
		if _, serr := os.Lstat(dst); serr == nil {
			return cc.Errorf(op, cc.Conflict, "a key named %q exists", name)
		}
		if err := os.Rename(tmp, dst); err != nil {
			return cc.E(op, cc.Internal, err)
		}
	}
	return s.syncDir(op)
}

// writeReplace atomically replaces the file of name with contents b.
func (s *Store) writeReplace(op, name string, b []byte) error {
	tmp, err := s.writeTemp(b)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	if err := os.Rename(tmp, s.path(name)); err != nil {
		os.Remove(tmp)
		return cc.E(op, cc.Internal, err)
	}
	return s.syncDir(op)
}

// syncDir makes a rename or link in the store directory durable.
func (s *Store) syncDir(op string) error {
	d, err := os.Open(s.Dir)
	if err != nil {
		return cc.E(op, cc.Internal, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return cc.E(op, cc.Internal, err)
	}
	return nil
}
