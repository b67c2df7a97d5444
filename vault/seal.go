package vault

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
)

// Domain-separation labels that start the associated data of each kind of
// ciphertext, so a ciphertext of one kind never authenticates as another.
const (
	adBlob        = "carechain/vault/blob/v1\x00"
	adDEK         = "carechain/vault/dek/v1\x00"
	adSalt        = "carechain/vault/salt/v1\x00"
	kekCheckLabel = "carechain/vault/kek-check/v1"
)

// errAuth is the cause wrapped in Integrity errors when an AEAD open fails.
var errAuth = errors.New("message authentication failed")

// blobAD is the associated data of a blob: label ‖ record id ‖ 0x00 ‖ version.
func blobAD(id string, version int) []byte {
	ad := make([]byte, 0, len(adBlob)+len(id)+5)
	ad = append(ad, adBlob...)
	ad = append(ad, id...)
	ad = append(ad, 0)
	return binary.BigEndian.AppendUint32(ad, uint32(version))
}

// dekAD is the associated data of a wrapped data key:
// label ‖ kek id ‖ 0x00 ‖ record id ‖ 0x00 ‖ version.
func dekAD(kekID, id string, version int) []byte {
	ad := make([]byte, 0, len(adDEK)+len(kekID)+len(id)+6)
	ad = append(ad, adDEK...)
	ad = append(ad, kekID...)
	ad = append(ad, 0)
	ad = append(ad, id...)
	ad = append(ad, 0)
	return binary.BigEndian.AppendUint32(ad, uint32(version))
}

// saltAD is the associated data of a wrapped salt: label ‖ kek id ‖ 0x00 ‖ record id.
func saltAD(kekID, id string) []byte {
	ad := make([]byte, 0, len(adSalt)+len(kekID)+len(id)+1)
	ad = append(ad, adSalt...)
	ad = append(ad, kekID...)
	ad = append(ad, 0)
	return append(ad, id...)
}

// newGCM returns AES-256-GCM under key (32 bytes).
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// randomSecret reads a fresh 32-byte secret (data key or salt) from rnd.
func randomSecret(rnd io.Reader) ([]byte, error) {
	s := make([]byte, secretSize)
	if _, err := io.ReadFull(rnd, s); err != nil {
		return nil, err
	}
	return s, nil
}

// wrap seals a 32-byte secret under the KEK with a fresh random nonce.
func (k *KEK) wrap(rnd io.Reader, secret, ad []byte) (wrapped, error) {
	aead, err := k.aead()
	if err != nil {
		return wrapped{}, err
	}
	nonce := make([]byte, nonceSize)
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return wrapped{}, err
	}
	return wrapped{KEKID: k.ID, Nonce: nonce, Sealed: aead.Seal(nil, nonce, secret, ad)}, nil
}

// unwrap opens a wrapped secret; errAuth means the value or its associated
// data was altered (or the KEK is not the one that wrapped it).
func (k *KEK) unwrap(w wrapped, ad []byte) ([]byte, error) {
	aead, err := k.aead()
	if err != nil {
		return nil, err
	}
	secret, err := aead.Open(nil, w.Nonce, w.Sealed, ad)
	if err != nil || len(secret) != secretSize {
		clear(secret)
		return nil, errAuth
	}
	return secret, nil
}

// sealBlob encrypts plaintext under a data key with a fresh random nonce and
// returns the blob value.
func sealBlob(rnd io.Reader, dek, plaintext, ad []byte) ([]byte, error) {
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceSize, 1+nonceSize+len(plaintext)+tagSize)
	out[0] = valueFormat
	nonce := out[1 : 1+nonceSize]
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, ad), nil
}

// openBlob decrypts a blob value under its data key; errAuth means the blob
// was altered, or belongs to another record, version or data key.
func openBlob(dek, value, ad []byte) ([]byte, error) {
	nonce, sealed, ok := decodeBlob(value)
	if !ok {
		return nil, errAuth
	}
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, nonce, sealed, ad)
	if err != nil {
		return nil, errAuth
	}
	return plain, nil
}

// contentHash is the salted content hash of an anchor: HMAC-SHA256 keyed
// by the record's salt over the plaintext.
func contentHash(salt, plaintext []byte) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write(plaintext)
	return m.Sum(nil)
}

// kekCheck is the key check of a KEK stored under m/kek/<id>: an HMAC of a
// fixed label under the key. It tells a wrong key apart from damaged data
// at Open and reveals nothing usable about a 256-bit key.
func kekCheck(k *KEK) []byte {
	m := hmac.New(sha256.New, k.key[:])
	m.Write([]byte(kekCheckLabel))
	m.Write([]byte{0})
	m.Write([]byte(k.ID))
	return m.Sum(nil)
}
