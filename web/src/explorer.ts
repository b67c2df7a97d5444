// The ledger explorer: status and validators, the latest blocks, a
// transaction by hash, and a proof checker that runs in the browser.
import { get, type Status } from "./api";
import { verifyBundle, type ProofBundle } from "./proof";
import { errorText, field, fmtTime, h, statusLine, table } from "./ui";

interface Block {
  height: number;
  hash: string;
  time: string;
  num_txs: number;
  app_hash: string;
  proposer?: string;
  [k: string]: unknown;
}

export function explorerPage(root: HTMLElement): void {
  const statusSec = h("section", { class: "card", "aria-labelledby": "st-h" }, h("h2", { id: "st-h" }, "Chain"));
  const blocksSec = h("section", { class: "card scroll", "aria-labelledby": "bl-h" }, h("h2", { id: "bl-h" }, "Latest blocks"));
  root.append(h("h1", {}, "Explorer"), statusSec, blocksSec, txForm(), proofChecker());
  get<Status>("/v1/status").then(
    (s) =>
      statusSec.append(
        h(
          "dl",
          { class: "kv" },
          h("dt", {}, "Chain"),
          h("dd", {}, s.chain_id),
          h("dt", {}, "Height"),
          h("dd", {}, String(s.latest_height)),
          h("dt", {}, "Last block"),
          h("dd", {}, fmtTime(s.latest_block_time)),
          h("dt", {}, "AppHash"),
          h("dd", {}, h("code", {}, s.latest_app_hash)),
        ),
        table("Validators", ["Address", "Public key", "Power"], s.validators.map((v) => [h("code", {}, v.address), h("code", {}, v.pub_key), v.power]), "data"),
      ),
    (e) => statusSec.append(h("p", { class: "error", role: "alert" }, errorText(e))),
  );
  get<{ blocks: Block[] }>("/v1/blocks?limit=20").then(
    (r) =>
      blocksSec.append(
        table(
          "The 20 latest blocks, newest first",
          ["Height", "Time", "Transactions", "Hash"],
          r.blocks.map((b) => [String(b.height), fmtTime(b.time), String(b.num_txs ?? (b as any).txs?.length ?? "—"), h("code", {}, String(b.hash || "").slice(0, 16) + "…")]),
          "data",
        ),
      ),
    (e) => blocksSec.append(h("p", { class: "error", role: "alert" }, errorText(e))),
  );
}

function txForm(): HTMLElement {
  const hash = h("input", { type: "text", id: "tx-hash", pattern: "[0-9a-fA-F]{64}", required: true, autocomplete: "off", spellcheck: "false" });
  const out = h("pre", { class: "json", tabindex: "0", "aria-label": "Transaction" });
  const status = statusLine();
  const form = h("form", { class: "card", "aria-labelledby": "tx-h" }, h("h2", { id: "tx-h" }, "Transaction"), field("Hash (64 hex)", hash), h("button", { type: "submit" }, "Look up"), status, out);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const t = await get<unknown>("/v1/txs/" + hash.value.trim().toLowerCase());
      out.textContent = JSON.stringify(t, null, 2);
      status.set("", "");
    } catch (e) {
      out.textContent = "";
      status.set(errorText(e), "error");
    }
  });
  return form;
}

function proofChecker(): HTMLElement {
  const key = h("input", { type: "text", id: "proof-key", autocomplete: "off", spellcheck: "false", placeholder: "e.g. id/did/did:cc:…" });
  const text = h("textarea", { id: "proof-json", rows: 8, spellcheck: "false" });
  const status = statusLine();
  const steps = h("ol", { class: "steps" });
  const fetchBtn = h("button", { type: "button", class: "secondary" }, "Fetch the bundle");
  fetchBtn.addEventListener("click", async () => {
    try {
      const b = await get<unknown>("/v1/proofs?key=" + encodeURIComponent(key.value.trim()));
      text.value = JSON.stringify(b, null, 2);
      status.set("Bundle fetched; check it.", "");
    } catch (e) {
      status.set(errorText(e), "error");
    }
  });
  const form = h(
    "form",
    { class: "card", id: "proof-checker", "aria-labelledby": "pc-h" },
    h("h2", { id: "pc-h" }, "Proof checker"),
    h("p", {}, "Checks a proof bundle (GET /v1/proofs, or a file from carechain query proof) here in the browser: the write's Merkle path, the AppHash, the signed header and its validators' signatures."),
    h("div", { class: "row" }, field("State key", key), fetchBtn),
    field("Proof bundle (JSON)", text),
    h("button", { type: "submit" }, "Check proof"),
    status,
    steps,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    steps.replaceChildren();
    try {
      const v = await verifyBundle(JSON.parse(text.value) as ProofBundle);
      status.set(`✓ Valid: ${v.key} was ${v.deleted ? "deleted" : "written"} in block ${v.height}.`, "ok");
      steps.replaceChildren(...v.steps.map((s) => h("li", {}, s)), h("li", {}, "value: ", h("code", {}, v.value.length > 400 ? v.value.slice(0, 400) + "…" : v.value)));
    } catch (e) {
      status.set("✗ Invalid: " + errorText(e), "error");
    }
  });
  return form;
}
