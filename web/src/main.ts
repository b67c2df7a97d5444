import "./style.css";
import { get, type Status } from "./api";
import { clinicianPage } from "./clinician";
import { dashboardPage } from "./dashboard";
import { explorerPage } from "./explorer";
import { patientPage } from "./patient";
import { pharmacyPage } from "./pharmacy";

const pages: Record<string, [string, (root: HTMLElement) => void]> = {
  patient: ["Patient portal", patientPage],
  clinician: ["Clinician", clinicianPage],
  pharmacy: ["Pharmacy", pharmacyPage],
  dashboard: ["Public health", dashboardPage],
  explorer: ["Explorer", explorerPage],
};

function route() {
  // The skip link's own target is not a page.
  if (location.hash === "#main" && document.getElementById("main")!.childElementCount > 0) return;
  const name = location.hash.replace(/^#\/?/, "") || "patient";
  const [title, render] = pages[name] || pages.patient;
  const main = document.getElementById("main")!;
  main.replaceChildren();
  document.title = `${title} · carechain`;
  document.querySelectorAll<HTMLAnchorElement>("nav a").forEach((a) => {
    if (a.getAttribute("href") === "#/" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  render(main);
  main.focus({ preventScroll: true });
}

async function chainLine() {
  const el = document.getElementById("chain")!;
  try {
    const s = await get<Status>("/v1/status");
    el.textContent = `${s.chain_id} · height ${s.latest_height}`;
  } catch {
    el.textContent = "node unreachable";
  }
}

window.addEventListener("hashchange", route);
route();
chainLine();
setInterval(chainLine, 5000);
