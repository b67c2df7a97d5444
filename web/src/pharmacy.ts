// The pharmacy view: find a patient's e-prescriptions and dispense them
// (a MedicationDispense the ledger checks against what remains). A
// pharmacy stores records for a patient only once linked with the
// patient's approval: the patient makes a pharmacy code in the portal
// (their signature, made in their browser) and the pharmacist submits it
// as patient.link.
import { get, getChainID, postFHIR, submit, type Account } from "./api";
import { b64Decode, b64urlEncode, fromUtf8, signLinkApproval, signWrite, utf8, type Identity } from "./crypto";
import { directory, type Directory } from "./directory";
import { medicationName } from "./portal";
import { signInForm } from "./signin";
import { errorText, field, fmtDate, h, shortDID, statusLine, table } from "./ui";

interface LinkCode {
  patient: string;
  org: string;
  expires: string;
  approval: string;
}

/** Patient side: a pharmacy code approving a link to one pharmacy. */
export function pharmacyCodeCard(id: Identity, dirP: Promise<Directory>): HTMLElement {
  const sec = h("section", { class: "card", id: "pharmacy-code", "aria-labelledby": "phc-h" }, h("h2", { id: "phc-h" }, "Pharmacy code"));
  dirP.then((dir) => {
    const pharmacies = dir.orgs.filter((o) => o.type === "pharmacy" && o.active);
    const org = h("select", { id: "phc-org" }, pharmacies.map((o) => h("option", { value: o.id }, o.name)));
    const out = h("textarea", { id: "phc-code", rows: 3, readonly: true, spellcheck: "false", "aria-label": "Your pharmacy code" });
    const status = statusLine();
    const button = h("button", { type: "button" }, "Sign a pharmacy code");
    button.addEventListener("click", async () => {
      try {
        const end = new Date(Date.now() + 365 * 864e5);
        const expires = end.toISOString().replace(/\.\d{3}Z$/, "Z");
        const approval = await signLinkApproval(id, await getChainID(), org.value, expires);
        const code: LinkCode = { patient: id.did, org: org.value, expires, approval };
        out.value = b64urlEncode(utf8(JSON.stringify(code)));
        status.set(`Give this code to ${dir.orgName(org.value)}: it lets the pharmacy record what it dispenses to you until ${fmtDate(expires)}. It grants no access to your records.`, "ok");
      } catch (e) {
        status.set("Could not sign: " + errorText(e), "error");
      }
    });
    sec.append(
      h("p", {}, "A pharmacy records a dispense in your file only if you approve it. Sign a code here and show it at the pharmacy."),
      h("div", { class: "row" }, field("Pharmacy", org), button),
      out,
      status,
    );
  });
  return sec;
}

interface Prescription {
  id: string;
  prescriber: string;
  org: string;
  medication?: string;
  quantity_milli: number;
  unit?: string;
  repeats: number;
  valid_until: string;
  status: string;
  dispensed_milli: number;
  remaining_milli: number;
  total_milli: number;
  fills: number;
}

let session: Identity | null = null;

export function pharmacyPage(root: HTMLElement): void {
  if (!session) {
    root.append(
      h("h1", {}, "Pharmacy"),
      signInForm("a pharmacist", (id) => {
        session = id;
        root.replaceChildren();
        pharmacyPage(root);
      }),
    );
    return;
  }
  const id = session;
  const signOut = h("button", { type: "button", class: "secondary" }, "Sign out");
  signOut.addEventListener("click", () => {
    session = null;
    root.replaceChildren();
    pharmacyPage(root);
  });
  const patient = h("input", { type: "text", id: "ph-patient", required: true, placeholder: "did:cc:…", autocomplete: "off", spellcheck: "false" });
  const org = h("select", { id: "ph-org" });
  const code = h("textarea", { id: "ph-code", rows: 2, spellcheck: "false", autocomplete: "off" });
  const status = statusLine();
  const results = h("div", { id: "ph-results" });
  const button = h("button", { type: "submit" }, "Find prescriptions");
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "ph-h" },
    h("h2", { id: "ph-h" }, "Find a patient's prescriptions"),
    h("div", { class: "row" }, field("Patient DID", patient), field("Pharmacy", org)),
    field("Patient's pharmacy code (first visit)", code, "From the patient portal; links this pharmacy to the patient so dispenses can be recorded."),
    button,
    status,
  );
  root.append(h("h1", {}, "Pharmacy"), h("p", { class: "whoami" }, "Signed in as ", h("code", {}, id.did), " ", signOut), form, results);
  let dir: Directory | null = null;
  Promise.all([get<Account>("/v1/accounts/" + id.did), directory()]).then(
    ([acct, d]) => {
      dir = d;
      const mine = (acct.memberships || []).filter((m) => m.roles.includes("pharmacist"));
      if (mine.length === 0) status.set("Your key is not a pharmacist's: the ledger will refuse dispenses.", "error");
      for (const m of mine) org.append(h("option", { value: m.org }, d.orgName(m.org)));
    },
    (e) => status.set("Your account: " + errorText(e), "error"),
  );
  const find = async (notice = "") => {
    const did = patient.value.trim();
    if (!/^did:cc:[a-z2-7]+$/.test(did)) throw new Error("enter the patient's did:cc identifier");
    if (code.value.trim()) {
      let c: LinkCode;
      try {
        c = JSON.parse(fromUtf8(b64Decode(code.value.trim())));
      } catch {
        throw new Error("the pharmacy code is not one the patient portal makes");
      }
      if (c.patient !== did) throw new Error("the pharmacy code is another patient's");
      if (c.org !== org.value) throw new Error(`the pharmacy code is for ${dir?.orgName(c.org) || c.org}`);
      status.set("Linking the patient to this pharmacy with their approval…", "busy");
      try {
        await submit(id, "patient.link", { patient: c.patient, org: c.org, expires: c.expires, approval: c.approval });
      } catch (e) {
        if (!/already linked|conflict/i.test(errorText(e))) throw e;
      }
      code.value = "";
    }
    const [r, anchors] = await Promise.all([
      get<{ prescriptions: Prescription[] }>(`/v1/patients/${did}/prescriptions`),
      get<{ id: string; type: string; erased?: boolean }[]>(`/v1/patients/${did}/records`),
    ]);
    const patientRef = anchors.find((a) => a.type === "Patient" && !a.erased)?.id;
    const ps = r.prescriptions || [];
    const active = ps.filter((p) => p.status === "active" && p.remaining_milli > 0);
    status.set(`${notice ? notice + " " : ""}${active.length} prescription(s) to dispense, of ${ps.length}.`, "ok");
    results.replaceChildren(
      ps.length === 0
        ? h("p", { class: "card muted" }, "No e-prescriptions for this patient.")
        : h(
            "div",
            { class: "card scroll" },
            table(
              "Prescriptions (the ledger refuses a dispense beyond what remains, across every pharmacy)",
              ["Medication", "Prescriber", "Remaining", "Status", "Valid until", "Dispense"],
              ps.map((p) => [
                medicationName(p.medication),
                `${shortDID(p.prescriber)} at ${dir?.orgName(p.org) || p.org}`,
                `${p.remaining_milli / 1000} of ${p.total_milli / 1000} ${p.unit || ""}`,
                p.status,
                p.valid_until,
                p.status === "active" && p.remaining_milli > 0 && patientRef ? dispenseForm(id, org, patientRef, p, find) : "—",
              ]),
              "data",
            ),
          ),
    );
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    results.replaceChildren();
    try {
      await find();
    } catch (e) {
      status.set(errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
}

function dispenseForm(id: Identity, org: HTMLSelectElement, patientRef: string, p: Prescription, again: (notice: string) => Promise<void>): HTMLElement {
  const qty = h("input", { type: "number", min: "1", step: "1", value: String(Math.min(p.quantity_milli, p.remaining_milli) / 1000), "aria-label": `Quantity of ${medicationName(p.medication)} to dispense`, class: "qty" });
  const status = statusLine();
  const button = h("button", { type: "submit", class: "small" }, "Dispense");
  const form = h("form", { class: "dispense", "data-rx": p.id }, qty, " ", p.unit || "", " ", button, status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const q = Number(qty.value);
      if (!(q > 0)) throw new Error("the quantity must be positive");
      button.disabled = true;
      status.set("Signing; the ledger checks what remains…", "busy");
      const [system, code] = (p.medication || "|").split(/\|(?=[^|]*$)/);
      const body = utf8(
        JSON.stringify({
          resourceType: "MedicationDispense",
          status: "completed",
          medicationCodeableConcept: { coding: [{ system, code }] },
          subject: { reference: patientRef },
          authorizingPrescription: [{ reference: p.id }],
          quantity: { value: q, unit: p.unit, system: "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", code: p.unit },
          whenHandedOver: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
        }),
      );
      const header = await signWrite(id, await getChainID(), { org: org.value }, body);
      const res = await postFHIR("MedicationDispense", body, header);
      await again(`Dispensed ${q} ${p.unit || ""} of ${medicationName(p.medication)} (${res.ref}).`);
    } catch (e) {
      status.set("Refused: " + errorText(e), "error");
      button.disabled = false;
    }
  });
  return form;
}
