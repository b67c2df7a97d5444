// The ledger explorer: status and validators, the latest blocks, a
// transaction by hash, and a proof checker that runs in the browser.
import { get, type Status } from "./api";
import { verifyBundle, type ProofBundle } from "./proof";
import { errorText, field, fmtTime, h, shortDID, statusLine, table } from "./ui";

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
  const blockSec = h("section", { class: "card", id: "block", "aria-labelledby": "blk-h", hidden: true });
  blocksSec.after(blockSec);
  const show = (height: number) => showBlock(blockSec, height);
  get<{ blocks: Block[] }>("/v1/blocks?limit=20").then(
    (r) =>
      blocksSec.append(
        table(
          "The 20 latest blocks, newest first; open one to see its transactions",
          ["Height", "Time", "Transactions", "Hash"],
          r.blocks.map((b) => [
            h("button", { type: "button", class: "linklike", "data-height": b.height, "aria-label": `Block ${b.height}: show its transactions`, onclick: (() => show(b.height)) as EventListener }, String(b.height)),
            fmtTime(b.time),
            String(b.num_txs ?? "—"),
            h("code", {}, String(b.hash || "").slice(0, 16) + "…"),
          ]),
          "data",
        ),
        blockJump(show),
      ),
    (e) => blocksSec.append(h("p", { class: "error", role: "alert" }, errorText(e))),
  );
}

function blockJump(show: (height: number) => void): HTMLElement {
  const n = h("input", { type: "number", id: "block-height", min: "1", inputmode: "numeric" });
  const form = h("form", { class: "row", "aria-label": "Open a block by height" }, field("Block height", n), h("button", { type: "submit", class: "secondary" }, "Open"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (Number(n.value) > 0) show(Number(n.value));
  });
  return form;
}

interface BlockDetail extends Block {
  tx_hashes: string[];
}

interface TxDetail {
  hash: string;
  height: number;
  index: number;
  code: number;
  tx: { body: { type: string; sequence: number; payload: unknown }; signer: string };
}

async function showBlock(sec: HTMLElement, height: number) {
  sec.hidden = false;
  sec.replaceChildren(h("h2", { id: "blk-h", tabindex: "-1" }, `Block ${height}`), h("p", { class: "muted" }, "Loading…"));
  (sec.firstChild as HTMLElement).focus();
  try {
    const b = await get<BlockDetail>(`/v1/blocks/${height}`);
    const txs = await Promise.all((b.tx_hashes || []).map((x) => get<TxDetail>(`/v1/txs/${x}`)));
    sec.replaceChildren(
      h("h2", { id: "blk-h", tabindex: "-1" }, `Block ${b.height}`),
      h(
        "dl",
        { class: "kv" },
        h("dt", {}, "Time"),
        h("dd", {}, fmtTime(b.time)),
        h("dt", {}, "Hash"),
        h("dd", {}, h("code", {}, b.hash)),
        h("dt", {}, "AppHash"),
        h("dd", {}, h("code", {}, b.app_hash)),
        h("dt", {}, "Proposer"),
        h("dd", {}, h("code", {}, String(b.proposer || "—"))),
      ),
      txs.length === 0
        ? h("p", { class: "muted" }, "No transactions in this block.")
        : h(
            "div",
            { class: "scroll" },
            table(
              `${txs.length} transaction${txs.length === 1 ? "" : "s"}`,
              ["#", "Type", "Signer", "Result", "Payload"],
              txs.map((t) => [
                t.index,
                h("code", { class: "tx-type" }, t.tx.body.type),
                h("code", { title: t.tx.signer }, shortDID(t.tx.signer)),
                t.code === 0 ? "ok" : `code ${t.code}`,
                h("details", {}, h("summary", {}, h("code", {}, t.hash.slice(0, 12) + "…")), h("pre", { class: "json", tabindex: "0" }, JSON.stringify(t.tx.body.payload, null, 2))),
              ]),
              "data txs",
            ),
          ),
    );
    (sec.firstChild as HTMLElement).focus();
  } catch (e) {
    sec.replaceChildren(h("h2", { id: "blk-h" }, `Block ${height}`), h("p", { class: "error", role: "alert" }, errorText(e)));
  }
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
