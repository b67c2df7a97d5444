// Small DOM helpers: elements are built with textContent, never innerHTML
// from data, so nothing the ledger holds can inject markup.
type Attrs = Record<string, string | boolean | number | EventListener | undefined>;
type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v as EventListener);
    else if (k === "class") el.className = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

let uid = 0;
export function nextID(prefix: string): string {
  return `${prefix}-${++uid}`;
}

/** A labelled form field. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  const id = control.id || nextID("f");
  control.id = id;
  const hintEl = hint ? h("small", { id: id + "-hint", class: "hint" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function shortDID(d: string): string {
  return d.length > 20 ? d.slice(0, 14) + "…" + d.slice(-4) : d;
}

export function fmtTime(t: string | undefined): string {
  if (!t || t.startsWith("0001-")) return "—";
  const d = new Date(t);
  return isNaN(d.getTime()) ? t : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function fmtDate(t: string | undefined): string {
  if (!t || t.startsWith("0001-")) return "—";
  const d = new Date(t);
  return isNaN(d.getTime()) ? t : d.toLocaleDateString(undefined, { dateStyle: "medium" });
}

/** A status line that screen readers announce. */
export function statusLine(): HTMLElement & { set(msg: string, kind?: "ok" | "error" | "busy" | ""): void } {
  const el = h("p", { class: "status", role: "status", "aria-live": "polite" }) as unknown as HTMLElement & { set(msg: string, kind?: string): void };
  el.set = (msg, kind = "") => {
    el.textContent = msg;
    el.className = "status " + kind;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
  };
  return el;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A table with a caption and header row, for data charts also show. */
export function table(caption: string, head: string[], rows: (Child | Child[])[][], cls = ""): HTMLTableElement {
  return h(
    "table",
    { class: cls },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))),
  );
}

// HL7 v3 PurposeOfUse codes offered in forms.
export const purposes: [string, string][] = [
  ["TREAT", "Treatment"],
  ["ETREAT", "Emergency treatment"],
  ["HPAYMT", "Payment"],
  ["HOPERAT", "Healthcare operations"],
  ["PUBHLTH", "Public health"],
  ["HRESEARCH", "Research"],
  ["PATRQT", "Patient request"],
];

export function purposeName(code: string): string {
  return purposes.find((p) => p[0] === code)?.[1] ?? code;
}

// RxNorm medications the prescription form offers: [code, name, dose form].
// The ledger holds only "system|code" of a prescription's medication.
export const medications: [string, string, string][] = [
  ["314076", "lisinopril 10 MG Oral Tablet", "TAB"],
  ["197361", "amlodipine 5 MG Oral Tablet", "TAB"],
  ["860975", "metformin 500 MG Oral Tablet (24 HR)", "TAB"],
  ["308182", "amoxicillin 250 MG Oral Capsule", "CAP"],
  ["313782", "acetaminophen 325 MG Oral Tablet", "TAB"],
];
