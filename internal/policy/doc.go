// Package policy owns seawall's policy language: it parses the YAML policy
// file into typed Go values and validates them, reporting every problem with
// its file:line:col position and the field it concerns.
//
// The package owns the schema (which keys exist and what their values mean),
// the catalogue of named services (ssh, https, ...), address groups and
// kernel-set definitions, and the reading of set files. It knows nothing
// about netfilter or Docker: turning a Policy into rules is the compiler's
// job.
package policy
