package epcis

import (
	"fmt"
	"net/url"
	"strings"
)

// vocabulary is one CBV 2.0 standard vocabulary and the three ways a term
// may be spelt: the bare word EPCIS 2.0 JSON uses ("shipping"), the CBV URN
// of EPCIS 1.x XML ("urn:epcglobal:cbv:bizstep:shipping") and the CBV 2.0
// web URI ("https://ref.gs1.org/cbv/BizStep-shipping", also the compact
// "cbv:BizStep-shipping" of the standard JSON-LD context).
type vocabulary struct {
	name  string // "bizStep"
	urn   string // "urn:epcglobal:cbv:bizstep:"
	web   string // "BizStep-"
	words map[string]bool
}

const cbvWeb = "https://ref.gs1.org/cbv/"

func newVocabulary(name, urn, web string, words ...string) *vocabulary {
	v := &vocabulary{name: name, urn: urn, web: web, words: make(map[string]bool, len(words))}
	for _, w := range words {
		v.words[w] = true
	}
	return v
}

// The CBV 2.0 vocabularies that events use, with every standard term (the
// same lists as the official schema's enums).
var (
	bizSteps = newVocabulary("bizStep", "urn:epcglobal:cbv:bizstep:", "BizStep-",
		"accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
		"creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
		"disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting",
		"installing", "killing", "loading", "other", "packing", "picking", "receiving", "removing",
		"repackaging", "repairing", "replacing", "reserving", "retail_selling", "shipping",
		"staging_outbound", "stock_taking", "stocking", "storing", "transporting", "unloading",
		"unpacking", "void_shipping", "sensor_reporting", "sampling")
	dispositions = newVocabulary("disposition", "urn:epcglobal:cbv:disp:", "Disp-",
		"active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded",
		"expired", "in_progress", "in_transit", "inactive", "no_pedigree_match", "non_sellable_other",
		"partially_dispensed", "recalled", "reserved", "retail_sold", "returned", "sellable_accessible",
		"sellable_not_accessible", "stolen", "unknown", "available", "completeness_verified",
		"completeness_inferred", "conformant", "container_open", "mismatch_instance", "mismatch_class",
		"mismatch_quantity", "needs_replacement", "non_conformant", "unavailable")
	bizTransactionTypes = newVocabulary("bizTransaction type", "urn:epcglobal:cbv:btt:", "BTT-",
		"bol", "cert", "desadv", "inv", "pedigree", "po", "poc", "prodorder", "recadv", "rma",
		"testprd", "testres", "upevt")
	sourceDestTypes = newVocabulary("source/destination type", "urn:epcglobal:cbv:sdt:", "SDT-",
		"owning_party", "possessing_party", "location")
)

// NormalizeBizStep returns the bare CBV word of a standard business step in
// any of its spellings ("shipping", "urn:epcglobal:cbv:bizstep:shipping",
// "https://ref.gs1.org/cbv/BizStep-shipping"), a user-defined bizStep URI
// unchanged, and an error for an unknown CBV term or a bare word that is not
// a CBV term (user extensions must be absolute URIs).
func NormalizeBizStep(s string) (string, error) { return bizSteps.normalize(s) }

// NormalizeDisposition is NormalizeBizStep for dispositions
// ("in_transit", "urn:epcglobal:cbv:disp:in_transit",
// "https://ref.gs1.org/cbv/Disp-in_transit").
func NormalizeDisposition(s string) (string, error) { return dispositions.normalize(s) }

func (v *vocabulary) normalize(s string) (string, error) {
	if word, cbvForm := v.term(s); cbvForm {
		if v.words[word] {
			return word, nil
		}
		return "", fmt.Errorf("%s is not a CBV 2.0 %s", quote(s), v.name)
	}
	if !strings.Contains(s, ":") {
		if v.words[s] {
			return s, nil
		}
		return "", fmt.Errorf("%s is not a CBV %s and not a URI", quote(s), v.name)
	}
	// not a CBV spelling: a user extension, which must be an absolute URI
	if u, err := url.Parse(s); err != nil || u.Scheme == "" {
		return "", fmt.Errorf("%s is not a CBV %s and not an absolute URI", quote(s), v.name)
	}
	return s, nil
}

// term returns the word after a CBV URN or web-URI prefix of s, and whether
// s has such a prefix (an unknown word there is an unknown CBV term).
func (v *vocabulary) term(s string) (word string, cbvForm bool) {
	for _, p := range []string{v.urn, cbvWeb + v.web, "http://ref.gs1.org/cbv/" + v.web, "cbv:" + v.web} {
		if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
			return s[len(p):], true
		}
	}
	return "", false
}

// measurementTypes are the GS1 Web Vocabulary measurement types the schema
// lists for sensorReport.type.
var measurementTypes = map[string]bool{}

func init() {
	for _, t := range strings.Fields(`AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration
		Radioactivity Altitude AmountOfSubstance AmountOfSubstancePerUnitVolume Angle
		AngularAcceleration AngularMomentum AngularVelocity Area Capacitance Conductance
		Conductivity Count Density Dimensionless DoseEquivalent DoseEquivalentRate
		DynamicViscosity ElectricCharge ElectricCurrent ElectricCurrentDensity
		ElectricFieldStrength Energy Exposure Force Frequency Illuminance Inductance Irradiance
		KinematicViscosity Length LinearMomentum Luminance LuminousFlux LuminousIntensity
		MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass MassConcentration
		MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy MolarMass
		MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity Resistance
		Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension Temperature
		Time Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux Wavenumber`) {
		measurementTypes[t] = true
	}
}

// gs1Voc are the spellings of the GS1 Web Vocabulary namespace.
var gs1Voc = []string{"gs1:", "https://gs1.org/voc/", "http://gs1.org/voc/", "https://www.gs1.org/voc/", "http://www.gs1.org/voc/"}

// NormalizeMeasurementType returns the bare GS1 measurement type
// ("Temperature") for "Temperature", "gs1:Temperature" or
// "https://gs1.org/voc/Temperature", a user-defined type URI
// ("example:someSensorProperty") unchanged, and an error for an unknown GS1
// term or a bare word that is neither.
func NormalizeMeasurementType(s string) (string, error) {
	for _, p := range gs1Voc {
		if strings.HasPrefix(s, p) {
			if w := s[len(p):]; measurementTypes[w] {
				return w, nil
			}
			return "", fmt.Errorf("%s is not a GS1 measurement type", quote(s))
		}
	}
	if measurementTypes[s] {
		return s, nil
	}
	if u, err := url.Parse(s); err != nil || u.Scheme == "" {
		return "", fmt.Errorf("%s is not a GS1 measurement type and not a URI", quote(s))
	}
	return s, nil
}
