// The clinician's writes: break-glass with a reason, an Immunization
// from the clinic's usable stock, an e-prescription (MedicationRequest).
// Transactions and FHIR writes are signed here with the clinician's key.
import { get, getChainID, postFHIR, submit, type Account } from "./api";
import { signWrite, type Identity } from "./crypto";
import type { Directory } from "./directory";
import { errorText, field, fmtDate, h, medications, statusLine, table } from "./ui";

interface Anchor {
  id: string;
  type: string;
  org: string;
  erased?: boolean;
}

interface Stock {
  org: string;
  lot: string;
  expiry: string;
  usable: number;
  doses: number;
}

interface Lot {
  gtin: string;
  lot: string;
  status: string;
}

interface Product {
  gtin: string;
  name: string;
  cvx?: string;
}

const didRE = /^did:cc:[a-z2-7]+$/;

/** The patient's Patient record held by org (the reference a new resource's subject names). */
async function patientRef(patient: string, org: string): Promise<string> {
  const as = await get<Anchor[]>(`/v1/patients/${patient}/records`);
  const p = as.find((a) => a.type === "Patient" && a.org === org && !a.erased) || as.find((a) => a.type === "Patient" && !a.erased);
  if (!p) throw new Error("no Patient record is anchored for this DID");
  return p.id;
}

function patientDID(input: HTMLInputElement): string {
  const did = input.value.trim();
  if (!didRE.test(did)) throw new Error("enter the patient's did:cc identifier above");
  return did;
}

function memberOrgs(acct: Account, roles: string[]): string[] {
  return (acct.memberships || []).filter((m) => (m.roles || []).some((r) => roles.includes(r))).map((m) => m.org);
}

/** Break-glass: declare an emergency window with a reason, then read for emergency treatment. */
export function breakGlassCard(id: Identity, acct: Account, dir: Directory, patient: HTMLInputElement, readAs: (purpose: string, org?: string) => void): HTMLElement {
  const orgs = memberOrgs(acct, ["emergency-clinician"]);
  const card = h("section", { class: "card breakglass-card", id: "breakglass", "aria-labelledby": "bg-h" }, h("h2", { id: "bg-h" }, "⚠ Emergency access (break-glass)"));
  if (orgs.length === 0) {
    card.append(h("p", { class: "muted" }, "Only emergency clinicians may break the glass; your roles do not include it."));
    return card;
  }
  const org = h("select", { id: "bg-org" }, orgs.map((o) => h("option", { value: o }, dir.orgName(o))));
  const code = h(
    "select",
    { id: "bg-code" },
    [
      ["life-threatening", "Life-threatening emergency"],
      ["unconscious", "Patient unconscious"],
      ["no-consent-possible", "Consent cannot be obtained"],
      ["other", "Other (explain)"],
    ].map(([v, l]) => h("option", { value: v }, l)),
  );
  const reason = h("textarea", { id: "bg-reason", rows: 2, maxlength: 500 });
  const minutes = h("input", { type: "number", id: "bg-minutes", min: "5", max: "1440", value: "60" });
  const status = statusLine();
  const button = h("button", { type: "submit", class: "danger" }, "Break the glass and read");
  const form = h(
    "form",
    {},
    h("p", {}, "Reads without the patient's consent, for emergency treatment only. The window is time-boxed, flagged on the ledger, the patient is notified and your organization's privacy officer reviews it."),
    h("div", { class: "row" }, field("Acting for", org), field("Reason", code), field("Minutes", minutes)),
    field("Reason in words", reason, "Required for \u201cother\u201d; kept on the ledger for the review."),
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const did = patientDID(patient);
      if (code.value === "other" && !reason.value.trim()) throw new Error("explain the reason");
      button.disabled = true;
      status.set("Declaring the emergency window on the ledger…", "busy");
      const res = await submit(id, "breakglass.declare", { patient: did, org: org.value, reason_code: code.value, reason: reason.value.trim(), minutes: Number(minutes.value) || 0 });
      status.set(`Emergency window open (block ${res.height}); the patient is notified. Reading for emergency treatment…`, "ok");
      readAs("ETREAT", org.value);
    } catch (e) {
      status.set("Could not break the glass: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  card.append(form);
  return card;
}

/** Record an Immunization whose lot is picked from the organization's usable stock. */
export function immunizationCard(id: Identity, acct: Account, dir: Directory, patient: HTMLInputElement): HTMLElement {
  const orgs = memberOrgs(acct, ["physician", "nurse", "emergency-clinician"]);
  const card = h("section", { class: "card", id: "immunize", "aria-labelledby": "imm-h" }, h("h2", { id: "imm-h" }, "Record an immunization"));
  if (orgs.length === 0) {
    card.append(h("p", { class: "muted" }, "Only physicians and nurses record immunizations."));
    return card;
  }
  const org = h("select", { id: "imm-org" }, orgs.map((o) => h("option", { value: o }, dir.orgName(o))));
  const lot = h("select", { id: "imm-lot", required: true });
  const dose = h("input", { type: "number", id: "imm-dose", min: "1", max: "10", value: "1" });
  const date = h("input", { type: "date", id: "imm-date", required: true, value: new Date().toISOString().slice(0, 10) });
  const status = statusLine();
  const button = h("button", { type: "submit" }, "Sign and record");
  const products = new Map<string, Product>();
  const lotProduct = new Map<string, string>();
  const loadLots = async () => {
    lot.replaceChildren(h("option", { value: "" }, "Loading stock…"));
    try {
      const [kpis, lots, prods] = await Promise.all([get<{ stock: Stock[] }>("/v1/supply/kpis"), get<Lot[]>("/v1/supply/lots"), get<Product[]>("/v1/supply/products")]);
      for (const p of prods) products.set(p.gtin, p);
      for (const l of lots) lotProduct.set(l.lot, l.gtin);
      const usable = kpis.stock.filter((s) => s.org === org.value && s.usable > 0 && s.doses > 0);
      lot.replaceChildren(
        ...(usable.length
          ? usable.map((s) => h("option", { value: s.lot }, `${s.lot} · ${products.get(lotProduct.get(s.lot) || "")?.name || "?"} · ${s.doses} doses left · expires ${fmtDate(s.expiry)}`))
          : [h("option", { value: "" }, "No usable stock at this site")]),
      );
    } catch (e) {
      lot.replaceChildren(h("option", { value: "" }, "Stock: " + errorText(e)));
    }
  };
  org.addEventListener("change", loadLots);
  loadLots();
  const form = h(
    "form",
    {},
    h("p", {}, "Only lots this site holds and may use (not quarantined, recalled or expired) are offered; the ledger takes the dose from the lot's stock in the same transaction."),
    h("div", { class: "row" }, field("At", org), field("Dose number", dose), field("Given on", date)),
    field("Lot (usable stock)", lot),
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const did = patientDID(patient);
      if (!lot.value) throw new Error("choose a lot from the site's usable stock");
      const product = products.get(lotProduct.get(lot.value) || "");
      if (!product?.cvx) throw new Error("the lot's product has no CVX code");
      button.disabled = true;
      status.set("Signing the record; the custodian validates and anchors it…", "busy");
      const ref = await patientRef(did, org.value);
      const body = new TextEncoder().encode(
        JSON.stringify({
          resourceType: "Immunization",
          status: "completed",
          vaccineCode: { coding: [{ system: "http://hl7.org/fhir/sid/cvx", code: product.cvx, display: product.name }] },
          patient: { reference: ref },
          occurrenceDateTime: date.value,
          primarySource: true,
          lotNumber: lot.value,
          protocolApplied: [{ doseNumberPositiveInt: Number(dose.value) || 1 }],
        }),
      );
      const header = await signWrite(id, await getChainID(), { org: org.value, patient: did }, body);
      const res = await postFHIR("Immunization", body, header);
      status.set(`Recorded ${res.ref}: one dose of lot ${lot.value} taken from ${dir.orgName(org.value)}'s stock.`, "ok");
      await loadLots();
    } catch (e) {
      status.set("Not recorded: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  card.append(form);
  return card;
}


/** Issue an e-prescription: a MedicationRequest the ledger turns into a prescription (rx.issue). */
export function prescriptionCard(id: Identity, acct: Account, dir: Directory, patient: HTMLInputElement): HTMLElement {
  const orgs = memberOrgs(acct, ["physician"]);
  const card = h("section", { class: "card", id: "prescribe", "aria-labelledby": "rx-h" }, h("h2", { id: "rx-h" }, "Issue a prescription"));
  if (orgs.length === 0) {
    card.append(h("p", { class: "muted" }, "Only physicians prescribe."));
    return card;
  }
  const org = h("select", { id: "rx-org" }, orgs.map((o) => h("option", { value: o }, dir.orgName(o))));
  const med = h("select", { id: "rx-med" }, medications.map(([c, n, u]) => h("option", { value: c }, `${n} (${u})`)));
  const quantity = h("input", { type: "number", id: "rx-qty", min: "1", max: "1000", value: "30" });
  const repeats = h("input", { type: "number", id: "rx-repeats", min: "0", max: "12", value: "2" });
  const until = h("input", { type: "date", id: "rx-until", required: true });
  const d = new Date();
  d.setMonth(d.getMonth() + 6);
  until.value = d.toISOString().slice(0, 10);
  const dosage = h("input", { type: "text", id: "rx-dosage", value: "One tablet daily" });
  const status = statusLine();
  const button = h("button", { type: "submit" }, "Sign and prescribe");
  const form = h(
    "form",
    {},
    h("div", { class: "row" }, field("At", org), field("Medication (RxNorm)", med)),
    h("div", { class: "row" }, field("Quantity per fill", quantity), field("Repeats", repeats), field("Valid until", until)),
    field("Dosage", dosage),
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const did = patientDID(patient);
      const [code, name, unit] = medications.find((m) => m[0] === med.value)!;
      const q = Number(quantity.value);
      if (!Number.isInteger(q) || q < 1) throw new Error("the quantity is a whole number from 1");
      button.disabled = true;
      status.set("Signing the prescription; the ledger records it with its limits…", "busy");
      const ref = await patientRef(did, org.value);
      const today = new Date().toISOString().slice(0, 10);
      const body = new TextEncoder().encode(
        JSON.stringify({
          resourceType: "MedicationRequest",
          status: "active",
          intent: "order",
          medicationCodeableConcept: { coding: [{ system: "http://www.nlm.nih.gov/research/umls/rxnorm", code, display: name }], text: name },
          subject: { reference: ref },
          authoredOn: today,
          dosageInstruction: dosage.value.trim() ? [{ text: dosage.value.trim() }] : undefined,
          dispenseRequest: {
            validityPeriod: { start: today, end: until.value },
            numberOfRepeatsAllowed: Number(repeats.value) || 0,
            quantity: { value: q, unit, system: "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", code: unit },
          },
        }),
      );
      const header = await signWrite(id, await getChainID(), { org: org.value, patient: did }, body);
      const res = await postFHIR("MedicationRequest", body, header);
      status.set(`Prescribed: ${res.ref} — ${q} ${unit} × ${1 + (Number(repeats.value) || 0)} fills, valid until ${fmtDate(until.value)}.`, "ok");
      form.dataset.issued = res.ref;
      document.getElementById("my-rx")?.dispatchEvent(new Event("rx-changed"));
    } catch (e) {
      status.set("Not prescribed: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  card.append(form);
  return card;
}

interface PrescriberRx {
  id: string;
  patient: string;
  medication?: string;
  quantity_milli: number;
  unit?: string;
  status: string;
  dispensed_milli: number;
  total_milli: number;
  fills: number;
  valid_until: string;
  issued_time: string;
}

/** A prescriber's own e-prescriptions with their dispense status; cancel an active one (rx.cancel). */
export function myPrescriptionsCard(id: Identity, acct: Account, medName: (m?: string) => string): HTMLElement {
  const card = h("section", { class: "card", id: "my-rx", "aria-labelledby": "myrx-h" }, h("h2", { id: "myrx-h" }, "My prescriptions"));
  if (memberOrgs(acct, ["physician"]).length === 0) return card;
  const list = h("div", { class: "scroll" });
  const status = statusLine();
  const load = async (notice = "") => {
    try {
      const r = await get<{ prescriptions: PrescriberRx[] }>(`/v1/prescribers/${id.did}/prescriptions`);
      const ps = r.prescriptions || [];
      if (notice) status.set(notice, "ok");
      list.replaceChildren(
        ps.length === 0
          ? h("p", { class: "muted" }, "None issued yet.")
          : table(
              "What pharmacies dispensed of the prescriptions you issued",
              ["Medication", "Patient", "Dispensed", "Status", "Cancel"],
              ps.map((p) => {
                const reason = h("select", { "aria-label": "Reason to cancel" }, ["changed-therapy", "adverse-reaction", "entered-in-error", "patient-request"].map((c) => h("option", { value: c }, c.replace(/-/g, " "))));
                const btn = h("button", { type: "button", class: "secondary small" }, "Cancel");
                btn.addEventListener("click", async () => {
                  btn.disabled = true;
                  status.set("Cancelling on the ledger…", "busy");
                  try {
                    const res = await submit(id, "rx.cancel", { prescription: p.id, reason: reason.value });
                    await load(`Cancelled in block ${res.height}: no pharmacy can dispense it any more.`);
                  } catch (e) {
                    status.set("Could not cancel: " + errorText(e), "error");
                    btn.disabled = false;
                  }
                });
                return [
                  h("span", { "data-rx": p.id }, medName(p.medication)),
                  h("code", { title: p.patient }, p.patient.slice(0, 14) + "…"),
                  `${p.dispensed_milli / 1000} of ${p.total_milli / 1000} ${p.unit || ""} (${p.fills} fill${p.fills === 1 ? "" : "s"})`,
                  h("strong", { class: "rx-status rx-" + p.status }, p.status),
                  p.status === "active" ? h("span", { class: "row" }, reason, btn) : "—",
                ];
              }),
              "data",
            ),
      );
    } catch (e) {
      status.set("Prescriptions: " + errorText(e), "error");
    }
  };
  card.append(list, status);
  card.addEventListener("rx-changed", () => load());
  load();
  return card;
}

interface ReviewItem {
  id: string;
  patient: string;
  clinician: string;
  org: string;
  reason: string;
  start: string;
  end: string;
  height: number;
  overdue: boolean;
}

/** A privacy officer's queue of break-glass windows to review (breakglass.review). */
export function reviewsCard(id: Identity, acct: Account, dir: Directory): HTMLElement | null {
  const orgs = memberOrgs(acct, ["privacy-officer"]);
  if (orgs.length === 0) return null;
  const card = h("section", { class: "card", id: "reviews", "aria-labelledby": "rev-h" }, h("h2", { id: "rev-h" }, "Break-glass reviews"));
  const list = h("div", { class: "scroll" });
  const status = statusLine();
  const load = async (notice = "") => {
    try {
      const items = (await Promise.all(orgs.map((o) => get<ReviewItem[]>(`/v1/orgs/${encodeURIComponent(o)}/breakglass-reviews`)))).flat();
      if (notice) status.set(notice, "ok");
      list.replaceChildren(
        items.length === 0
          ? h("p", { class: "muted" }, "Nothing awaits your review.")
          : table(
              "Emergency accesses awaiting your review",
              ["When", "Clinician", "Patient", "Reason", "Review"],
              items.map((w) => {
                const note = h("input", { type: "text", maxlength: 200, "aria-label": "Review note", placeholder: "note" });
                const decide = (outcome: string) => {
                  const b = h("button", { type: "button", class: outcome === "misuse" ? "danger small" : "small" }, outcome === "misuse" ? "Misuse" : "Accept");
                  b.addEventListener("click", async () => {
                    b.disabled = true;
                    status.set("Recording the review…", "busy");
                    try {
                      const res = await submit(id, "breakglass.review", { id: w.id, outcome, note: note.value.trim() });
                      await load(`Reviewed (${outcome}) in block ${res.height}; the patient is notified.`);
                    } catch (e) {
                      status.set("Could not review: " + errorText(e), "error");
                      b.disabled = false;
                    }
                  });
                  return b;
                };
                return [
                  `${fmtDate(w.start)}${w.overdue ? " ⚠ overdue" : ""}`,
                  [h("code", { title: w.clinician }, w.clinician.slice(0, 14) + "…"), h("br"), h("small", {}, dir.describe(w.clinician))],
                  h("code", { title: w.patient }, w.patient.slice(0, 14) + "…"),
                  w.reason,
                  h("span", { class: "row review", "data-window": w.id }, note, decide("accepted"), decide("misuse")),
                ];
              }),
              "data",
            ),
      );
    } catch (e) {
      status.set("Reviews: " + errorText(e), "error");
    }
  };
  card.append(list, status);
  load();
  return card;
}
