// The clinician view: find a patient, state a purpose, and read only what
// the patient's consent allows. Every search is signed here (Carechain-Read)
// and logged on the ledger before the custodian releases anything.
import { get, getChainID, type Account } from "./api";
import { goQueryEncode, signRead, type Identity } from "./crypto";
import { breakGlassCard, immunizationCard, myPrescriptionsCard, prescriptionCard, reviewsCard } from "./clinical";
import { medicationName } from "./portal";
import { directory } from "./directory";
import { findByIdentifier } from "./findpatient";
import { signInForm } from "./signin";
import { errorText, field, fmtDate, h, purposes, shortDID, statusLine } from "./ui";

let session: Identity | null = null;

export function clinicianPage(root: HTMLElement): void {
  if (!session) {
    root.append(
      h("h1", {}, "Clinician view"),
      signInForm("a clinician", (id) => {
        session = id;
        root.replaceChildren();
        clinicianPage(root);
      }),
    );
    return;
  }
  const id = session;
  const signOut = h("button", { type: "button", class: "secondary" }, "Sign out");
  signOut.addEventListener("click", () => {
    session = null;
    root.replaceChildren();
    clinicianPage(root);
  });
  const patient = h("input", { type: "text", id: "find-patient", required: true, placeholder: "did:cc:… or system|value", autocomplete: "off", spellcheck: "false" });
  const purpose = h("select", { id: "read-purpose" }, purposes.map(([c, n]) => h("option", { value: c }, `${n} (${c})`)));
  const org = h("select", { id: "read-org" }, h("option", { value: "" }, "Any of my organizations"));
  const status = statusLine();
  const results = h("div", { id: "read-results" });
  const button = h("button", { type: "submit" }, "Read what I may see");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "find-h" },
    h("h2", { id: "find-h" }, "Find a patient"),
    field("Patient DID or identifier", patient, "A did:cc identifier, or an identifier such as a medical record number (system|value): found only if the patient's consent lets you see them, and logged."),
    field("Purpose of use", purpose, "Logged on the ledger with every record released."),
    field("Acting for", org),
    button,
    status,
  );
  const whoami = h("span", {}, "");
  const tools = h("div", { class: "grid" });
  root.append(h("h1", {}, "Clinician view"), h("p", { class: "whoami" }, "Signed in as ", h("code", {}, id.did), " ", whoami, " ", signOut), form, results, tools);
  Promise.all([get<Account>("/v1/accounts/" + id.did), directory()]).then(
    ([acct, dir]) => {
      whoami.textContent = dir.describe(id.did) ? `(${dir.describe(id.did)})` : "";
      for (const m of acct.memberships || []) org.append(h("option", { value: m.org }, dir.orgName(m.org)));
      const readAs = (p: string, o?: string) => {
        purpose.value = p;
        if (o) org.value = o;
        form.requestSubmit();
      };
      const reviews = reviewsCard(id, acct, dir);
      if (reviews) tools.before(reviews);
      tools.append(breakGlassCard(id, acct, dir, patient, readAs), immunizationCard(id, acct, dir, patient), prescriptionCard(id, acct, dir, patient));
      if ((acct.memberships || []).some((m) => m.roles.includes("physician"))) tools.after(myPrescriptionsCard(id, acct, medicationName));
    },
    (e) => status.set("Your account: " + errorText(e), "error"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let did = patient.value.trim();
    if (!did) {
      status.set("Enter the patient's did:cc identifier or an identifier (system|value).", "error");
      return;
    }
    button.disabled = true;
    results.replaceChildren();
    status.set("Signing the requests and waiting for the access log…", "busy");
    try {
      let found = "";
      if (!/^did:cc:[a-z2-7]+$/.test(did)) {
        const f = await findByIdentifier(id, await getChainID(), did, purpose.value, org.value);
        if (!f) {
          status.set(`No patient you may see has the identifier ${did}.`, "error");
          return;
        }
        found = `Found by identifier ${did}: ${describe(f.patient)}. `;
        did = f.did;
        patient.value = did;
        patient.dataset.found = did;
      }
      const anchors = await get<{ id: string; type: string }[]>(`/v1/patients/${did}/records`);
      const ref = anchors.find((a) => a.type === "Patient")?.id;
      if (!ref) throw new Error("no Patient record is anchored for this DID");
      const types = [...new Set(anchors.map((a) => a.type))].sort();
      const chainID = await getChainID();
      const sections = await Promise.all(types.map((t) => searchType(id, chainID, did, ref, t, purpose.value, org.value)));
      const shared = sections.filter((s) => s.shared).length;
      status.set(`${found}${shared} of ${types.length} record types shared with you for ${purpose.value}.`, "ok");
      results.replaceChildren(...sections.map((s) => s.el));
    } catch (e) {
      status.set("Could not read: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
}

interface Bundle {
  total?: number;
  entry?: { resource: Record<string, any> }[];
}

async function searchType(id: Identity, chainID: string, patient: string, ref: string, type: string, purpose: string, org: string) {
  const q = { patient: [ref] };
  const header = await signRead(id, chainID, { patient, action: "search", purpose, query: goQueryEncode({ ...q, _type: [type] }), org: org || undefined });
  const sec = h("section", { class: "card", "data-type": type, "aria-label": type });
  try {
    const b = await get<Bundle>(`/fhir/${type}?${goQueryEncode(q)}`, { "Carechain-Read": header, Accept: "application/fhir+json" });
    const entries = b.entry || [];
    if (entries.length === 0) {
      sec.classList.add("not-shared");
      sec.append(h("h2", {}, type), h("p", { class: "not-shared-note" }, "🔒 Not shared with you — the patient's consent does not allow this (or there is nothing to see)."));
      return { el: sec, shared: false };
    }
    sec.append(h("h2", {}, `${type} (${entries.length})`), h("ul", {}, entries.map((e) => h("li", {}, describe(e.resource)))));
    return { el: sec, shared: true };
  } catch (e) {
    sec.classList.add("not-shared");
    sec.append(h("h2", {}, type), h("p", { class: "error" }, errorText(e)));
    return { el: sec, shared: false };
  }
}

function text(cc: any): string {
  return cc?.text || cc?.coding?.[0]?.display || cc?.coding?.[0]?.code || "";
}

/** A one-line, human reading of common resources. */
function describe(r: Record<string, any>): string {
  switch (r.resourceType) {
    case "Patient": {
      const n = r.name?.[0];
      return `${[...(n?.given || []), n?.family].filter(Boolean).join(" ") || "(no name)"} · born ${r.birthDate || "?"} · ${r.gender || ""}`;
    }
    case "Immunization":
      return `${text(r.vaccineCode)} · ${fmtDate(r.occurrenceDateTime)} · ${r.status}${r.lotNumber ? " · lot " + r.lotNumber : ""}`;
    case "Observation": {
      const v = r.valueQuantity ? `${r.valueQuantity.value} ${r.valueQuantity.unit || ""}` : r.valueCodeableConcept ? text(r.valueCodeableConcept) : r.valueString || "";
      return `${text(r.code)}: ${v} · ${fmtDate(r.effectiveDateTime)}`;
    }
    case "Condition":
      return `${text(r.code)} · since ${fmtDate(r.onsetDateTime || r.recordedDate)}`;
    case "Encounter":
      return `${text(r.type?.[0]) || r.class?.code || "encounter"} · ${fmtDate(r.period?.start)}`;
    case "MedicationRequest":
      return `${text(r.medicationCodeableConcept)} · ${r.status}`;
    default:
      return `${r.resourceType}/${shortDID(r.id || "")}`;
  }
}
