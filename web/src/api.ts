// The node's HTTP API: JSON answers, problems (RFC 9457) as errors.
import { buildTx, type Identity } from "./crypto";

export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly kind = "",
  ) {
    super(message);
  }
}

async function answer<T>(r: Response): Promise<T> {
  const text = await r.text();
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    let kind = "";
    try {
      const p = JSON.parse(text);
      msg = p.detail || p.title || (p.issue && p.issue[0]?.diagnostics) || msg;
      kind = p.kind || "";
    } catch {
      /* not JSON */
    }
    throw new APIError(msg, r.status, kind);
  }
  return (text ? JSON.parse(text) : null) as T;
}

export async function get<T>(path: string, headers?: Record<string, string>): Promise<T> {
  return answer<T>(await fetch(path, { headers: { Accept: "application/json", ...headers } }));
}

export interface Status {
  chain_id: string;
  latest_height: number;
  latest_app_hash: string;
  latest_block_time: string;
  validators: { address: string; pub_key: string; power: number }[];
}

let chainID = "";
export async function getChainID(): Promise<string> {
  if (!chainID) chainID = (await get<Status>("/v1/status")).chain_id;
  return chainID;
}

export interface Account {
  did: string;
  kind: string;
  sequence: number;
  memberships: { org: string; did: string; roles: string[] }[] | null;
}

interface SubmitResult {
  hash: string;
  accepted: boolean;
  code: number;
  kind?: string;
  log?: string;
  height?: number;
  data?: unknown;
}

/** Signs one transaction in the browser, submits it and waits for its block. */
export async function submit(id: Identity, type: string, payload: unknown): Promise<SubmitResult> {
  const acct = await get<Account>("/v1/accounts/" + encodeURIComponent(id.did));
  const raw = await buildTx(id, await getChainID(), acct.sequence, type, payload);
  const r = await fetch("/v1/txs?commit=true", { method: "POST", headers: { "Content-Type": "application/json" }, body: raw });
  const text = await r.text();
  let out: { results?: SubmitResult[]; detail?: string } = {};
  try {
    out = JSON.parse(text);
  } catch {
    throw new APIError(`HTTP ${r.status}`, r.status);
  }
  const res = out.results?.[0];
  if (!res) throw new APIError(out.detail || `HTTP ${r.status}`, r.status);
  if (!res.accepted) throw new APIError((res.log || res.kind || "rejected").replace(/^[^:]+: [^:]+: /, ""), r.status, res.kind);
  return res;
}

/** POSTs a FHIR resource with a signed write; answers the new record's reference and block height. */
export async function postFHIR(type: string, body: Uint8Array, writeHeader: string): Promise<{ ref: string; height: number }> {
  const r = await fetch("/fhir/" + encodeURIComponent(type), {
    method: "POST",
    headers: { "Content-Type": "application/fhir+json", Accept: "application/fhir+json", "Carechain-Write": writeHeader },
    body: body as BodyInit,
  });
  if (!r.ok) await answer(r);
  const loc = r.headers.get("Location") || "";
  const m = loc.match(/([A-Za-z]+\/[^/]+)\/_history/);
  return { ref: m ? m[1] : loc, height: Number(r.headers.get("Carechain-Height") || 0) };
}
