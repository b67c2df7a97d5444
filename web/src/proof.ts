// Checks a carechain proof bundle (GET /v1/proofs) in the browser, the same
// checks `carechain verify-proof` makes (chain/proof.go):
//  1. the write's leaf leads through the RFC 6962 Merkle path to the block's
//     writes root, and AppHash = SHA256("carechain-apphash-v1" ‖ prev ‖
//     writes root ‖ state digest) (ledger/store/commitment.go);
//  2. the signed header of the next height carries exactly that AppHash,
//     and hashes (CometBFT's Header.Hash: a Merkle tree over its protobuf
//     fields) to the block id its commit signed;
//  3. the validator set hashes to the header's validators_hash, and
//     validators with more than two thirds of the power signed the commit
//     (Ed25519 over the length-prefixed protobuf CanonicalVote).
// Trust in the validator set itself is the reader's: compare its hash with
// the genesis validators (the explorer shows it).
import { sha256 } from "@noble/hashes/sha2.js";
import { b64Decode, concat, equalBytes, fromHex, fromUtf8, hex, utf8, verifyEd25519 } from "./crypto";

export interface ProofBundle {
  chain_id: string;
  key: string;
  height: number;
  store_proof: StoreProof;
  signed_header: SignedHeader;
  validators: { validators: Validator[] };
}

interface StoreProof {
  key: string;
  value: string | null;
  deleted: boolean;
  height: number;
  prev_app_hash: string | null;
  writes_root: string;
  state_digest: string;
  app_hash: string;
  merkle: { total: number | string; index: number | string; leaf_hash: string; aunts: string[] | null };
}

interface BlockID {
  hash: string;
  parts: { total: number; hash: string };
}

interface SignedHeader {
  header: {
    version: { block: string; app?: string };
    chain_id: string;
    height: string;
    time: string;
    last_block_id: BlockID;
    last_commit_hash: string;
    data_hash: string;
    validators_hash: string;
    next_validators_hash: string;
    consensus_hash: string;
    app_hash: string;
    last_results_hash: string;
    evidence_hash: string;
    proposer_address: string;
  };
  commit: {
    height: string;
    round: number;
    block_id: BlockID;
    signatures: { block_id_flag: number; validator_address: string; timestamp: string; signature: string | null }[];
  };
}

interface Validator {
  address: string;
  pub_key: { type: string; value: string };
  voting_power: string;
}

export interface Verified {
  key: string;
  value: string;
  deleted: boolean;
  height: number;
  appHash: string;
  headerHeight: number;
  blockHash: string;
  validatorsHash: string;
  signedPower: bigint;
  totalPower: bigint;
  steps: string[];
}

export class ProofError extends Error {}

function fail(msg: string): never {
  throw new ProofError(msg);
}

// ---- Merkle trees as CometBFT's crypto/merkle (RFC 6962) ----

const leafHash = (b: Uint8Array) => sha256(concat(new Uint8Array([0]), b));
const innerHash = (l: Uint8Array, r: Uint8Array) => sha256(concat(new Uint8Array([1]), l, r));

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

export function merkleRoot(items: Uint8Array[]): Uint8Array {
  if (items.length === 0) return sha256(new Uint8Array(0));
  if (items.length === 1) return leafHash(items[0]);
  const k = splitPoint(items.length);
  return innerHash(merkleRoot(items.slice(0, k)), merkleRoot(items.slice(k)));
}

function rootFromAunts(index: number, total: number, leaf: Uint8Array, aunts: Uint8Array[]): Uint8Array {
  if (index < 0 || index >= total || total <= 0) fail("Merkle path: index out of range");
  if (total === 1) {
    if (aunts.length !== 0) fail("Merkle path: unexpected inner hashes");
    return leaf;
  }
  if (aunts.length === 0) fail("Merkle path: missing inner hashes");
  const k = splitPoint(total);
  const rest = aunts.slice(0, -1);
  const last = aunts[aunts.length - 1];
  if (index < k) return innerHash(rootFromAunts(index, k, leaf, rest), last);
  return innerHash(last, rootFromAunts(index - k, total - k, leaf, rest));
}

// ---- protobuf encoding, just what headers and votes need ----

function uvarint(n: bigint): Uint8Array {
  if (n < 0n) n = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return new Uint8Array(out);
}

const tag = (field: number, wire: number) => uvarint(BigInt((field << 3) | wire));
const pbVarint = (field: number, v: bigint) => (v === 0n ? new Uint8Array(0) : concat(tag(field, 0), uvarint(v)));
const pbBytes = (field: number, b: Uint8Array) => (b.length === 0 ? new Uint8Array(0) : concat(tag(field, 2), uvarint(BigInt(b.length)), b));
const pbMessage = (field: number, b: Uint8Array) => concat(tag(field, 2), uvarint(BigInt(b.length)), b); // non-nullable: always written
function pbSfixed64(field: number, v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v, true);
  return concat(tag(field, 1), b);
}

/** google.protobuf.Timestamp of an RFC 3339 UTC time with up to nanoseconds. */
function timestamp(s: string): Uint8Array {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/.exec(s);
  if (!m) fail(`time ${s} is not an RFC 3339 UTC time`);
  const secs = BigInt(Date.parse(m[1] + "Z") / 1000);
  const nanos = BigInt((m[2] || "").padEnd(9, "0") || "0");
  return concat(pbVarint(1, secs), pbVarint(2, nanos));
}

function blockID(b: BlockID): Uint8Array {
  const psh = concat(pbVarint(1, BigInt(b.parts.total)), pbBytes(2, fromHex(b.parts.hash)));
  return concat(pbBytes(1, fromHex(b.hash)), pbMessage(2, psh));
}

/** CometBFT's Header.Hash(). */
export function headerHash(h: SignedHeader["header"]): Uint8Array {
  const version = concat(pbVarint(1, BigInt(h.version.block)), pbVarint(2, BigInt(h.version.app || "0")));
  const bytesValue = (x: string) => pbBytes(1, fromHex(x));
  return merkleRoot([
    version,
    pbBytes(1, utf8(h.chain_id)),
    pbVarint(1, BigInt(h.height)),
    timestamp(h.time),
    blockID(h.last_block_id),
    bytesValue(h.last_commit_hash),
    bytesValue(h.data_hash),
    bytesValue(h.validators_hash),
    bytesValue(h.next_validators_hash),
    bytesValue(h.consensus_hash),
    bytesValue(h.app_hash),
    bytesValue(h.last_results_hash),
    bytesValue(h.evidence_hash),
    bytesValue(h.proposer_address),
  ]);
}

function ed25519Key(v: Validator): Uint8Array {
  if (v.pub_key.type !== "tendermint/PubKeyEd25519") fail(`validator ${v.address} has a ${v.pub_key.type} key; this checker knows Ed25519`);
  const k = b64Decode(v.pub_key.value);
  if (k.length !== 32) fail(`validator ${v.address}: key of ${k.length} bytes`);
  return k;
}

/** ValidatorSet.Hash(): Merkle root of SimpleValidator{pub_key, voting_power}. */
export function validatorsHash(vals: Validator[]): Uint8Array {
  return merkleRoot(vals.map((v) => concat(pbMessage(1, pbBytes(1, ed25519Key(v))), pbVarint(2, BigInt(v.voting_power)))));
}

/** The bytes a validator signs for a precommit: length-prefixed CanonicalVote. */
function voteSignBytes(chainID: string, height: bigint, round: bigint, b: BlockID, time: string): Uint8Array {
  const psh = concat(pbVarint(1, BigInt(b.parts.total)), pbBytes(2, fromHex(b.parts.hash)));
  const cbid = concat(pbBytes(1, fromHex(b.hash)), pbMessage(2, psh));
  const vote = concat(
    pbVarint(1, 2n), // SIGNED_MSG_TYPE_PRECOMMIT
    pbSfixed64(2, height),
    pbSfixed64(3, round),
    pbMessage(4, cbid),
    pbMessage(5, timestamp(time)),
    pbBytes(6, utf8(chainID)),
  );
  return concat(uvarint(BigInt(vote.length)), vote);
}

// ---- the bundle ----

/** The store proof's Merkle leaf of a write (ledger/store.Leaf). */
function writeLeaf(key: string, deleted: boolean, value: Uint8Array): Uint8Array {
  const k = utf8(key);
  const head = concat(uvarint(BigInt(k.length)), k);
  if (deleted) return concat(head, new Uint8Array([1]), new Uint8Array(32));
  return concat(head, new Uint8Array([0]), sha256(value));
}

export async function verifyBundle(b: ProofBundle): Promise<Verified> {
  const steps: string[] = [];
  const p = b.store_proof;
  if (!p || !p.merkle || !b.signed_header?.header || !b.signed_header?.commit || !b.validators?.validators)
    fail("not a proof bundle: it needs store_proof, signed_header and validators");
  if (p.key !== b.key || p.height !== b.height) fail(`the bundle names ${b.key} at ${b.height} but its proof is for ${p.key} at ${p.height}`);
  const value = p.value ? b64Decode(p.value) : new Uint8Array(0);
  if (p.deleted && value.length > 0) fail("a deletion carries a value");

  // 1. The write is in the block's writes, and the parts make the AppHash.
  const leaf = writeLeaf(p.key, p.deleted, value);
  if (!equalBytes(leafHash(leaf), b64Decode(p.merkle.leaf_hash))) fail(`the leaf hash is not the hash of the write of ${p.key}`);
  const aunts = (p.merkle.aunts || []).map(b64Decode);
  const root = rootFromAunts(Number(p.merkle.index), Number(p.merkle.total), leafHash(leaf), aunts);
  const writesRoot = b64Decode(p.writes_root);
  if (!equalBytes(root, writesRoot)) fail(`the write of ${p.key} is not in block ${p.height}'s writes (Merkle root ${hex(root)} ≠ ${hex(writesRoot)})`);
  steps.push(`the write of ${p.key} is leaf ${Number(p.merkle.index) + 1} of ${p.merkle.total} under the writes root of block ${p.height}`);
  const appHash = sha256(
    concat(utf8("carechain-apphash-v1"), p.prev_app_hash ? b64Decode(p.prev_app_hash) : new Uint8Array(0), writesRoot, b64Decode(p.state_digest)),
  );
  if (!equalBytes(appHash, b64Decode(p.app_hash))) fail("the AppHash does not match its parts");
  steps.push(`AppHash of block ${p.height}: ${hex(appHash)}`);

  // 2. The signed header of the next height carries it, and is the block that was signed.
  const sh = b.signed_header;
  const h = sh.header;
  if (h.chain_id !== b.chain_id) fail(`the header is of chain ${h.chain_id}, not ${b.chain_id}`);
  if (BigInt(h.height) !== BigInt(p.height) + 1n) fail(`the header is for height ${h.height}; block ${p.height}'s AppHash is in header ${p.height + 1}`);
  if (!equalBytes(fromHex(h.app_hash), appHash)) fail(`the signed header carries AppHash ${h.app_hash.toLowerCase()}, the proof recomputes ${hex(appHash)}`);
  const hh = headerHash(h);
  if (!equalBytes(hh, fromHex(sh.commit.block_id.hash))) fail(`the header hashes to ${hex(hh)} but the commit signed block ${sh.commit.block_id.hash.toLowerCase()}`);
  if (BigInt(sh.commit.height) !== BigInt(h.height)) fail("the commit is for another height");
  steps.push(`header ${h.height} carries that AppHash and hashes to block ${hex(hh)}`);

  // 3. The validator set and its signatures.
  const vals = b.validators.validators;
  const vh = validatorsHash(vals);
  if (!equalBytes(vh, fromHex(h.validators_hash))) fail(`the validator set hashes to ${hex(vh)}, not the header's ${h.validators_hash.toLowerCase()}`);
  let total = 0n,
    signed = 0n;
  for (const v of vals) total += BigInt(v.voting_power);
  const sigs = sh.commit.signatures;
  if (sigs.length !== vals.length) fail(`the commit has ${sigs.length} signatures for ${vals.length} validators`);
  for (let i = 0; i < sigs.length; i++) {
    const s = sigs[i];
    if (s.block_id_flag !== 2) continue; // absent or nil vote
    const v = vals[i];
    const pub = ed25519Key(v);
    if (!equalBytes(sha256(pub).slice(0, 20), fromHex(v.address)) || s.validator_address.toUpperCase() !== v.address.toUpperCase())
      fail(`signature ${i} is not from validator ${v.address}`);
    const msg = voteSignBytes(b.chain_id, BigInt(sh.commit.height), BigInt(sh.commit.round), sh.commit.block_id, s.timestamp);
    if (!s.signature || !(await verifyEd25519(pub, b64Decode(s.signature), msg))) fail(`validator ${v.address}'s signature does not verify`);
    signed += BigInt(v.voting_power);
  }
  if (signed * 3n <= total * 2n) fail(`only ${signed} of ${total} voting power signed`);
  steps.push(`${signed} of ${total} voting power signed it (validator set ${hex(vh)})`);

  return {
    key: p.key,
    value: fromUtf8(value),
    deleted: p.deleted,
    height: p.height,
    appHash: hex(appHash),
    headerHeight: Number(h.height),
    blockHash: hex(hh),
    validatorsHash: hex(vh),
    signedPower: signed,
    totalPower: total,
    steps,
  };
}
