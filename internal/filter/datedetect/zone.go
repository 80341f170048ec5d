package datedetect

import "strings"

// zoneOffset converts the text of %z or %Z to minutes east of UTC, as
// fail2ban's zone2offset does: "Z", "UTC", "GMT", an offset "+02", "+0200"
// or "+02:00", an abbreviation "CEST", or both ("CET+01", whose offsets add
// up). Abbreviations stand for fixed offsets (CET is always +01:00, CEST
// +02:00), because that is what they mean in a log line. Like fail2ban, it
// is case-sensitive ("utc" is no zone) and an unknown abbreviation makes the
// date unusable.
func zoneOffset(text string) (int, bool) {
	switch text {
	case "Z", "UTC", "GMT":
		return 0, true
	}
	i := 0
	for i < len(text) && i < 5 && (text[i] >= 'A' && text[i] <= 'Z' || i > 0 && text[i] == 'h') {
		i++ // upper-case letters; the h is for ChST
	}
	abbr, offs := text[:i], text[i:]
	base := 0
	if abbr != "" {
		var ok bool
		if base, ok = zoneAbbrs[abbr]; !ok {
			return 0, false
		}
	}
	if offs == "" {
		return base, true
	}
	if len(offs) < 3 || (offs[0] != '+' && offs[0] != '-') || !isDigits(offs[1:3]) || offs[1] > '1' {
		return 0, false
	}
	mins := int(offs[1]-'0')*600 + int(offs[2]-'0')*60
	switch rest := offs[3:]; {
	case rest == "":
	case len(rest) == 2 && isDigits(rest):
		mins += int(rest[0]-'0')*10 + int(rest[1]-'0')
	case len(rest) == 3 && rest[0] == ':' && isDigits(rest[1:]):
		mins += int(rest[1]-'0')*10 + int(rest[2]-'0')
	default:
		return 0, false
	}
	if offs[0] == '-' {
		mins = -mins
	}
	return base + mins, true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// zoneAbbrs are the zone abbreviations fail2ban knows (TZ_STR in its
// strptime.py), in minutes east of UTC; the single letters are the military
// zones.
var zoneAbbrs = func() map[string]int {
	table := []struct {
		mins  int
		names string
	}{
		{-12 * 60, "Y"},
		{-11 * 60, "X NUT SST"},
		{-10 * 60, "W CKT HAST HST TAHT TKT"},
		{-9 * 60, "V AKST GAMT GIT HADT HNY"},
		{-8 * 60, "U AKDT CIST HAY HNP PST PT"},
		{-7 * 60, "T HAP HNR MST PDT"},
		{-6 * 60, "S CST EAST GALT HAR HNC MDT"},
		{-5 * 60, "R CDT COT EASST ECT EST ET HAC HNE PET"},
		{-4 * 60, "Q AST BOT CLT COST EDT FKT GYT HAE HNA PYT"},
		{-3 * 60, "P ADT ART BRT CLST FKST GFT HAA PMST PYST SRT UYT WGT"},
		{-2 * 60, "O BRST FNT PMDT UYST WGST"},
		{-1 * 60, "N AZOT CVT EGT"},
		{0, "Z EGST GMT UTC WET WT"},
		{1 * 60, "A CET DFT WAT WEDT WEST"},
		{2 * 60, "B CAT CEDT CEST EET SAST WAST"},
		{3 * 60, "C EAT EEDT EEST IDT MSK"},
		{4 * 60, "D AMT AZT GET GST KUYT MSD MUT RET SAMT SCT"},
		{5 * 60, "E AMST AQTT AZST HMT MAWT MVT PKT TFT TJT TMT UZT YEKT"},
		{6 * 60, "F ALMT BIOT BTT IOT KGT NOVT OMST YEKST"},
		{7 * 60, "G CXT DAVT HOVT ICT KRAT NOVST OMSST THA WIB"},
		{8 * 60, "H ACT AWST BDT BNT CAST HKT IRKT KRAST MYT PHT SGT ULAT WITA WST"},
		{9 * 60, "I AWDT IRKST JST KST PWT TLT WDT WIT YAKT"},
		{10 * 60, "K AEST ChST PGT VLAT YAKST YAPT"},
		{11 * 60, "L AEDT LHDT MAGT NCT PONT SBT VLAST VUT"},
		{12 * 60, "M ANAST ANAT FJT GILT MAGST MHT NZST PETST PETT TVT WFT"},
		{13 * 60, "FJST NZDT"},
		{11*60 + 30, "NFT"},
		{10*60 + 30, "ACDT LHST"},
		{9*60 + 30, "ACST"},
		{6*60 + 30, "CCT MMT"},
		{5*60 + 45, "NPT"},
		{5*60 + 30, "SLT"},
		{4*60 + 30, "AFT IRDT"},
		{3*60 + 30, "IRST"},
		{-(2*60 + 30), "HAT NDT"},
		{-(3*60 + 30), "HNT NST NT"},
		{-(4*60 + 30), "HLV VET"},
		{-(9*60 + 30), "MART MIT"},
	}
	m := map[string]int{}
	for _, row := range table {
		for _, name := range strings.Fields(row.names) {
			m[name] = row.mins
		}
	}
	return m
}()
