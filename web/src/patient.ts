// The patient portal: records, who accessed them (with in-browser proof
// checks), consents, notifications. Every change is a transaction signed
// here with the patient's key.
import { get, submit } from "./api";
import type { Identity } from "./crypto";
import { directory, practitioners, type Directory } from "./directory";
import { verifyBundle, type ProofBundle } from "./proof";
import { pharmacyCodeCard } from "./pharmacy";
import { healthCard, loadErasure, loadPeople, loadPrescriptions, loadResearchChoices } from "./portal";
import { signInForm } from "./signin";
import { errorText, field, fmtDate, fmtTime, h, nextID, purposeName, purposes, shortDID, statusLine } from "./ui";

interface Anchor {
  id: string;
  type: string;
  org: string;
  author: string;
  categories?: string[];
  data_time?: string;
  version: number;
  height: number;
  time: string;
  erased?: boolean;
}

interface AccessEvent {
  id: string;
  accessor: string;
  org?: string;
  records: string[];
  action: string;
  purpose: string;
  basis: string;
  ref?: string;
  break_glass?: boolean;
  height: number;
  time: string;
  proof_key: string;
}

interface Provision {
  type: "permit" | "deny";
  actors?: { did?: string; org?: string; role?: string }[];
  actions?: string[];
  purposes?: string[];
  resource_types?: string[];
  categories?: string[];
  period?: { start?: string; end?: string };
}

interface Consent {
  id: string;
  provisions: Provision[];
  created: number;
  time: string;
  revoked?: number;
}

interface Notification {
  id: string;
  kind: string;
  text: string;
  time: string;
}

let session: Identity | null = null;

export function patientPage(root: HTMLElement): void {
  if (!session) {
    root.append(
      h("h1", {}, "Patient portal"),
      signInForm("a patient", (id) => {
        session = id;
        root.replaceChildren();
        patientPage(root);
      }),
    );
    return;
  }
  const id = session;
  const dir = directory();
  const signOut = h("button", { type: "button", class: "secondary" }, "Sign out");
  signOut.addEventListener("click", () => {
    session = null;
    root.replaceChildren();
    patientPage(root);
  });
  const notes = h("section", { class: "card", "aria-labelledby": "notes-h" }, h("h2", { id: "notes-h" }, "Notifications"));
  const timeline = h("section", { class: "card", "aria-labelledby": "tl-h" }, h("h2", { id: "tl-h" }, "My records"));
  const accessSec = h("section", { class: "card", "aria-labelledby": "acc-h", id: "access-log" }, h("h2", { id: "acc-h" }, "Who accessed my data"));
  const consentsSec = h("section", { class: "card", "aria-labelledby": "cons-h", id: "consents" }, h("h2", { id: "cons-h" }, "My consents"));
  const sec = (id: string, title: string) => h("section", { class: "card", "aria-labelledby": id + "-h", id }, h("h2", { id: id + "-h" }, title));
  const rxSec = sec("prescriptions", "My prescriptions");
  const shcSec = sec("health-card", "Vaccination card");
  const peopleSec = sec("people", "Delegates and guardians");
  const researchSec = sec("research-choices", "Research");
  const eraseSec = sec("erasure", "Erase records");
  root.append(
    h("h1", {}, "Patient portal"),
    h("p", { class: "whoami" }, "Signed in as ", h("code", { "data-testid": "whoami" }, id.did), id.name ? ` (${id.name}) ` : " ", signOut),
    h("div", { class: "grid" }, notes, timeline),
    h("div", { class: "grid" }, rxSec, shcSec),
    pharmacyCodeCard(id, dir),
    accessSec,
    consentsSec,
    peopleSec,
    researchSec,
    eraseSec,
  );
  // Each refresh re-reads everything; the notice goes to the section whose
  // form caused it.
  const refresh = async (notice = "", to = "consents") => {
    // Marked while sections reload, so nobody (a test included) acts on a
    // form about to be replaced.
    const n = Number(root.dataset.refreshing || 0) + 1;
    root.dataset.refreshing = String(n);
    await Promise.all([
      loadNotifications(id, notes),
      loadTimeline(id, timeline, dir),
      loadAccessLog(id, accessSec, dir),
      loadConsents(id, consentsSec, dir, refresh, to === "consents" ? notice : ""),
      loadPrescriptions(id, rxSec, dir),
      loadPeople(id, peopleSec, dir, (n) => refresh(n, "people"), to === "people" ? notice : ""),
      loadResearchChoices(id, researchSec, dir, (n) => refresh(n, "research"), to === "research" ? notice : ""),
      loadErasure(id, eraseSec, dir, (n) => refresh(n, "erasure"), to === "erasure" ? notice : ""),
    ]).finally(() => {
      const left = Number(root.dataset.refreshing || 1) - 1;
      if (left > 0) root.dataset.refreshing = String(left);
      else delete root.dataset.refreshing;
    });
  };
  refresh();
  healthCard(id, shcSec, dir);
}

function body(sec: HTMLElement): HTMLElement {
  let b = sec.querySelector<HTMLElement>(":scope > .body");
  if (!b) {
    b = h("div", { class: "body" });
    sec.append(b);
  }
  b.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  return b;
}

async function loadNotifications(id: Identity, sec: HTMLElement) {
  const b = body(sec);
  try {
    const ns = (await get<Notification[]>(`/v1/patients/${id.did}/notifications`)) || [];
    b.replaceChildren(
      ns.length === 0
        ? h("p", { class: "muted" }, "No notifications.")
        : h("ul", { class: "notes" }, ns.slice().reverse().map((n) => h("li", { class: "note-" + n.kind }, h("strong", {}, n.kind.replace(/[._]/g, " ")), " — ", n.text, h("br"), h("small", {}, fmtTime(n.time))))),
    );
  } catch (e) {
    b.replaceChildren(h("p", { class: "error", role: "alert" }, "Notifications: " + errorText(e)));
  }
}

async function loadTimeline(id: Identity, sec: HTMLElement, dirP: Promise<Directory>) {
  const b = body(sec);
  try {
    const [as, dir] = await Promise.all([get<Anchor[]>(`/v1/patients/${id.did}/records`), dirP]);
    const byType = new Map<string, Anchor[]>();
    for (const a of as || []) byType.set(a.type, [...(byType.get(a.type) || []), a]);
    const types = [...byType.keys()].sort();
    b.replaceChildren(
      h("p", {}, `${(as || []).length} records anchored on the ledger (the data itself is encrypted at the custodian; this list holds no health data).`),
      ...types.map((t) => {
        const list = byType.get(t)!.slice().sort((x, y) => (y.data_time || y.time).localeCompare(x.data_time || x.time));
        return h(
          "details",
          { class: "rtype", "data-type": t },
          h("summary", {}, h("span", { class: "badge" }, String(list.length)), " ", t),
          h(
            "ol",
            { class: "timeline" },
            list.map((a) =>
              h(
                "li",
                { class: a.erased ? "erased" : "" },
                h("time", {}, fmtDate(a.data_time || a.time)),
                " ",
                a.id.split("/")[0],
                ` · held by ${dir.orgName(a.org)} · version ${a.version}`,
                a.categories?.length ? ` · ${a.categories.map((c) => c.split("|").pop()).join(", ")}` : "",
                a.erased ? " · erased" : "",
              ),
            ),
          ),
        );
      }),
    );
  } catch (e) {
    b.replaceChildren(h("p", { class: "error", role: "alert" }, "Records: " + errorText(e)));
  }
}

async function loadAccessLog(id: Identity, sec: HTMLElement, dirP: Promise<Directory>) {
  const b = body(sec);
  try {
    const [evs, dir] = await Promise.all([get<AccessEvent[]>(`/v1/patients/${id.did}/access-log`), dirP]);
    if (!evs || evs.length === 0) {
      b.replaceChildren(h("p", { class: "muted" }, "Nobody has accessed your records."));
      return;
    }
    const rows = evs.map((e) => {
      const result = h("div", { class: "verify-result", "aria-live": "polite" });
      const btn = h("button", { type: "button", class: "small", "aria-label": `Verify the proof of the access at ${fmtTime(e.time)}` }, "Verify");
      btn.addEventListener("click", async () => {
        btn.disabled = true;
        result.className = "verify-result busy";
        result.textContent = "Checking the proof…";
        try {
          const bundle = await get<ProofBundle>("/v1/proofs?key=" + encodeURIComponent(e.proof_key));
          const v = await verifyBundle(bundle);
          const logged = JSON.parse(v.value);
          if (logged.id !== e.id || logged.accessor !== e.accessor || logged.purpose !== e.purpose || logged.basis !== e.basis)
            throw new Error("the proven event is not the one shown");
          result.className = "verify-result ok";
          result.replaceChildren(
            h("strong", {}, "✓ Verified"),
            ` in block ${v.height}, signed by ${v.signedPower} of ${v.totalPower} voting power.`,
            h("details", {}, h("summary", {}, "What was checked"), h("ul", {}, v.steps.map((s) => h("li", {}, s)))),
          );
        } catch (err) {
          result.className = "verify-result error";
          result.setAttribute("role", "alert");
          result.textContent = "✗ Not verified: " + errorText(err);
        } finally {
          btn.disabled = false;
        }
      });
      const who = dir.describe(e.accessor);
      const self = e.accessor === id.did;
      const tr = h(
        "tr",
        { class: e.break_glass ? "breakglass" : "", "data-event": e.id, "data-accessor": e.accessor },
        h("td", {}, h("time", { datetime: e.time }, fmtTime(e.time))),
        h("td", {}, self ? "You" : h("span", { title: e.accessor }, shortDID(e.accessor)), who ? h("br") : null, who ? h("small", {}, who) : null),
        h("td", {}, e.org ? dir.orgName(e.org) : "—"),
        h("td", {}, `${e.action} · ${e.records.length} record${e.records.length === 1 ? "" : "s"}`, h("br"), h("small", {}, summarize(e.records))),
        h("td", {}, purposeName(e.purpose)),
        h("td", {}, e.break_glass ? h("span", { class: "flag" }, "⚠ Break-glass") : null, e.break_glass ? h("br") : null, e.basis, e.ref ? h("br") : null, e.ref ? h("small", {}, e.ref) : null),
        h("td", {}, btn, result),
      );
      return tr;
    });
    const bg = evs.filter((e) => e.break_glass).length;
    b.replaceChildren(
      ...(bg ? [h("p", { class: "flag-note", role: "note" }, `⚠ ${bg} emergency (break-glass) access${bg === 1 ? "" : "es"}: highlighted below; each is reviewed by the organization's privacy officer.`)] : []),
      h(
        "div",
        { class: "scroll" },
        h(
          "table",
          { class: "access" },
          h("caption", {}, `${evs.length} logged accesses, newest first. Each is on the ledger; Verify checks its proof here in your browser.`),
          h("thead", {}, h("tr", {}, ["When", "Who", "Organization", "What", "Purpose", "Basis", "Proof"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, rows),
        ),
      ),
    );
  } catch (e) {
    b.replaceChildren(h("p", { class: "error", role: "alert" }, "Access log: " + errorText(e)));
  }
}

function summarize(records: string[]): string {
  const n = new Map<string, number>();
  for (const r of records) n.set(r.split("/")[0], (n.get(r.split("/")[0]) || 0) + 1);
  return [...n].map(([t, c]) => `${c} ${t}`).join(", ");
}

const resourceTypes = ["Patient", "Immunization", "Observation", "Condition", "Encounter", "MedicationRequest", "AllergyIntolerance", "Procedure", "DiagnosticReport"];
const sensitive: [string, string][] = [
  ["PSY", "Mental health"],
  ["ETH", "Substance use"],
  ["HIV", "HIV/AIDS"],
  ["SEX", "Sexual and reproductive health"],
  ["SDV", "Sexual violence"],
  ["GDIS", "Genetic disease"],
];

function describeActors(p: Provision, dir: Directory): string {
  if (!p.actors?.length) return "anyone";
  return p.actors
    .map((a) => (a.did ? `${shortDID(a.did)}${dir.describe(a.did) ? " (" + dir.describe(a.did) + ")" : ""}` : a.org ? `${a.role ? a.role + "s at " : "anyone at "}${dir.orgName(a.org)}` : "a care team"))
    .join(", ");
}

async function loadConsents(id: Identity, sec: HTMLElement, dirP: Promise<Directory>, refresh: (notice?: string) => Promise<void>, notice: string) {
  const b = body(sec);
  try {
    const [cs, dir] = await Promise.all([get<Consent[]>(`/v1/patients/${id.did}/consents`), dirP]);
    const status = statusLine();
    if (notice) status.set(notice, "ok");
    const list = (cs || []).map((c) => {
      const revoke = h("button", { type: "button", class: "secondary small" }, "Revoke");
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        status.set(`Revoking ${c.id}…`, "busy");
        try {
          await submit(id, "consent.revoke", { id: c.id });
          await refresh(`Consent ${c.id} revoked.`);
        } catch (e) {
          status.set("Could not revoke: " + errorText(e), "error");
          revoke.disabled = false;
        }
      });
      return h(
        "li",
        { class: "consent" + (c.revoked ? " revoked" : ""), "data-consent": c.id },
        h("strong", {}, c.revoked ? "Revoked" : "Active"),
        ` · granted ${fmtDate(c.time)} · `,
        h("small", {}, c.id),
        h(
          "ul",
          {},
          c.provisions.map((p) =>
            h(
              "li",
              { class: p.type },
              p.type === "permit" ? "Allow " : "Deny ",
              describeActors(p, dir),
              p.actions?.length ? ` to ${p.actions.join("/")}` : " any action",
              p.resource_types?.length ? ` ${p.resource_types.join(", ")}` : " all record types",
              p.categories?.length ? ` in ${p.categories.map((x) => sensitive.find((s) => s[0] === x)?.[1] || x).join(", ")}` : "",
              p.purposes?.length ? ` for ${p.purposes.map(purposeName).join(", ")}` : "",
              p.period?.end && !p.period.end.startsWith("0001-") ? ` until ${fmtDate(p.period.end)}` : "",
            ),
          ),
        ),
        c.revoked ? null : revoke,
      );
    });
    b.replaceChildren(list.length ? h("ul", { class: "consents" }, list) : h("p", { class: "muted" }, "No consents yet."), status, grantForm(id, dir, refresh));
  } catch (e) {
    b.replaceChildren(h("p", { class: "error", role: "alert" }, "Consents: " + errorText(e)));
  }
}

function grantForm(id: Identity, dir: Directory, refresh: (notice?: string) => Promise<void>): HTMLElement {
  const who = h(
    "select",
    { id: "grant-who", required: true },
    h("option", { value: "" }, "Choose who…"),
    h("optgroup", { label: "A practitioner" }, practitioners(dir).map((m) => h("option", { value: m.did }, `${m.roles.join(", ")} at ${dir.orgName(m.org)} — ${shortDID(m.did)}`))),
    h("optgroup", { label: "Anyone at an organization" }, dir.orgs.filter((o) => o.active).map((o) => h("option", { value: "org:" + o.id }, o.name))),
  );
  const whoDID = h("input", { type: "text", id: "grant-did", placeholder: "did:cc:…", autocomplete: "off", spellcheck: "false" });
  const types = h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, "What (record types)"),
    resourceTypes.map((t) => {
      const cb = h("input", { type: "checkbox", name: "rtype", value: t, id: nextID("rt"), checked: t === "Immunization" || t === "Patient" });
      return h("label", { for: cb.id }, cb, " ", t);
    }),
  );
  const actions = h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, "Which uses"),
    [
      ["read", "Read"],
      ["search", "Search"],
      ["export", "Export"],
    ].map(([v, l]) => {
      const cb = h("input", { type: "checkbox", name: "action", value: v, id: nextID("ac"), checked: v !== "export" });
      return h("label", { for: cb.id }, cb, " ", l);
    }),
  );
  const purpose = h("select", { id: "grant-purpose" }, purposes.map(([c, n]) => h("option", { value: c }, `${n} (${c})`)));
  const until = h("input", { type: "date", id: "grant-until", required: true });
  const d = new Date();
  d.setFullYear(d.getFullYear() + 1);
  until.value = d.toISOString().slice(0, 10);
  const excluded = h(
    "fieldset",
    { class: "checks" },
    h("legend", {}, "Never share (excluded categories)"),
    sensitive.map(([c, l]) => {
      const cb = h("input", { type: "checkbox", name: "excl", value: c, id: nextID("ex"), checked: c === "PSY" });
      return h("label", { for: cb.id }, cb, " ", l);
    }),
  );
  const status = statusLine();
  const button = h("button", { type: "submit" }, "Sign and grant");
  const form = h(
    "form",
    { class: "grant", id: "grant-form", "aria-labelledby": "grant-h" },
    h("h3", { id: "grant-h" }, "Grant access"),
    field("Who", who),
    field("…or a DID", whoDID, "A practitioner's did:cc, if not listed."),
    types,
    actions,
    field("Why (purpose)", purpose),
    field("Until", until, "Access ends at the end of this day (UTC)."),
    excluded,
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const target = whoDID.value.trim() || who.value;
    const checked = (name: string) => [...form.querySelectorAll<HTMLInputElement>(`input[name=${name}]:checked`)].map((c) => c.value);
    try {
      if (!target) throw new Error("choose who may access");
      if (!target.startsWith("org:") && !/^did:cc:[a-z2-7]+$/.test(target)) throw new Error("the DID must be a did:cc identifier");
      const rts = checked("rtype");
      const acts = checked("action");
      if (rts.length === 0) throw new Error("choose at least one record type");
      if (acts.length === 0) throw new Error("choose at least one use");
      if (!until.value) throw new Error("choose until when");
      const end = new Date(until.value + "T23:59:59Z");
      if (end.getTime() <= Date.now()) throw new Error("the end date has passed");
      const actor = target.startsWith("org:") ? { org: target.slice(4) } : { did: target };
      const provisions: Provision[] = [
        { type: "permit", actors: [actor], actions: acts, purposes: [purpose.value], resource_types: rts, period: { end: end.toISOString().replace(".000Z", "Z") } },
      ];
      const excl = checked("excl");
      if (excl.length) provisions.push({ type: "deny", actors: [actor], categories: excl });
      button.disabled = true;
      status.set("Signing and waiting for the block…", "busy");
      const res = await submit(id, "consent.grant", { patient: id.did, provisions });
      await refresh(`Consent granted in block ${res.height}.`);
    } catch (e) {
      status.set("Could not grant: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

