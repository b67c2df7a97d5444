// More of the patient portal: prescriptions and their dispense status, a
// SMART Health Card with its QR codes, delegates and guardians, research
// participation and erasure. Reads are public ledger state; every change
// is a transaction, and the health card a read request, signed here.
import QRCode from "qrcode";
import { get, getChainID, submit, APIError } from "./api";
import { goQueryEncode, signRead, type Identity } from "./crypto";
import type { Directory } from "./directory";
import { errorText, field, fmtDate, fmtTime, h, medications, nextID, shortDID, statusLine, table } from "./ui";

type Refresh = (notice?: string) => Promise<void>;

function body(sec: HTMLElement): HTMLElement {
  let b = sec.querySelector<HTMLElement>(":scope > .body");
  if (!b) {
    b = h("div", { class: "body" });
    sec.append(b);
  }
  b.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  return b;
}

const failed = (b: HTMLElement, what: string, e: unknown) => b.replaceChildren(h("p", { class: "error", role: "alert" }, `${what}: ${errorText(e)}`));

// ---- Prescriptions ----

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
  fills: number;
  issued_time: string;
  cancel_reason?: string;
  total_milli: number;
  remaining_milli: number;
  dispenses?: Dispense[];
}

interface Dispense {
  fill: number;
  org: string;
  quantity_milli: number;
  unit?: string;
  time: string;
}

const qty = (milli: number, unit?: string) => `${milli / 1000}${unit ? " " + unit : ""}`;

/** A readable name of a ledger medication ("system|code"). */
export function medicationName(code: string | undefined): string {
  if (!code) return "—";
  const [system, c] = [code.slice(0, code.lastIndexOf("|")), code.slice(code.lastIndexOf("|") + 1)];
  const known = system.endsWith("/rxnorm") ? medications.find((m) => m[0] === c) : undefined;
  return known ? `${known[1]} (RxNorm ${c})` : system.endsWith("/rxnorm") ? `RxNorm ${c}` : code;
}

export async function loadPrescriptions(id: Identity, sec: HTMLElement, dirP: Promise<Directory>): Promise<void> {
  const b = body(sec);
  try {
    const [r, dir] = await Promise.all([get<{ prescriptions: Prescription[] }>(`/v1/patients/${id.did}/prescriptions`), dirP]);
    const ps = r.prescriptions || [];
    if (ps.length === 0) {
      b.replaceChildren(h("p", { class: "muted" }, "No e-prescriptions."));
      return;
    }
    b.replaceChildren(
      h(
        "div",
        { class: "scroll" },
        table(
          "My e-prescriptions and what pharmacies dispensed (checked by the ledger: never more than prescribed)",
          ["Medication", "Prescribed by", "Per fill × fills", "Dispensed", "Status", "Valid until"],
          ps.map((p) => {
            const total = p.total_milli;
            return [
              h("span", { "data-rx": p.id }, medicationName(p.medication)),
              `${shortDID(p.prescriber)} at ${dir.orgName(p.org)}, ${fmtDate(p.issued_time)}`,
              `${qty(p.quantity_milli, p.unit)} × ${1 + p.repeats}`,
              [
                `${qty(p.dispensed_milli, p.unit)} of ${qty(total, p.unit)} (${p.fills} fill${p.fills === 1 ? "" : "s"})`,
                ...(p.dispenses || []).map((d) => h("small", { class: "block" }, `${fmtTime(d.time)}: ${qty(d.quantity_milli, d.unit || p.unit)} at ${dir.orgName(d.org)}`)),
              ],
              h("strong", { class: "rx-status rx-" + p.status }, p.status + (p.cancel_reason ? ` (${p.cancel_reason})` : "")),
              p.valid_until,
            ];
          }),
          "data rx",
        ),
      ),
    );
  } catch (e) {
    failed(b, "Prescriptions", e);
  }
}

// ---- SMART Health Card ----

interface Issuer {
  url: string;
  org: string;
}

const maxSingleJWS = 1195;
const maxChunkJWS = 1191;

/** The shc:/ numeric text of a JWS's QR codes (as package shc's EncodeQR). */
export function shcQR(jws: string): string[] {
  const numeric = (s: string) => [...s].map((c) => String(c.charCodeAt(0) - 45).padStart(2, "0")).join("");
  if (jws.length <= maxSingleJWS) return ["shc:/" + numeric(jws)];
  const n = Math.ceil(jws.length / maxChunkJWS);
  const size = Math.ceil(jws.length / n);
  return Array.from({ length: n }, (_, i) => `shc:/${i + 1}/${n}/` + numeric(jws.slice(i * size, (i + 1) * size)));
}

export async function healthCard(id: Identity, sec: HTMLElement, dirP: Promise<Directory>): Promise<void> {
  const b = body(sec);
  try {
    const [issuers, dir, anchors] = await Promise.all([get<Issuer[]>("/v1/shc/issuers"), dirP, get<{ type: string; org: string }[]>(`/v1/patients/${id.did}/records`)]);
    if (issuers.length === 0) {
      b.replaceChildren(h("p", { class: "muted" }, "No organization issues health cards on this node."));
      return;
    }
    const custodian = anchors.find((a) => a.type === "Patient")?.org;
    const org = h(
      "select",
      { id: "shc-org" },
      issuers.map((i) => h("option", { value: i.org, selected: i.org === custodian }, dir.orgName(i.org))),
    );
    const status = statusLine();
    const out = h("div", { id: "shc-card" });
    const button = h("button", { type: "button" }, "Get my vaccination card");
    button.addEventListener("click", async () => {
      button.disabled = true;
      out.replaceChildren();
      status.set("Signing the request; the node reads your immunizations (logged) and signs the card…", "busy");
      try {
        const chainID = await getChainID();
        const header = await signRead(id, chainID, {
          patient: id.did,
          action: "export",
          purpose: "PATRQT",
          query: goQueryEncode({ _count: ["1000"], _type: ["Patient,Immunization"] }),
        });
        const r = await fetch(`/v1/shc/issue?org=${encodeURIComponent(org.value)}`, { method: "POST", headers: { "Carechain-Read": header } });
        const text = await r.text();
        if (!r.ok) {
          let msg = `HTTP ${r.status}`;
          try {
            msg = JSON.parse(text).detail || msg;
          } catch {
            /* not JSON */
          }
          throw new APIError(msg, r.status);
        }
        const card = JSON.parse(text) as { verifiableCredential: string[] };
        const jws = card.verifiableCredential[0];
        const qrs = shcQR(jws);
        const images = await Promise.all(
          qrs.map((q) =>
            QRCode.toDataURL(
              [
                { data: new TextEncoder().encode(q.slice(0, q.lastIndexOf("/") + 1)), mode: "byte" },
                { data: q.slice(q.lastIndexOf("/") + 1), mode: "numeric" },
              ],
              { errorCorrectionLevel: "L", margin: 2, scale: 4 },
            ),
          ),
        );
        // The node verifies the QR text as a verifier would: signature,
        // issuer key on the ledger, revocation.
        const v = await fetch("/v1/shc/verify", { method: "POST", body: qrs.join("\n") }).then((x) => x.json() as Promise<{ valid: boolean; results: { errors?: string[]; reasons?: string[] }[] }>);
        const url = URL.createObjectURL(new Blob([text], { type: "application/smart-health-card" }));
        out.replaceChildren(
          h(
            "div",
            { class: "qrs" },
            images.map((src, i) =>
              h("figure", {}, h("img", { src, alt: `SMART Health Card QR code ${i + 1} of ${images.length}: your immunizations, signed by ${dir.orgName(org.value)}`, "data-shc": qrs[i].slice(0, 12) }), h("figcaption", {}, images.length > 1 ? `Part ${i + 1} of ${images.length}` : "Scan with a SMART Health Card verifier")),
            ),
          ),
          h("p", { class: v.valid ? "ok" : "error", "data-testid": "shc-verified" }, v.valid ? "✓ Verified: the QR code's signature and issuer check out against the ledger." : "✗ The node could not verify this card."),
          h("a", { href: url, download: "immunizations.smart-health-card", class: "button" }, "Download the card file (.smart-health-card)"),
        );
        status.set(`Card issued by ${dir.orgName(org.value)}; the read of your records is in your access log.`, "ok");
      } catch (e) {
        status.set("Could not issue the card: " + errorText(e), "error");
      } finally {
        button.disabled = false;
      }
    });
    b.replaceChildren(
      h("p", {}, "A SMART Health Card of your immunizations: a signed credential anyone can check offline."),
      h("div", { class: "row" }, field("Issuer", org), button),
      status,
      out,
    );
  } catch (e) {
    failed(b, "Health card", e);
  }
}

// ---- Delegates and guardians ----

interface Delegation {
  delegate: string;
  scopes: string[];
  expires: string;
  created: number;
}

const scopes: [string, string][] = [
  ["records.read", "Read my records"],
  ["consent.manage", "Grant and revoke my consents"],
  ["rx.collect", "Collect my prescriptions"],
  ["records.erase", "Erase my records"],
  ["*", "Everything (full representative)"],
];

export async function loadPeople(id: Identity, sec: HTMLElement, dirP: Promise<Directory>, refresh: Refresh, notice = ""): Promise<void> {
  const b = body(sec);
  try {
    const [acct, doc, dir] = await Promise.all([
      get<{ delegations: Delegation[] }>(`/v1/accounts/${id.did}`),
      get<{ carechain?: { recovery?: { guardians: string[]; threshold: number; delayBlocks: number } } }>(`/v1/dids/${id.did}`),
      dirP,
    ]);
    const status = statusLine();
    if (notice) status.set(notice, "ok");
    const now = Date.now();
    const dels = (acct.delegations || []).map((d) => {
      const expired = Date.parse(d.expires) <= now;
      const revoke = h("button", { type: "button", class: "secondary small" }, "Revoke");
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        status.set("Revoking…", "busy");
        try {
          await submit(id, "did.delegate.revoke", { delegate: d.delegate });
          await refresh(`Delegation to ${shortDID(d.delegate)} revoked.`);
        } catch (e) {
          status.set("Could not revoke: " + errorText(e), "error");
          revoke.disabled = false;
        }
      });
      return h(
        "li",
        { class: "delegation" + (expired ? " revoked" : ""), "data-delegate": d.delegate },
        h("code", { title: d.delegate }, shortDID(d.delegate)),
        dir.describe(d.delegate) ? ` (${dir.describe(d.delegate)})` : "",
        ` may: ${d.scopes.map((s) => scopes.find((x) => x[0] === s)?.[1] || s).join(", ")} · ${expired ? "expired" : "until"} ${fmtDate(d.expires)} `,
        expired ? null : revoke,
      );
    });
    const rec = doc.carechain?.recovery;
    b.replaceChildren(
      h("h3", {}, "Delegates"),
      dels.length ? h("ul", { class: "delegations" }, dels) : h("p", { class: "muted" }, "Nobody acts for you."),
      delegateForm(id, status, refresh),
      h("h3", {}, "Guardians (key recovery)"),
      rec && rec.guardians?.length
        ? h(
            "p",
            { id: "guardians-now" },
            `${rec.threshold} of ${rec.guardians.length} guardians can recover your identity if you lose your key, after ${rec.delayBlocks} blocks during which you can cancel: `,
            rec.guardians.flatMap((g, i) => [i ? ", " : "", h("code", { title: g }, shortDID(g))]),
          )
        : h("p", { class: "muted", id: "guardians-now" }, "No guardians: a lost key cannot be recovered."),
      guardiansForm(id, rec, status, refresh),
      status,
    );
  } catch (e) {
    failed(b, "Delegates and guardians", e);
  }
}

function delegateForm(id: Identity, status: ReturnType<typeof statusLine>, refresh: Refresh): HTMLElement {
  const did = h("input", { type: "text", id: "delegate-did", placeholder: "did:cc:…", autocomplete: "off", spellcheck: "false", required: true });
  const until = h("input", { type: "date", id: "delegate-until", required: true });
  const d = new Date();
  d.setFullYear(d.getFullYear() + 1);
  until.value = d.toISOString().slice(0, 10);
  const checks = h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, "May act for me to"),
    scopes.map(([v, l]) => {
      const cb = h("input", { type: "checkbox", name: "scope", value: v, id: nextID("sc"), checked: v === "records.read" || v === "rx.collect" });
      return h("label", { for: cb.id }, cb, " ", l);
    }),
  );
  const button = h("button", { type: "submit" }, "Sign and add delegate");
  const form = h("form", { class: "grant", id: "delegate-form", "aria-labelledby": "dlg-h" }, h("h4", { id: "dlg-h" }, "Add a delegate (a parent, a representative)"), field("Delegate's DID", did), checks, field("Until", until), button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const who = did.value.trim();
      if (!/^did:cc:[a-z2-7]+$/.test(who)) throw new Error("the delegate must be a did:cc identifier");
      if (who === id.did) throw new Error("you cannot delegate to yourself");
      const sc = [...form.querySelectorAll<HTMLInputElement>("input[name=scope]:checked")].map((c) => c.value);
      if (sc.length === 0) throw new Error("choose at least one thing the delegate may do");
      const end = new Date(until.value + "T23:59:59Z");
      if (!(end.getTime() > Date.now())) throw new Error("the end date has passed");
      button.disabled = true;
      status.set("Signing and waiting for the block…", "busy");
      const res = await submit(id, "did.delegate.grant", { delegate: who, scopes: sc, expires: end.toISOString().replace(".000Z", "Z") });
      await refresh(`Delegate added in block ${res.height}.`);
    } catch (e) {
      status.set("Could not add the delegate: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function guardiansForm(id: Identity, rec: { guardians: string[]; threshold: number; delayBlocks: number } | undefined, status: ReturnType<typeof statusLine>, refresh: Refresh): HTMLElement {
  const list = h("textarea", { id: "guardians-list", rows: 3, spellcheck: "false", autocomplete: "off" });
  list.value = (rec?.guardians || []).join("\n");
  const threshold = h("input", { type: "number", id: "guardians-threshold", min: "1", max: "10", value: String(rec?.threshold || 2) });
  const delay = h("input", { type: "number", id: "guardians-delay", min: "0", value: String(rec?.delayBlocks ?? 10) });
  const button = h("button", { type: "submit" }, "Sign and set guardians");
  const form = h(
    "form",
    { class: "grant", id: "guardians-form", "aria-labelledby": "grd-h" },
    h("h4", { id: "grd-h" }, "Change guardians"),
    field("Guardians' DIDs (one a line)", list, "People you trust; none of them alone can take over your identity."),
    h("div", { class: "row" }, field("How many must agree", threshold), field("Waiting period (blocks)", delay)),
    button,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const gs = [...new Set(list.value.split(/[\s,]+/).filter(Boolean))];
      for (const g of gs) if (!/^did:cc:[a-z2-7]+$/.test(g)) throw new Error(`${g} is not a did:cc identifier`);
      const t = Number(threshold.value);
      if (gs.length && (!Number.isInteger(t) || t < 1 || t > gs.length)) throw new Error(`the number who must agree is 1 to ${gs.length}`);
      button.disabled = true;
      status.set("Signing and waiting for the block…", "busy");
      const res = await submit(id, "did.guardians.set", { guardians: gs, threshold: gs.length ? t : 0, delay_blocks: Number(delay.value) || 0 });
      await refresh(`Guardians set in block ${res.height}.`);
    } catch (e) {
      status.set("Could not set guardians: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

// ---- Research participation ----

interface PatientResearch {
  project: string;
  title: string;
  org: string;
  status: string;
  purposes: string[];
  resource_types: string[];
  period: { start?: string; end?: string };
  participation?: { status: string; height: number; time: string };
}

export async function loadResearchChoices(id: Identity, sec: HTMLElement, dirP: Promise<Directory>, refresh: Refresh, notice = ""): Promise<void> {
  const b = body(sec);
  try {
    const [ps, dir] = await Promise.all([get<PatientResearch[]>(`/v1/patients/${id.did}/research`), dirP]);
    const status = statusLine();
    if (notice) status.set(notice, "ok");
    if (ps.length === 0) {
      b.replaceChildren(h("p", { class: "muted" }, "No research projects."));
      return;
    }
    b.replaceChildren(
      h("p", {}, "Researchers get de-identified data of people who opted in only, and aggregate answers that protect each person (differential privacy)."),
      h(
        "ul",
        { class: "research" },
        ps.map((p) => {
          const part = p.participation?.status;
          const inNow = part === "in";
          const btn = h("button", { type: "button", class: inNow ? "secondary small" : "small" }, inNow ? "Opt out" : "Opt in");
          btn.addEventListener("click", async () => {
            btn.disabled = true;
            status.set("Signing and waiting for the block…", "busy");
            try {
              const res = await submit(id, inNow ? "research.optout" : "research.optin", { project: p.project, patient: id.did });
              await refresh(`${inNow ? "Opted out of" : "Opted in to"} ${p.title} in block ${res.height}.`);
            } catch (e) {
              status.set("Could not record your choice: " + errorText(e), "error");
              btn.disabled = false;
            }
          });
          return h(
            "li",
            { "data-project": p.project, "data-participation": part || "none" },
            h("strong", {}, p.title),
            ` by ${dir.orgName(p.org)} (${p.status}) · uses ${p.resource_types.join(", ")} · ${fmtDate(p.period.start)} – ${fmtDate(p.period.end)}. `,
            h("span", { class: "choice" }, part ? `Your choice: ${inNow ? "in" : "out"} (block ${p.participation!.height}). ` : "You have not chosen (you are out). "),
            btn,
          );
        }),
      ),
      status,
    );
  } catch (e) {
    failed(b, "Research", e);
  }
}

// ---- Erasure ----

interface Anchor {
  id: string;
  type: string;
  org: string;
  erased?: boolean;
  data_time?: string;
  time: string;
}

export async function loadErasure(id: Identity, sec: HTMLElement, dirP: Promise<Directory>, refresh: Refresh, notice = ""): Promise<void> {
  const b = body(sec);
  try {
    const [as, dir] = await Promise.all([get<Anchor[]>(`/v1/patients/${id.did}/records`), dirP]);
    const live = (as || []).filter((a) => !a.erased);
    const status = statusLine();
    if (notice) status.set(notice, "ok");
    const pick = h(
      "select",
      { id: "erase-record", multiple: true, size: 6 },
      live
        .filter((a) => a.type !== "Patient")
        .map((a) => h("option", { value: a.id }, `${a.type} · ${fmtDate(a.data_time || a.time)} · ${dir.orgName(a.org)} · ${a.id.split("/")[1].slice(0, 8)}`)),
    );
    const sure = h("input", { type: "checkbox", id: "erase-sure" });
    const button = h("button", { type: "submit", class: "danger" }, "Sign and erase");
    const form = h(
      "form",
      { id: "erase-form", "aria-labelledby": "erase-h" },
      h("p", {}, "Erasure destroys the records' encryption keys at the custodian (crypto-shredding): the data can never be read again. The ledger keeps only the hashes and proves the erasure happened."),
      field("Records to erase", pick, "Hold Ctrl (or Cmd) to choose several."),
      h("label", { for: sure.id, class: "check" }, sure, " I understand this cannot be undone"),
      h("div", {}, button),
      status,
    );
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const ids = [...pick.selectedOptions].map((o) => o.value);
        if (ids.length === 0) throw new Error("choose the records to erase");
        if (!sure.checked) throw new Error("confirm that you understand erasure cannot be undone");
        button.disabled = true;
        status.set("Signing and waiting for the block…", "busy");
        const res = await submit(id, "record.erase", { patient: id.did, ids });
        const data = res.data as { erased?: string[] } | undefined;
        await refresh(`${data?.erased?.length ?? ids.length} record(s) erased in block ${res.height}.`);
      } catch (e) {
        status.set("Could not erase: " + errorText(e), "error");
      } finally {
        button.disabled = false;
      }
    });
    b.replaceChildren(form);
  } catch (e) {
    failed(b, "Erasure", e);
  }
}
