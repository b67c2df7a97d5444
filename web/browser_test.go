package web_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser drives the real UI in headless Chromium against a real demo
// node (the carechain binary, built with the freshly built bundle, seeding
// its demo world on 127.0.0.1): a patient signs in with a keystore file and
// grants a clinician access; the clinician signs in and reads what the
// consent allows; the patient sees the new access event and verifies its
// proof in the browser; the proof checker refuses a tampered bundle; the
// dashboard draws its charts with data; pages fit a phone's width. Any
// console error fails it. Screenshots go to web/artifacts (or
// $CARECHAIN_UI_ARTIFACTS).
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the UI and the binary, seeds a demo world and runs Chromium")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (Debian: apt-get install -y chromium; or set CHROMIUM): %v", chromium, err)
	}
	artifacts := os.Getenv("CARECHAIN_UI_ARTIFACTS")
	if artifacts == "" {
		artifacts, _ = filepath.Abs("artifacts")
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", artifacts)

	buildUI(t)
	bin := buildBinary(t)
	home := t.TempDir()
	base := startDemo(t, bin, home, artifacts)

	patientKey := filepath.Join(home, "keys", "patient-001.json")
	clinicianKeyFile := filepath.Join(home, "keys", "northside-physician.json")
	patientDID := keyDID(t, patientKey)
	clinicianDID := keyDID(t, clinicianKeyFile)
	clinicianKey, err := os.ReadFile(clinicianKeyFile)
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelA()
	ctx, cancelC := chromedp.NewContext(actx)
	defer cancelC()
	ctx, cancelT := context.WithTimeout(ctx, 12*time.Minute)
	defer cancelT()

	// Start the browser, then collect every console error, uncaught
	// exception and browser-log error (a failed request) of the page.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	var mu sync.Mutex
	var consoleErrors []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				consoleErrors = append(consoleErrors, m.String()+" "+m.URL)
				mu.Unlock()
			}
		}
	}()
	checkConsole := func(step string) {
		mu.Lock()
		defer mu.Unlock()
		if len(consoleErrors) > 0 {
			t.Fatalf("console errors by %s:\n%s", step, strings.Join(consoleErrors, "\n"))
		}
	}
	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		// Each step has its own deadline, so a wait that never comes true
		// fails that step (with a screenshot) rather than the whole test.
		sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			shot(ctx, t, artifacts, "failed-"+slug(step))
			t.Fatalf("%s: %v", step, err)
		}
		checkConsole(step)
	}
	// waitJS polls a JavaScript expression until it is truthy.
	waitJS := func(expr string) chromedp.Action[chromedp.Void] {
		return chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(90*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))
	}

	// 1. The patient signs in with the keystore file and its passphrase.
	run("open the patient portal",
		chromedp.Navigate(base+"/#/patient"),
		chromedp.WaitVisible(chromedp.CSS(`form.signin input[type=file]`)),
	)
	run("patient signs in",
		chromedp.SetUploadFiles(chromedp.CSS(`form.signin input[type=file]`), []string{patientKey}),
		chromedp.SendKeys(chromedp.CSS(`form.signin input[type=password]`), "demo"),
		chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=whoami]`)),
		waitJS(`document.querySelector('#access-log table.access tbody tr') !== null && document.querySelectorAll('details.rtype').length > 0`),
	)
	var who string
	who = textOf(ctx, t, `[data-testid=whoami]`)
	if who != patientDID {
		t.Fatalf("signed in as %q, want %s", who, patientDID)
	}
	shot(ctx, t, artifacts, "1-patient-portal")

	// 2. The patient grants the Northside physician access to immunizations
	// and observations for treatment (mental health excluded).
	run("grant consent",
		chromedp.WaitVisible(chromedp.CSS(`#grant-form`)),
		chromedp.SetValue(chromedp.CSS(`#grant-who`), clinicianDID),
		chromedp.Click(chromedp.CSS(`#grant-form input[name=rtype][value=Observation]`)),
		chromedp.SetValue(chromedp.CSS(`#grant-purpose`), "TREAT"),
		chromedp.Click(chromedp.CSS(`#grant-form button[type=submit]`)),
		waitJS(`[...document.querySelectorAll('#consents .status')].some(e => e.textContent.includes('Consent granted in block'))`),
	)
	var consentText string
	consentText = textOf(ctx, t, `#consents ul.consents`)
	if !strings.Contains(consentText, "Northside") || !strings.Contains(consentText, "Immunization") || !strings.Contains(consentText, "Mental health") {
		t.Fatalf("the consent list does not show the new grant:\n%s", consentText)
	}
	shot(ctx, t, artifacts, "2-patient-consent-granted")

	// 3. The clinician signs in (pasting the key file) and reads.
	run("clinician signs in",
		chromedp.Navigate(base+"/#/clinician"),
		chromedp.WaitVisible(chromedp.CSS(`form.signin textarea`)),
		chromedp.SetValue(chromedp.CSS(`form.signin textarea`), string(clinicianKey)),
		chromedp.SendKeys(chromedp.CSS(`form.signin input[type=password]`), "demo"),
		chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#find-patient`)),
	)
	run("clinician reads the patient's records",
		chromedp.SendKeys(chromedp.CSS(`#find-patient`), patientDID),
		chromedp.SetValue(chromedp.CSS(`#read-purpose`), "TREAT"),
		chromedp.Click(chromedp.CSS(`#find-h ~ button[type=submit]`)),
		waitJS(`document.querySelectorAll('#read-results section').length > 0`),
	)
	shared := evalJS[[]string](ctx, t, `[...document.querySelectorAll('#read-results section:not(.not-shared)')].map(s => s.dataset.type)`)
	notShared := evalJS[[]string](ctx, t, `[...document.querySelectorAll('#read-results section.not-shared')].map(s => s.dataset.type)`)
	if !contains(shared, "Immunization") || !contains(shared, "Observation") {
		t.Fatalf("the consent allows Immunization and Observation; the clinician sees %v (not shared: %v)", shared, notShared)
	}
	if !contains(notShared, "Condition") || contains(shared, "Condition") || contains(shared, "Encounter") {
		t.Fatalf("Condition and Encounter are not in the consent; shared %v, not shared %v", shared, notShared)
	}
	shot(ctx, t, artifacts, "3-clinician-reads")

	// 3b. St Mary's physician (the patient's custodian) prescribes and
	// records an immunization from the hospital's usable stock.
	physicianKey, err := os.ReadFile(filepath.Join(home, "keys", "st-mary-physician.json"))
	if err != nil {
		t.Fatal(err)
	}
	signInAs := func(who string, key []byte, ready string) {
		t.Helper()
		run(who+" signs in",
			chromedp.WaitVisible(chromedp.CSS(`form.signin textarea`)),
			chromedp.SetValue(chromedp.CSS(`form.signin textarea`), string(key)),
			chromedp.SendKeys(chromedp.CSS(`form.signin input[type=password]`), "demo"),
			chromedp.Click(chromedp.CSS(`form.signin button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(ready)),
		)
	}
	// 3a. The clinician finds the patient by medical record number (the
	// consent covers the Patient resource): a logged search signed for no
	// patient that names the patient's DID.
	run("clinician finds the patient by MRN",
		chromedp.SetValue(chromedp.CSS(`#find-patient`), demoMRN),
		chromedp.Click(chromedp.CSS(`#find-h ~ button[type=submit]`)),
		waitJS(`/Found by identifier|Could not|No patient/.test((document.querySelector('form[aria-labelledby=find-h] .status') || {}).textContent) && document.querySelectorAll('#read-results section').length > 0`),
	)
	if st := textOf(ctx, t, `form[aria-labelledby=find-h] .status`); !strings.Contains(st, "Found by identifier "+demoMRN) {
		t.Fatalf("the MRN lookup status: %q", st)
	}
	if found := evalJS[string](ctx, t, `document.querySelector('#find-patient').value`); found != patientDID {
		t.Fatalf("the MRN lookup found %q, want %s", found, patientDID)
	}
	shot(ctx, t, artifacts, "3a-clinician-finds-by-mrn")
	run("clinician signs out", chromedp.Click(chromedp.CSS(`.whoami button.secondary`)))
	signInAs("St Mary's physician", physicianKey, `#prescribe button[type=submit]`)
	run("physician prescribes",
		chromedp.SendKeys(chromedp.CSS(`#find-patient`), patientDID),
		chromedp.SetValue(chromedp.CSS(`#rx-qty`), "20"),
		chromedp.SetValue(chromedp.CSS(`#rx-repeats`), "1"),
		chromedp.Click(chromedp.CSS(`#prescribe button[type=submit]`)),
		waitJS(`/Prescribed|Not prescribed/.test((document.querySelector('#prescribe .status') || {}).textContent)`),
	)
	if st := textOf(ctx, t, `#prescribe .status`); !strings.HasPrefix(st, "Prescribed: MedicationRequest/") {
		t.Fatalf("the prescription was not issued: %s", st)
	}
	// A second prescription, which the physician then cancels.
	run("physician prescribes again",
		chromedp.SetValue(chromedp.CSS(`#rx-med`), "308182"),
		chromedp.Click(chromedp.CSS(`#prescribe button[type=submit]`)),
		waitJS(`/amoxicillin/.test((document.querySelector('#my-rx table') || {}).textContent || '')`),
	)
	second := evalJS[string](ctx, t, `document.querySelector('#prescribe form').dataset.issued`)
	run("physician cancels it",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#my-rx tr:has([data-rx=%q]) button`, second))),
		waitJS(`/Cancelled in block|Could not/.test((document.querySelector('#my-rx .status') || {}).textContent || '')`),
	)
	if st := textOf(ctx, t, `#my-rx .status`); !strings.HasPrefix(st, "Cancelled in block") {
		t.Fatalf("the prescription was not cancelled: %s", st)
	}
	var cancelled struct {
		Status string `json:"status"`
	}
	getJSON(t, base+"/v1/prescriptions/"+second, &cancelled)
	if cancelled.Status != "cancelled" {
		t.Fatalf("%s is %q on the ledger, want cancelled", second, cancelled.Status)
	}
	stockDoses := func() int {
		var k struct {
			Stock []struct {
				Org   string `json:"org"`
				Lot   string `json:"lot"`
				Doses int    `json:"doses"`
			} `json:"stock"`
		}
		getJSON(t, base+"/v1/supply/kpis", &k)
		n := 0
		for _, s := range k.Stock {
			if s.Org == "st-mary-hospital" {
				n += s.Doses
			}
		}
		return n
	}
	dosesBefore := stockDoses()
	run("physician records an immunization from usable stock",
		waitJS(`[...document.querySelectorAll('#imm-lot option')].some(o => o.value !== '')`),
		chromedp.SetValue(chromedp.CSS(`#imm-dose`), "3"),
		chromedp.Click(chromedp.CSS(`#immunize button[type=submit]`)),
		waitJS(`/Recorded|Not recorded/.test((document.querySelector('#immunize .status') || {}).textContent)`),
	)
	if st := textOf(ctx, t, `#immunize .status`); !strings.HasPrefix(st, "Recorded Immunization/") {
		t.Fatalf("the immunization was not recorded: %s", st)
	}
	// The read model follows the chain every second.
	deadline := time.Now().Add(15 * time.Second)
	for stockDoses() != dosesBefore-1 {
		if time.Now().After(deadline) {
			t.Fatalf("St Mary's usable doses went from %d to %d, want one fewer", dosesBefore, stockDoses())
		}
		time.Sleep(500 * time.Millisecond)
	}
	shot(ctx, t, artifacts, "3b-physician-prescribes-and-immunizes")

	// 3c. An emergency clinician without consent breaks the glass with a
	// reason and reads for emergency treatment.
	emergencyKey, err := os.ReadFile(filepath.Join(home, "keys", "riverside-emergency.json"))
	if err != nil {
		t.Fatal(err)
	}
	run("physician signs out", chromedp.Click(chromedp.CSS(`.whoami button.secondary`)))
	signInAs("the emergency clinician", emergencyKey, `#breakglass button[type=submit]`)
	// Without consent, the lookup by MRN answers as for an unknown
	// identifier, and releases nothing.
	run("the emergency clinician looks the patient up by MRN, not shared",
		chromedp.SetValue(chromedp.CSS(`#find-patient`), demoMRN),
		chromedp.Click(chromedp.CSS(`#find-h ~ button[type=submit]`)),
		waitJS(`/No patient you may see|Could not|Found/.test((document.querySelector('form[aria-labelledby=find-h] .status') || {}).textContent)`),
	)
	if st := textOf(ctx, t, `form[aria-labelledby=find-h] .status`); !strings.HasPrefix(st, "No patient you may see has the identifier "+demoMRN) {
		t.Fatalf("a lookup without consent: %q", st)
	}
	if n := evalJS[int](ctx, t, `document.querySelectorAll('#read-results section').length`); n != 0 {
		t.Fatalf("a lookup without consent released %d sections", n)
	}
	run("break the glass",
		chromedp.SetValue(chromedp.CSS(`#find-patient`), patientDID),
		chromedp.SetValue(chromedp.CSS(`#bg-code`), "unconscious"),
		chromedp.SendKeys(chromedp.CSS(`#bg-reason`), "Brought in unconscious after a road accident"),
		chromedp.Click(chromedp.CSS(`#breakglass button[type=submit]`)),
		waitJS(`/Emergency window open|Could not/.test((document.querySelector('#breakglass .status') || {}).textContent)`),
		waitJS(`document.querySelectorAll('#read-results section:not(.not-shared)').length > 0 || /Could not/.test((document.querySelector('#breakglass .status') || {}).textContent)`),
	)
	if st := textOf(ctx, t, `#breakglass .status`); !strings.HasPrefix(st, "Emergency window open") {
		t.Fatalf("break-glass failed: %s", st)
	}
	shot(ctx, t, artifacts, "3c-break-glass")

	// 3d. Riverside's privacy officer reviews the emergency access.
	privacyKey, err := os.ReadFile(filepath.Join(home, "keys", "riverside-privacy.json"))
	if err != nil {
		t.Fatal(err)
	}
	run("emergency clinician signs out", chromedp.Click(chromedp.CSS(`.whoami button.secondary`)))
	signInAs("the privacy officer", privacyKey, `#reviews`)
	run("privacy officer accepts the break-glass",
		waitJS(`document.querySelector('#reviews [data-window] button') !== null`),
		chromedp.Click(chromedp.CSS(`#reviews [data-window] button`)),
		waitJS(`/Reviewed|Could not/.test((document.querySelector('#reviews .status') || {}).textContent || '')`),
	)
	if st := textOf(ctx, t, `#reviews .status`); !strings.HasPrefix(st, "Reviewed (accepted)") {
		t.Fatalf("the review was not recorded: %s", st)
	}
	shot(ctx, t, artifacts, "3d-breakglass-reviewed")

	// 4. The patient sees the clinician's access and verifies its proof.
	row := fmt.Sprintf(`#access-log tr[data-accessor=%q]`, clinicianDID)
	run("patient sees the new access",
		chromedp.Navigate(base+"/#/patient"),
		waitJS(fmt.Sprintf(`document.querySelector(%q) !== null`, row)),
	)
	run("the break-glass access is flagged",
		waitJS(`document.querySelector('#access-log tr.breakglass') !== null`),
	)
	var rowText string
	rowText = textOf(ctx, t, row)
	if !strings.Contains(rowText, "Northside") || !strings.Contains(rowText, "Treatment") || !strings.Contains(rowText, "consent") {
		t.Fatalf("the access row does not say who, where, why and on which basis:\n%s", rowText)
	}
	run("verify the access event's proof",
		chromedp.Click(chromedp.CSS(row+` button`)),
		waitJS(fmt.Sprintf(`(() => { const r = document.querySelector(%q); return r && /Verified|Not verified/.test(r.textContent); })()`, row+` .verify-result`)),
	)
	var verdict string
	verdict = textOf(ctx, t, row+` .verify-result`)
	if !strings.Contains(verdict, "✓ Verified") {
		t.Fatalf("the proof did not verify in the browser: %s", verdict)
	}
	shot(ctx, t, artifacts, "4-patient-access-verified")

	// 4b. The patient gets a SMART Health Card: QR codes drawn in the
	// browser from the signed card, which the node verifies as a verifier
	// would (signature, issuer key on the ledger, revocation).
	run("patient gets a health card",
		chromedp.Click(chromedp.CSS(`#health-card button`)),
		waitJS(`document.querySelector('[data-testid=shc-verified]') !== null || /Could not/.test((document.querySelector('#health-card .status') || {}).textContent)`),
	)
	if v := textOf(ctx, t, `#health-card`); !strings.Contains(v, "✓ Verified") {
		t.Fatalf("the health card was not issued and verified: %s", v)
	}
	if n := evalJS[int](ctx, t, `[...document.querySelectorAll('#shc-card img[data-shc^="shc:/"]')].filter(i => i.complete && i.naturalWidth > 100).length`); n < 1 {
		t.Fatalf("no QR code image is shown for the health card")
	}
	if href := evalJS[string](ctx, t, `document.querySelector('#shc-card a[download]').href`); !strings.HasPrefix(href, "blob:") {
		t.Fatalf("the card download is not the issued file: %q", href)
	}
	shot(ctx, t, artifacts, "4b-patient-health-card")

	// 4c. A delegate, a research choice and an erasure, each a transaction
	// signed in the browser.
	delegateDID := keyDID(t, filepath.Join(home, "keys", "patient-002.json"))
	// The portal reloads its sections after each change: act once it has.
	settled := func() chromedp.Action[chromedp.Void] {
		return waitJS(`document.querySelector('[data-refreshing]') === null`)
	}
	run("patient adds a delegate",
		settled(),
		chromedp.SetValue(chromedp.CSS(`#delegate-did`), delegateDID),
		chromedp.Click(chromedp.CSS(`#delegate-form button[type=submit]`)),
		waitJS(fmt.Sprintf(`document.querySelector('#people li.delegation[data-delegate=%q]') !== null || /Could not/.test((document.querySelector('#people .body > .status') || {}).textContent)`, delegateDID)),
	)
	if st := textOf(ctx, t, `#people .body > .status`); !strings.Contains(st, "Delegate added") {
		t.Fatalf("the delegate was not added: %s", st)
	}
	if g := textOf(ctx, t, `#guardians-now`); !strings.Contains(g, "guardians can recover") {
		t.Fatalf("the patient's guardians are not shown: %q", g)
	}
	before := evalJS[string](ctx, t, `document.querySelector('#research-choices li[data-project]').dataset.participation`)
	run("patient changes a research choice",
		settled(),
		chromedp.Click(chromedp.CSS(`#research-choices li[data-project] button`)),
		waitJS(fmt.Sprintf(`(() => { const li = document.querySelector('#research-choices li[data-project]'); return li && li.dataset.participation !== %q && li.dataset.participation !== undefined; })()`, before)),
	)
	run("the portal has reloaded", waitJS(`document.querySelector('[data-refreshing]') === null && document.querySelector('#erase-record') !== null`))
	after := evalJS[string](ctx, t, `document.querySelector('#research-choices li[data-project]').dataset.participation`)
	if (before == "in") == (after == "in") {
		t.Fatalf("the research choice did not change: %s → %s", before, after)
	}
	erased := evalJS[string](ctx, t, `(() => { const o = [...document.querySelectorAll('#erase-record option')].find(o => o.value.startsWith('Observation/')); o.selected = true; return o.value; })()`)
	run("patient erases a record",
		settled(),
		chromedp.Click(chromedp.CSS(`#erase-sure`)),
		chromedp.Click(chromedp.CSS(`#erase-form button[type=submit]`)),
		waitJS(`/erased in block|Could not/.test((document.querySelector('#erasure .status') || {}).textContent)`),
	)
	eraseStatus := textOf(ctx, t, `#erasure .status`)
	if !strings.Contains(eraseStatus, "erased in block") {
		t.Fatalf("the erasure failed: %s", eraseStatus)
	}
	var anchors []struct {
		ID     string `json:"id"`
		Erased bool   `json:"erased"`
	}
	getJSON(t, base+"/v1/patients/"+patientDID+"/records", &anchors)
	for _, a := range anchors {
		if a.ID == erased && !a.Erased {
			t.Fatalf("%s is not erased on the ledger", erased)
		}
	}
	if n := evalJS[int](ctx, t, `document.querySelectorAll('ol.timeline li.erased').length`); n < 1 {
		t.Fatalf("the timeline shows no erased record")
	}
	shot(ctx, t, artifacts, "4c-patient-delegate-research-erasure")

	// 4d. The patient signs a pharmacy code; Central Pharmacy's pharmacist
	// links with it, finds the prescription and dispenses one fill; the
	// patient sees the dispense.
	run("patient signs a pharmacy code",
		settled(),
		chromedp.SetValue(chromedp.CSS(`#phc-org`), "central-pharmacy"),
		chromedp.Click(chromedp.CSS(`#pharmacy-code button`)),
		waitJS(`document.querySelector('#phc-code').value.length > 40`),
	)
	linkCode := evalJS[string](ctx, t, `document.querySelector('#phc-code').value`)
	pharmacistKey, err := os.ReadFile(filepath.Join(home, "keys", "central-pharmacist.json"))
	if err != nil {
		t.Fatal(err)
	}
	run("open the pharmacy", chromedp.Navigate(base+"/#/pharmacy"))
	signInAs("the pharmacist", pharmacistKey, `#ph-patient`)
	run("pharmacist finds the prescription",
		chromedp.SendKeys(chromedp.CSS(`#ph-patient`), patientDID),
		chromedp.SetValue(chromedp.CSS(`#ph-code`), linkCode),
		chromedp.Click(chromedp.CSS(`#ph-h ~ button[type=submit]`)),
		waitJS(`document.querySelector('#ph-results form.dispense') !== null || document.querySelector('#ph-h ~ .status.error') !== null`),
	)
	if st := textOf(ctx, t, `#ph-h ~ .status`); !strings.Contains(st, "to dispense") {
		t.Fatalf("the pharmacist cannot see the prescription: %s", st)
	}
	run("pharmacist dispenses",
		chromedp.Click(chromedp.CSS(`#ph-results form.dispense button`)),
		waitJS(`/Dispensed/.test((document.querySelector('#ph-h ~ .status') || {}).textContent) || document.querySelector('#ph-results form.dispense .status.error') !== null`),
	)
	if st := textOf(ctx, t, `#ph-h ~ .status`); !strings.Contains(st, "Dispensed 20") {
		t.Fatalf("the dispense was not recorded: %s / %s", st, textOf(ctx, t, `#ph-results`))
	}
	shot(ctx, t, artifacts, "4d-pharmacy-dispensed")
	run("patient sees the dispense",
		chromedp.Navigate(base+"/#/patient"),
		waitJS(`/Central Pharmacy/.test((document.querySelector('#prescriptions table') || {}).textContent || '')`),
	)
	if rx := textOf(ctx, t, `#prescriptions table`); !strings.Contains(rx, "20 TAB of 40 TAB (1 fill)") || !strings.Contains(rx, "active") {
		t.Fatalf("the patient's prescriptions do not show the dispense: %s", rx)
	}
	shot(ctx, t, artifacts, "4e-patient-prescription-dispensed")

	// 5. The explorer's proof checker accepts the bundle and refuses it tampered.
	proofKey := evalJS[string](ctx, t, fmt.Sprintf(`document.querySelector(%q).dataset.event`, row))
	bundle := fetchProof(t, base, patientDID, proofKey)
	run("check the proof in the explorer",
		chromedp.Navigate(base+"/#/explorer"),
		chromedp.WaitVisible(chromedp.CSS(`#proof-json`)),
		chromedp.SetValue(chromedp.CSS(`#proof-json`), bundle),
		chromedp.Click(chromedp.CSS(`#proof-checker > button[type=submit]`)),
		waitJS(`/Valid|Invalid/.test((document.querySelector('#proof-checker .status') || {}).textContent)`),
	)
	var ok string
	ok = textOf(ctx, t, `#proof-checker .status`)
	if !strings.HasPrefix(ok, "✓ Valid") {
		t.Fatalf("the proof checker refused a good bundle: %s", ok)
	}
	shot(ctx, t, artifacts, "5-explorer-proof-valid")
	tampered := tamper(t, bundle)
	run("check a tampered proof",
		chromedp.SetValue(chromedp.CSS(`#proof-json`), tampered),
		chromedp.Click(chromedp.CSS(`#proof-checker > button[type=submit]`)),
		waitJS(`/Invalid/.test((document.querySelector('#proof-checker .status') || {}).textContent)`),
	)
	shot(ctx, t, artifacts, "6-explorer-proof-tampered")

	// 5b. The explorer opens a block from the list, and the block of the
	// patient's erasure by its height, with its transactions.
	run("open the latest block",
		chromedp.Click(chromedp.CSS(`button[data-height]`)),
		waitJS(`/^Block \d+/.test((document.querySelector('#block h2') || {}).textContent || '') && !/Loading/.test(document.querySelector('#block').textContent)`),
	)
	eraseHeight := regexp.MustCompile(`block (\d+)`).FindStringSubmatch(eraseStatus)
	if eraseHeight == nil {
		t.Fatalf("no block height in %q", eraseStatus)
	}
	run("open the erasure's block",
		chromedp.SetValue(chromedp.CSS(`#block-height`), eraseHeight[1]),
		chromedp.Click(chromedp.CSS(`form[aria-label="Open a block by height"] button`)),
		waitJS(fmt.Sprintf(`(document.querySelector('#block h2') || {}).textContent === 'Block %s' && document.querySelector('#block table.txs') !== null`, eraseHeight[1])),
	)
	if txs := textOf(ctx, t, `#block table.txs`); !strings.Contains(txs, "record.erase") {
		t.Fatalf("block %s does not list the erasure: %s", eraseHeight[1], txs)
	}
	shot(ctx, t, artifacts, "6b-explorer-block")

	// 5c. Keyboard: the skip link shows when focused, Enter moves focus to
	// the content and stays on the page; a block opens from the keyboard.
	run("keyboard: skip link",
		chromedp.Navigate(base+"/#/explorer"),
		waitJS(`document.querySelector('button[data-height]') !== null`),
		chromedp.Focus(chromedp.CSS(`a.skip`)),
		waitJS(`document.activeElement.classList.contains('skip') && document.activeElement.getBoundingClientRect().left >= 0`),
		chromedp.KeyEvent("\r"),
		waitJS(`document.activeElement && document.activeElement.id === 'main' && document.querySelector('button[data-height]') !== null`),
		chromedp.Focus(chromedp.CSS(`button[data-height]`)),
		chromedp.KeyEvent("\r"),
		waitJS(`/^Block \d+/.test((document.querySelector('#block h2') || {}).textContent || '') && document.activeElement === document.querySelector('#block h2')`),
	)

	// 6. The dashboard draws coverage and supply charts with data.
	charts := []string{"coverage-region", "coverage-age_band", "coverage-sex", "coverage-quintile", "coverage-trend", "stock", "excursions",
		"disparities-coverage-region", "disparities-completion-quintile", "flows", "research-budget",
		"program-childhood-mmr-incentive", "program-regions-covid-second-dose", "program-disbursements-childhood-mmr-incentive"}
	run("open the dashboard",
		chromedp.Navigate(base+"/#/dashboard"),
		waitJS(fmt.Sprintf(`%s.every(c => { const el = document.querySelector('[data-chart="' + c + '"]'); return el && Number(el.dataset.points) > 0 && el.querySelectorAll('svg path').length > 3; })`, jsList(charts))),
	)
	recallText := textOf(ctx, t, `li.recall`)
	gapText := evalJS[string](ctx, t, `[...document.querySelectorAll('.gap-note')].map(e => e.textContent).join(' ')`)
	if !strings.Contains(recallText, "recalled") {
		t.Fatalf("the dashboard shows no recall: %q", recallText)
	}
	if !strings.Contains(gapText, "Below target") {
		t.Fatalf("the dashboard highlights no coverage gap (the demo campaign is below 90%%): %q", gapText)
	}
	// The disparities report flags a group whose whole interval is below
	// target; the programs show their milestones and payments; the flows
	// name the manufacturer; the research budget is in ε.
	furthest := textOf(ctx, t, `#furthest`)
	if !strings.Contains(furthest, "95% CI") || !strings.Contains(furthest, "below target") {
		t.Fatalf("the disparities report names no group significantly below target: %q", furthest)
	}
	mmr := textOf(ctx, t, `section[data-program="childhood-mmr-incentive"]`)
	if !strings.Contains(mmr, "credits paid") || !strings.Contains(mmr, "first-doses") {
		t.Fatalf("the MMR incentive program shows no milestones or disbursements: %q", mmr)
	}
	flows := textOf(ctx, t, `section[aria-labelledby=flow-h] table`)
	if !strings.Contains(flows, "Acme") {
		t.Fatalf("the flows between sites do not start at the manufacturer: %q", flows)
	}
	research := textOf(ctx, t, `#research table`)
	if !strings.Contains(research, "covid-uptake") && !strings.Contains(research, "COVID-19") {
		t.Fatalf("the research projects table lacks the demo project: %q", research)
	}
	shot(ctx, t, artifacts, "7-dashboard")

	// 7. Phone width: no page scrolls sideways.
	run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	for _, page := range []string{"dashboard", "patient", "clinician", "pharmacy", "explorer"} {
		run("phone "+page,
			chromedp.Navigate(base+"/#/"+page),
			chromedp.Sleep(1500*time.Millisecond),
		)
		overflow := evalJS[bool](ctx, t, `document.documentElement.scrollWidth > window.innerWidth + 1`)
		shot(ctx, t, artifacts, "8-phone-"+page)
		if overflow {
			wide := evalJS[[]string](ctx, t, `[...document.querySelectorAll('main *')].filter(e => (e.getBoundingClientRect().right > window.innerWidth + 1 || getComputedStyle(e).overflowX === 'visible' && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0) && !(e.parentElement && e.parentElement.closest('.scroll'))).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + (e.textContent || '').slice(0, 60))`)
			t.Errorf("the %s page is wider than a phone's screen: %v", page, wide)
		}
	}
	checkConsole("the end")
}

// buildUI builds the UI unless the bundle is newer than its sources (npm ci
// when node_modules is missing, then npm run build), so the test never
// serves a stale bundle.
func buildUI(t *testing.T) {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatalf("the browser tests build the UI with npm, which is not on PATH (install Node.js and npm, or run ./scripts/demo.sh once)")
	}
	if bundleFresh() {
		// Built after every source changed (as .ci/run and demo.sh do):
		// rebuilding would rewrite dist while `go test ./...` may be
		// compiling other packages that embed it.
		return
	}
	if _, err := os.Stat("node_modules"); err != nil {
		runCmd(t, npm, "ci", "--no-audit", "--no-fund")
	}
	runCmd(t, npm, "run", "build")
	if _, err := os.Stat(filepath.Join("dist", "index.html")); err != nil {
		t.Fatalf("npm run build left no dist/index.html: %v", err)
	}
}

// bundleFresh reports whether dist/index.html is newer than every source
// of the UI.
func bundleFresh() bool {
	built, err := os.Stat(filepath.Join("dist", "index.html"))
	if err != nil {
		return false
	}
	fresh := true
	check := func(path string, d os.DirEntry, err error) error {
		if err != nil {
			fresh = false
			return nil
		}
		if info, err := d.Info(); err != nil || !d.IsDir() && info.ModTime().After(built.ModTime()) {
			fresh = false
		}
		return nil
	}
	for _, p := range []string{"src", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"} {
		filepath.WalkDir(p, check)
	}
	return fresh
}

func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// buildBinary builds ./cmd/carechain, embedding the bundle just built.
func buildBinary(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "carechain")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/carechain")
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/carechain: %v\n%s", err, b)
	}
	return out
}

// startDemo runs `carechain demo` in home on a free loopback port and
// waits until it has seeded its world and serves the UI.
func startDemo(t *testing.T, bin, home, artifacts string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// CometBFT's own P2P and RPC ports: free ones, not the fixed defaults
	// another test's demo may hold.
	cmd := exec.Command(bin, "demo", "--home", home, "--http", addr, "--p2p", "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--patients", "150")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(artifacts, "demo-output.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			if !sent && strings.HasPrefix(line, "Web UI:") {
				ready <- line
				sent = true
			}
		}
		if !sent {
			close(ready)
		}
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("carechain demo exited before serving; see %s", logf.Name())
		}
		if !strings.Contains(line, "http://"+addr+"/") {
			t.Fatalf("carechain demo does not serve the built UI: %q", line)
		}
	case <-time.After(8 * time.Minute):
		t.Fatalf("carechain demo did not finish seeding in 8 minutes; see %s", logf.Name())
	}
	base := "http://" + addr
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `<div class="brand">carechain</div>`) {
		t.Fatalf("GET / answers %d:\n%s", resp.StatusCode, b)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("GET / has no content security policy: %q", csp)
	}
	return base
}

// demoMRN is patient-001's medical record number in the demo (seed
// "carechain-demo"; seed/fhir.go writes DEMO-{seed}-{index}).
const demoMRN = "urn:carechain:demo:mrn|DEMO-carechain-demo-001"

func keyDID(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		DID string `json:"did"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.DID == "" {
		t.Fatalf("%s: no did: %v", path, err)
	}
	return f.DID
}

// fetchProof returns the proof bundle of the access event id of patient.
func fetchProof(t *testing.T, base, patient, id string) string {
	t.Helper()
	var evs []struct {
		ID       string `json:"id"`
		ProofKey string `json:"proof_key"`
	}
	getJSON(t, base+"/v1/patients/"+patient+"/access-log", &evs)
	for _, e := range evs {
		if e.ID == id {
			var raw json.RawMessage
			getJSON(t, base+"/v1/proofs?key="+url.QueryEscape(e.ProofKey), &raw)
			return string(raw)
		}
	}
	t.Fatalf("access event %s is not in the log", id)
	return ""
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// tamper changes the proven access event's purpose inside the bundle.
func tamper(t *testing.T, bundle string) string {
	t.Helper()
	var b map[string]any
	if err := json.Unmarshal([]byte(bundle), &b); err != nil {
		t.Fatal(err)
	}
	sp := b["store_proof"].(map[string]any)
	v, err := decodeB64(sp["value"].(string))
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(v), `"purpose":"TREAT"`, `"purpose":"HRESEARCH"`, 1)
	if changed == string(v) {
		t.Fatalf("the proven value has no TREAT purpose: %s", v)
	}
	sp["value"] = encodeB64([]byte(changed))
	out, _ := json.Marshal(b)
	return string(out)
}

func shot(ctx context.Context, t *testing.T, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Logf("screenshot %s: %v", name, err)
	}
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	return strings.Trim(nonWord.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func jsList(xs []string) string {
	b, _ := json.Marshal(xs)
	return string(b)
}

func decodeB64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// textOf returns the text of the first element matching a CSS selector.
func textOf(ctx context.Context, t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}
