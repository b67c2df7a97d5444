package fhir

import (
	"regexp"
	"strings"
	"sync"

	apb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	rpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// schema is google/fhir/go's R4 model compiled for quickValid's single pass
// over a resource's JSON bytes (quick.go): for each message type the JSON
// names of its fields, which of them are required, what primitive each
// holds and which resource types a reference may point to. It is read from
// the library's own descriptors and annotations — the ones its unmarshaller
// and validator consult — in the way they read them, so a field means here
// what it means to the library. Whatever the schema does not describe
// (primitive extensions, unusual primitives, fields only the proto has)
// is left out, and quickValid then declines, leaving the resource to the
// library.
type schema struct {
	resources map[string]*message // by resource type name
	refTypes  map[string]bool     // resource types a Reference can be typed to (R4)
}

// message is one FHIR complex type or resource as the JSON sees it.
type message struct {
	fields   map[string]*schemaField // by JSON name; choice alternatives by their full name ("valueQuantity")
	required []int                   // member indexes FHIR requires (the library's REQUIRED_BY_FHIR)
}

// maxFields bounds the fields of a message quickValid tracks (a bit each).
const maxFields = 256

// schemaField is one JSON member of a message: a field, or one alternative of
// a choice field.
type schemaField struct {
	index    int // the proto field (choice alternatives share their choice's index)
	repeated bool
	kind     primitive
	msg      *message        // kind pObject: the element type
	codes    map[string]bool // kind pEnum: the accepted codes
	re       *regexp.Regexp  // kinds pOid, pUUID: the library's value regex
	// refTypes are the resource types a Reference in this field may point
	// to (the library's valid_reference_type); empty means any.
	refTypes  []string
	contained bool // DomainResource.contained: resources in an Any
	nonEmpty  bool // a string primitive whose value is required: not ""
}

// primitive says how a member's JSON value is checked.
type primitive uint8

const (
	pObject      primitive = iota // a complex type: a JSON object of fields
	pString                       // String: no control characters, at most 1 MB
	pText                         // Markdown, Xhtml, codes bound to a string: any string
	pCode                         // Code: the library's code regex
	pEnum                         // a code bound to an enumerated value set
	pID                           // Id: [A-Za-z0-9\-\.]{1,64}
	pOid                          // Oid: the library's regex
	pUUID                         // Uuid: the library's regex
	pURI                          // Uri, Url, Canonical: url.Parse accepts it
	pBoolean                      // a JSON true or false
	pInteger                      // a JSON integer in int32
	pPositiveInt                  // 1..2,147,483,647
	pUnsignedInt                  // 0..2,147,483,647
	pDecimal                      // a JSON number without exponent
	pDate                         // YYYY, YYYY-MM, YYYY-MM-DD
	pDateTime                     // a date, or a date and time with seconds and zone
	pInstant                      // a date and time with seconds and zone
	pTime                         // hh:mm:ss(.f)
	pBase64                       // base64 without separators
	pReference                    // Reference.reference: a string, typed as the library types it
)

// corePrimitives maps the R4 core primitive types to their checks.
var corePrimitives = map[protoreflect.FullName]primitive{
	fullName(&dpb.String{}):       pString,
	fullName(&dpb.Markdown{}):     pText,
	fullName(&dpb.Xhtml{}):        pText,
	fullName(&dpb.Code{}):         pCode,
	fullName(&dpb.Id{}):           pID,
	fullName(&dpb.Oid{}):          pOid,
	fullName(&dpb.Uuid{}):         pUUID,
	fullName(&dpb.Uri{}):          pURI,
	fullName(&dpb.Url{}):          pURI,
	fullName(&dpb.Canonical{}):    pURI,
	fullName(&dpb.Boolean{}):      pBoolean,
	fullName(&dpb.Integer{}):      pInteger,
	fullName(&dpb.PositiveInt{}):  pPositiveInt,
	fullName(&dpb.UnsignedInt{}):  pUnsignedInt,
	fullName(&dpb.Decimal{}):      pDecimal,
	fullName(&dpb.Date{}):         pDate,
	fullName(&dpb.DateTime{}):     pDateTime,
	fullName(&dpb.Instant{}):      pInstant,
	fullName(&dpb.Time{}):         pTime,
	fullName(&dpb.Base64Binary{}): pBase64,
}

// primitiveNames are the type names the library's unmarshaller dispatches
// on by short name: a value-set code type that happened to share one would
// be parsed as that type, so such a type is left to the library.
var primitiveNames = map[protoreflect.Name]bool{
	"Base64Binary": true, "Boolean": true, "Code": true, "Date": true, "DateTime": true,
	"Decimal": true, "Id": true, "Instant": true, "Integer": true, "Oid": true,
	"PositiveInt": true, "String": true, "Time": true, "UnsignedInt": true, "Url": true,
	"Uri": true, "Canonical": true, "Markdown": true, "Xhtml": true, "Uuid": true,
	"ReferenceId": true,
}

func fullName(m proto.Message) protoreflect.FullName {
	return m.ProtoReflect().Descriptor().FullName()
}

var (
	schemaOnce sync.Once
	theSchema  *schema
)

// r4Schema returns the compiled schema, building it on first use (~tens
// of milliseconds).
func r4Schema() *schema {
	schemaOnce.Do(func() { theSchema = buildSchema() })
	return theSchema
}

// schemaBuilder memoizes messages by descriptor (types are recursive).
type schemaBuilder struct {
	msgs        map[protoreflect.FullName]*message
	unsupported map[protoreflect.FullName]bool
	regexes     map[protoreflect.FullName]*regexp.Regexp
}

func buildSchema() *schema {
	b := &schemaBuilder{
		msgs:        map[protoreflect.FullName]*message{},
		unsupported: map[protoreflect.FullName]bool{},
		regexes:     map[protoreflect.FullName]*regexp.Regexp{},
	}
	for _, m := range []proto.Message{&dpb.Oid{}, &dpb.Uuid{}} {
		d := m.ProtoReflect().Descriptor()
		if re := valueRegex(d); re != nil {
			b.regexes[d.FullName()] = re
		}
	}
	s := &schema{resources: map[string]*message{}, refTypes: map[string]bool{}}
	oneofs := (&rpb.ContainedResource{}).ProtoReflect().Descriptor().Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		fields := oneofs.Get(i).Fields()
		for j := 0; j < fields.Len(); j++ {
			if md := fields.Get(j).Message(); md != nil {
				if m := b.message(md); m != nil {
					s.resources[string(md.Name())] = m
				}
			}
		}
	}
	// A reference "Type/id" is typed when the R4 Reference has a field for
	// the type, as the library's normalization decides.
	refOneof := (&dpb.Reference{}).ProtoReflect().Descriptor().Oneofs().ByName("reference")
	for i := 0; i < refOneof.Fields().Len(); i++ {
		f := refOneof.Fields().Get(i)
		if t, ok := proto.GetExtension(f.Options(), apb.E_ReferencedFhirType).(string); ok && t != "" {
			s.refTypes[t] = true
		}
	}
	return s
}

// valueRegex is a primitive's value_regex annotation, anchored as the
// library anchors it.
func valueRegex(d protoreflect.MessageDescriptor) *regexp.Regexp {
	expr, ok := proto.GetExtension(d.Options(), apb.E_ValueRegex).(string)
	if !ok || expr == "" {
		return nil
	}
	return regexp.MustCompile("^" + expr + "$")
}

// message compiles one message type; nil if quickValid cannot check it.
func (b *schemaBuilder) message(md protoreflect.MessageDescriptor) *message {
	if m, ok := b.msgs[md.FullName()]; ok {
		return m
	}
	if b.unsupported[md.FullName()] || md.Fields().Len() > maxFields {
		return nil
	}
	m := &message{fields: map[string]*schemaField{}}
	b.msgs[md.FullName()] = m // before the fields: types nest themselves
	isRef := md.FullName() == fullName(&dpb.Reference{})
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement) == apb.Requirement_REQUIRED_BY_FHIR {
			m.required = append(m.required, i)
		}
		if f.Kind() != protoreflect.MessageKind {
			continue // never set from JSON by name alone: left to the library
		}
		if isRef && f.ContainingOneof() != nil {
			// Of the reference oneof only the raw string is JSON
			// ("reference"); the typed fields are the library's.
			if f.Name() == "uri" {
				m.fields[f.JSONName()] = &schemaField{index: i, kind: pReference}
			}
			continue
		}
		if isChoice(f.Message()) {
			alts := f.Message().Fields()
			for j := 0; j < alts.Len(); j++ {
				a := alts.Get(j)
				if a.Kind() != protoreflect.MessageKind || isChoice(a.Message()) {
					continue
				}
				if fd := b.field(a, i, false); fd != nil {
					m.fields[f.JSONName()+upperFirst(a.JSONName())] = fd
				}
			}
			continue
		}
		if fd := b.field(f, i, f.IsList()); fd != nil {
			m.fields[f.JSONName()] = fd
		}
	}
	return m
}

// field compiles one field f stored at index; nil if quickValid leaves it
// to the library.
func (b *schemaBuilder) field(f protoreflect.FieldDescriptor, index int, repeated bool) *schemaField {
	md := f.Message()
	fd := &schemaField{index: index, repeated: repeated}
	switch {
	case md.FullName() == "google.protobuf.Any":
		if f.JSONName() != "contained" || !repeated {
			return nil
		}
		fd.contained = true
		return fd
	case md.FullName() == fullName(&rpb.ContainedResource{}):
		return nil
	case isPrimitive(md):
		return b.primitive(md, fd)
	}
	if proto.HasExtension(md.Options(), apb.E_FhirReferenceType) && md.FullName() != fullName(&dpb.Reference{}) {
		return nil
	}
	if fd.msg = b.message(md); fd.msg == nil {
		return nil
	}
	if refs, ok := proto.GetExtension(f.Options(), apb.E_ValidReferenceType).([]string); ok {
		fd.refTypes = refs
	}
	return fd
}

// primitive sets fd's check for the primitive type md.
func (b *schemaBuilder) primitive(md protoreflect.MessageDescriptor, fd *schemaField) *schemaField {
	// The library's validator checks a primitive's own required fields
	// too: a required value (Xhtml's) must not be the zero value.
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if proto.GetExtension(f.Options(), apb.E_ValidationRequirement).(apb.Requirement) != apb.Requirement_REQUIRED_BY_FHIR {
			continue
		}
		if f.Name() != "value" || f.Kind() != protoreflect.StringKind {
			return nil
		}
		fd.nonEmpty = true
	}
	if k, ok := corePrimitives[md.FullName()]; ok {
		fd.kind = k
		if k == pOid || k == pUUID {
			if fd.re = b.regexes[md.FullName()]; fd.re == nil {
				return nil
			}
		}
		return fd
	}
	if primitiveNames[md.Name()] || !proto.HasExtension(md.Options(), apb.E_FhirValuesetUrl) {
		return nil
	}
	value := md.Fields().ByName("value")
	switch {
	case value == nil:
		return nil
	case value.Kind() == protoreflect.StringKind:
		fd.kind = pText
	case value.Kind() == protoreflect.EnumKind:
		fd.kind, fd.codes = pEnum, enumCodes(value.Enum())
	default:
		return nil
	}
	return fd
}

// enumCodes lists the codes the library accepts for an enumerated value
// set that quickValid accepts too: each value's name in lower case with
// "-" for "_" (when the library's upper-casing maps it back to the name),
// and its original code where the enum name had to differ from it.
func enumCodes(ed protoreflect.EnumDescriptor) map[string]bool {
	codes := map[string]bool{}
	values := ed.Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		if v.Number() == 0 {
			continue
		}
		name := string(v.Name())
		c := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
		if strings.ReplaceAll(strings.ToUpper(c), "-", "_") == name {
			codes[c] = true
		}
		if orig, ok := proto.GetExtension(v.Options(), apb.E_FhirOriginalCode).(string); ok && orig != "" {
			codes[orig] = true
		}
	}
	return codes
}

func isPrimitive(md protoreflect.MessageDescriptor) bool {
	k, _ := proto.GetExtension(md.Options(), apb.E_StructureDefinitionKind).(apb.StructureDefinitionKindValue)
	return k == apb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE
}

func isChoice(md protoreflect.MessageDescriptor) bool {
	return md != nil && proto.HasExtension(md.Options(), apb.E_IsChoiceType)
}

// upperFirst upper-cases an ASCII first letter, as the library's field map
// names a choice alternative ("value" + "Quantity").
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
