// Keys, canonical JSON and signatures, all in the browser. The private key
// is imported into WebCrypto as a non-extractable Ed25519 key: it never
// leaves this page, and is forgotten when the tab closes.
import { scrypt } from "@noble/hashes/scrypt.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

export function utf8(s: string): Uint8Array {
  return enc.encode(s);
}

export function fromUtf8(b: Uint8Array): string {
  return dec.decode(b);
}

export function b64urlEncode(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes base64 or base64url, padded or not. */
export function b64Decode(s: string): Uint8Array {
  const t = s.replace(/-/g, "+").replace(/_/g, "/").replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(t)) throw new Error("not base64");
  const bin = atob(t + "=".repeat((4 - (t.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) throw new Error("not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * RFC 8785 (JCS) canonical JSON of a JSON value: object members sorted by
 * UTF-16 code units, ECMAScript number and string serialization, no
 * whitespace. Undefined members are left out, as JSON.stringify does.
 */
export function canonicalJSON(v: unknown): string {
  if (v === null) return "null";
  switch (typeof v) {
    case "boolean":
      return v ? "true" : "false";
    case "number":
      if (!Number.isFinite(v)) throw new Error("JCS: a number must be finite");
      return JSON.stringify(v);
    case "string":
      return JSON.stringify(v);
    case "object": {
      if (Array.isArray(v)) return "[" + v.map((x) => canonicalJSON(x === undefined ? null : x)).join(",") + "]";
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o)
        .filter((k) => o[k] !== undefined)
        .sort();
      return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJSON(o[k])).join(",") + "}";
    }
    default:
      throw new Error("JCS: unsupported value of type " + typeof v);
  }
}

/** A signed-in identity: its DID and a non-extractable WebCrypto key. */
export interface Identity {
  did: string;
  publicKey: Uint8Array;
  name: string;
  key: CryptoKey;
}

const didAlphabet = "abcdefghijklmnopqrstuvwxyz234567";

/** did:cc of an initial public key: base32(sha256("carechain-did-v1" ‖ key)[:20]). */
export function deriveDID(pub: Uint8Array): string {
  const h = sha256(concat(utf8("carechain-did-v1"), pub)).slice(0, 20);
  let bits = 0,
    value = 0,
    out = "";
  for (const b of h) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += didAlphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += didAlphabet[(value << (5 - bits)) & 31];
  return "did:cc:" + out;
}

async function importSeed(seed: Uint8Array, pub: Uint8Array): Promise<CryptoKey> {
  const jwk: JsonWebKey = { kty: "OKP", crv: "Ed25519", d: b64urlEncode(seed), x: b64urlEncode(pub), ext: false };
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
  // Prove the pair: a signature with the private key must verify under pub.
  const probe = utf8("carechain-key-check");
  const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", key, probe as BufferSource));
  if (!(await verifyEd25519(pub, sig, probe))) throw new Error("the public key does not match the private key");
  return key;
}

export async function verifyEd25519(pub: Uint8Array, sig: Uint8Array, msg: Uint8Array): Promise<boolean> {
  const k = await crypto.subtle.importKey("raw", pub as BufferSource, { name: "Ed25519" }, false, ["verify"]);
  return crypto.subtle.verify("Ed25519", k, sig as BufferSource, msg as BufferSource);
}

interface KeystoreFile {
  version: number;
  name: string;
  did: string;
  public_key: string;
  kdf: { name: string; n: number; r: number; p: number; salt: string };
  check: string;
  cipher: { name: string; nonce: string; ciphertext: string };
}

interface ExportFile {
  did: string;
  public_key: string;
  private_key: string;
}

/**
 * Signs in with a key file: a keystore file (HOME/keys/NAME.json, decrypted
 * here with the passphrase: scrypt, then XChaCha20-Poly1305 with the name
 * and DID as associated data) or a plaintext export (`carechain keys
 * export`). `did` is needed only for a raw seed (base64url), whose DID may
 * have outlived a key rotation.
 */
export async function signIn(text: string, passphrase: string, did?: string): Promise<Identity> {
  text = text.trim();
  if (!text.startsWith("{")) {
    const seed = b64Decode(text);
    if (seed.length !== 32) throw new Error("a raw key is the base64url 32-byte private key seed");
    const pub = await publicFromSeed(seed);
    return { did: did || deriveDID(pub), publicKey: pub, name: "", key: await importSeed(seed, pub) };
  }
  let f: Partial<KeystoreFile & ExportFile>;
  try {
    f = JSON.parse(text);
  } catch {
    throw new Error("the key file is not JSON");
  }
  if (typeof f.private_key === "string" && typeof f.did === "string" && typeof f.public_key === "string") {
    const seed = b64Decode(f.private_key);
    const pub = b64Decode(f.public_key);
    if (seed.length !== 32 || pub.length !== 32) throw new Error("the exported key file has keys of the wrong size");
    return { did: f.did, publicKey: pub, name: "", key: await importSeed(seed, pub) };
  }
  const k = f as KeystoreFile;
  if (k.version !== 1 || !k.kdf || !k.cipher || typeof k.did !== "string" || typeof k.name !== "string")
    throw new Error("not a carechain key file (keystore version 1 or an export)");
  if (k.kdf.name !== "scrypt" || k.cipher.name !== "xchacha20-poly1305") throw new Error("unsupported key file algorithms");
  if (k.kdf.n > 1 << 20 || k.kdf.r > 32 || k.kdf.p > 16) throw new Error("the key file asks for too costly a key derivation");
  if (!passphrase) throw new Error("enter the key file's passphrase");
  const dk = scrypt(utf8(passphrase), b64Decode(k.kdf.salt), { N: k.kdf.n, r: k.kdf.r, p: k.kdf.p, dkLen: 64 });
  const check = hmac(sha256, dk.slice(32), utf8("carechain-keystore-v1 passphrase check"));
  if (!equalBytes(check, b64Decode(k.check))) throw new Error("wrong passphrase");
  const ad = utf8("carechain-keystore-v1\x00" + k.name + "\x00" + k.did);
  let seed: Uint8Array;
  try {
    seed = xchacha20poly1305(dk.slice(0, 32), b64Decode(k.cipher.nonce), ad).decrypt(b64Decode(k.cipher.ciphertext));
  } catch {
    throw new Error("the key file is damaged: the sealed key does not authenticate");
  } finally {
    dk.fill(0);
  }
  const pub = b64Decode(k.public_key);
  try {
    return { did: k.did, publicKey: pub, name: k.name, key: await importSeed(seed, pub) };
  } finally {
    seed.fill(0);
  }
}

/** The Ed25519 public key of a seed, through a short-lived extractable import. */
async function publicFromSeed(seed: Uint8Array): Promise<Uint8Array> {
  // WebCrypto derives x when importing a PKCS#8 private key and exports it as JWK.
  const pkcs8 = concat(fromHex("302e020100300506032b657004220420"), seed);
  const k = await crypto.subtle.importKey("pkcs8", pkcs8 as BufferSource, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", k);
  return b64Decode(jwk.x!);
}

async function sign(id: Identity, msg: Uint8Array): Promise<string> {
  return b64urlEncode(new Uint8Array(await crypto.subtle.sign("Ed25519", id.key, msg as BufferSource)));
}

/**
 * A transaction envelope: the RFC 8785 body {chain_id, payload, sequence,
 * type}, signed over "carechain-tx-v1\n" + signer + "\n" + body.
 */
export async function buildTx(id: Identity, chainID: string, sequence: number, type: string, payload: unknown): Promise<string> {
  const body = canonicalJSON({ chain_id: chainID, type, sequence, payload });
  const sig = await sign(id, utf8("carechain-tx-v1\n" + id.did + "\n" + body));
  return '{"body":' + body + ',"signer":' + JSON.stringify(id.did) + ',"sig":"' + sig + '"}';
}

/** The fields of a signed read request (access.ReadRequest) the caller chooses. */
export interface ReadRequest {
  patient: string;
  action: "read" | "search" | "export";
  purpose: string;
  records?: string[];
  query?: string;
  org?: string;
}

/**
 * The Carechain-Read header value: base64url(canonical request) "."
 * base64url(signature over "carechain-read-v1\n" + requester + "\n" + request).
 */
export async function signRead(id: Identity, chainID: string, r: ReadRequest): Promise<string> {
  const nonce = b64urlEncode(crypto.getRandomValues(new Uint8Array(18)));
  const req = canonicalJSON({ chain_id: chainID, requester: id.did, ...r, issued: new Date().toISOString(), nonce });
  const sig = await sign(id, utf8("carechain-read-v1\n" + id.did + "\n" + req));
  return b64urlEncode(utf8(req)) + "." + sig;
}

/** url.Values.Encode of Go: keys sorted, QueryEscape (space as +). */
export function goQueryEncode(params: Record<string, string[]>): string {
  const esc = (s: string) =>
    encodeURIComponent(s)
      .replace(/%20/g, "+")
      .replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  return Object.keys(params)
    .sort()
    .flatMap((k) => params[k].map((v) => esc(k) + "=" + esc(v)))
    .join("&");
}

/** The fields of a signed write request (access.WriteRequest) the caller chooses. */
export interface WriteRequest {
  org: string;
  patient?: string;
}

/**
 * The Carechain-Write header value for body: base64url(canonical request)
 * "." base64url(signature over "carechain-write-v1\n" + author + "\n" +
 * request), the request binding the body by its SHA-256.
 */
export async function signWrite(id: Identity, chainID: string, w: WriteRequest, body: Uint8Array): Promise<string> {
  const hash = b64urlEncode(new Uint8Array(await crypto.subtle.digest("SHA-256", body as BufferSource)));
  const nonce = b64urlEncode(crypto.getRandomValues(new Uint8Array(18)));
  const req = canonicalJSON({ chain_id: chainID, author: id.did, org: w.org, patient: w.patient, body: hash, issued: new Date().toISOString(), nonce });
  const sig = await sign(id, utf8("carechain-write-v1\n" + id.did + "\n" + req));
  return b64urlEncode(utf8(req)) + "." + sig;
}

/**
 * A patient's approval of a link to an organization (patient.link): the
 * signature over "carechain-link-v1\n" + chain + "\n" + patient + "\n" +
 * org + "\n" + expires (RFC 3339, whole seconds).
 */
export async function signLinkApproval(id: Identity, chainID: string, org: string, expires: string): Promise<string> {
  return sign(id, utf8("carechain-link-v1\n" + chainID + "\n" + id.did + "\n" + org + "\n" + expires));
}
