package epcis

import "math"

// Unit is one UN/CEFACT Recommendation 20 unit of measure.
type Unit struct {
	Code      string // "CEL"
	Name      string // "degree Celsius"
	Dimension string // the GS1 measurement type it measures ("Temperature"), "Count" for pieces
}

// units is the small table of UN/CEFACT Rec 20 codes this package accepts
// in quantityList.uom and sensorReport.uom: every code the official EPCIS
// 2.0 examples use, plus the common units of a vaccine cold chain. A code
// outside the table is reported as an issue (code "code-invalid"); extend
// the table, never the check, when a partner needs another unit.
var units = map[string]Unit{}

func init() {
	for _, u := range []Unit{
		// temperature
		{"CEL", "degree Celsius", "Temperature"},
		{"FAH", "degree Fahrenheit", "Temperature"},
		{"KEL", "kelvin", "Temperature"},
		// mass
		{"KGM", "kilogram", "Mass"},
		{"GRM", "gram", "Mass"},
		{"MGM", "milligram", "Mass"},
		{"MC", "microgram", "Mass"},
		{"TNE", "tonne", "Mass"},
		{"LBR", "pound", "Mass"},
		// volume
		{"LTR", "litre", "Volume"},
		{"MLT", "millilitre", "Volume"},
		{"MTQ", "cubic metre", "Volume"},
		{"CMQ", "cubic centimetre", "Volume"},
		// length, area, angle
		{"MTR", "metre", "Length"},
		{"CMT", "centimetre", "Length"},
		{"MMT", "millimetre", "Length"},
		{"KMT", "kilometre", "Length"},
		{"MTK", "square metre", "Area"},
		{"DD", "degree [unit of angle]", "Angle"},
		{"C81", "radian", "Angle"},
		// speed, acceleration
		{"KMH", "kilometre per hour", "Speed"},
		{"MTS", "metre per second", "Speed"},
		{"MSK", "metre per second squared", "Acceleration"},
		// humidity, light, concentration, radiation
		{"A93", "gram per cubic metre", "AbsoluteHumidity"},
		{"P1", "percent", "RelativeHumidity"},
		{"LUX", "lux", "Illuminance"},
		{"C35", "mole per cubic decimetre", "AmountOfSubstancePerUnitVolume"},
		{"C36", "mole per cubic metre", "AmountOfSubstancePerUnitVolume"},
		{"P71", "millisievert per hour", "DoseEquivalentRate"},
		// pressure
		{"PAL", "pascal", "Pressure"},
		{"KPA", "kilopascal", "Pressure"},
		{"BAR", "bar [unit of pressure]", "Pressure"},
		{"MBR", "millibar", "Pressure"},
		// time
		{"SEC", "second [unit of time]", "Time"},
		{"MIN", "minute [unit of time]", "Time"},
		{"HUR", "hour", "Time"},
		{"DAY", "day", "Time"},
		// electrical, frequency
		{"VLT", "volt", "Voltage"},
		{"AMP", "ampere", "ElectricCurrent"},
		{"WTT", "watt", "Power"},
		{"HTZ", "hertz", "Frequency"},
		// counts
		{"H87", "piece", "Count"},
		{"EA", "each", "Count"},
		{"C62", "one", "Count"},
	} {
		units[u.Code] = u
	}
}

// LookupUnit returns the table entry for a Rec 20 code.
func LookupUnit(code string) (Unit, bool) {
	u, ok := units[code]
	return u, ok
}

// ToCelsius converts a temperature in CEL, FAH or KEL to degrees Celsius.
// ok is false for any other unit, or a result that is not finite or below
// absolute zero (−273.15 °C).
func ToCelsius(v float64, uom string) (c float64, ok bool) {
	switch uom {
	case "CEL":
		c = v
	case "FAH":
		c = (v - 32) * 5 / 9
	case "KEL":
		c = v - 273.15
	default:
		return 0, false
	}
	if math.IsNaN(c) || math.IsInf(c, 0) || c < -273.15-1e-9 {
		return 0, false
	}
	return c, true
}
