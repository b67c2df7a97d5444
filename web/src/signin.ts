// Sign in with a key: a keystore file (decrypted here with its passphrase),
// an exported key file, or a raw base64url seed. Nothing is sent anywhere.
import { signIn, type Identity } from "./crypto";
import { errorText, field, h, nextID, statusLine } from "./ui";

export function signInForm(who: string, onDone: (id: Identity) => void): HTMLElement {
  const file = h("input", { type: "file", accept: ".json,application/json", id: nextID("keyfile") });
  const paste = h("textarea", { id: nextID("keytext"), rows: 4, spellcheck: "false", autocomplete: "off" });
  const pass = h("input", { type: "password", id: nextID("pass"), autocomplete: "current-password" });
  const did = h("input", { type: "text", id: nextID("did"), autocomplete: "off", spellcheck: "false", placeholder: "did:cc:…" });
  const status = statusLine();
  const button = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", "aria-label": `Sign in as ${who}` },
    h("h2", {}, `Sign in as ${who}`),
    h("p", {}, "Your key stays in this browser: it is decrypted and used for signing here, and never sent to the node."),
    field("Key file", file, "A key from HOME/keys (carechain keys) or an export (carechain keys export)."),
    field("…or paste the key file or raw key", paste),
    field("Passphrase", pass, "Needed for a keystore file (the demo's is \u201cdemo\u201d)."),
    field("DID (only for a raw key)", did),
    button,
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    status.set("Decrypting the key…", "busy");
    try {
      const text = file.files && file.files[0] ? await file.files[0].text() : paste.value;
      if (!text.trim()) throw new Error("choose a key file or paste a key");
      const id = await signIn(text, pass.value, did.value.trim() || undefined);
      pass.value = "";
      paste.value = "";
      status.set("Signed in.", "ok");
      onDone(id);
    } catch (e) {
      status.set("Could not sign in: " + errorText(e), "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
