// Package policy owns seawall's policy language: it parses the YAML policy
// file into typed Go values and validates them, reporting every problem with
// its file:line:col position and the field it concerns.
//
// The package owns the schema (which keys exist and what their values mean),
// the catalogue of named services (ssh, https, ...), address groups and
// kernel-set definitions, the reading of set files, the containers section
// (which containers an entry selects, by name, compose service, label or
// image) and the grammar of the seawall.* container labels (ParseLabels).
// It knows nothing about netfilter or Docker's API: turning a Policy into
// rules, and finding containers, is the compiler's and the daemon's job.
package policy
