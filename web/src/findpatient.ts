// Find a patient by identifier (e.g. a medical record number): a FHIR
// Patient?identifier= search signed for no patient. The node answers only a
// Patient the consent state lets the clinician see, under an access event
// logged on the patient's ledger record, and names the patient's DID in the
// Carechain-Patient header; nothing visible answers an empty searchset,
// exactly as an unknown identifier does.
import { APIError } from "./api";
import { goQueryEncode, signRead, type Identity } from "./crypto";

export interface Found {
  did: string;
  patient: Record<string, any>;
}

/** The patient carrying identifier (system|value, or a value) that the clinician may see, or null. */
export async function findByIdentifier(id: Identity, chainID: string, identifier: string, purpose: string, org: string): Promise<Found | null> {
  const q = { identifier: [identifier] };
  const header = await signRead(id, chainID, { patient: "", action: "search", purpose, query: goQueryEncode({ ...q, _type: ["Patient"] }), org: org || undefined });
  const r = await fetch(`/fhir/Patient?${goQueryEncode(q)}`, { headers: { "Carechain-Read": header, Accept: "application/fhir+json" } });
  const text = await r.text();
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try {
      const o = JSON.parse(text);
      msg = o.issue?.[0]?.diagnostics || o.detail || msg;
    } catch {
      /* not JSON */
    }
    throw new APIError(msg, r.status);
  }
  const b = JSON.parse(text) as { entry?: { resource: Record<string, any> }[] };
  const did = r.headers.get("Carechain-Patient");
  if (!b.entry?.length || !did) return null;
  return { did, patient: b.entry[0].resource };
}
