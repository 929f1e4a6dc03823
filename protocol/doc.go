// Package protocol is the Kafka wire format as Weir's broker needs it beyond
// what franz-go's kmsg codec provides: request and response headers
// (flexible versions and tagged fields) without allocation, the table of
// flexible versions, and the hot-path Fetch response encoder that emits
// file regions instead of copying record bytes.
//
// Every other message is decoded and encoded with kmsg (generated from
// Kafka's own message definitions). kmsg decoding into a reused message
// with UnsafeReadFrom aliases the input — Produce records stay slices of the
// read buffer — and allocates nothing in steady state.
//
// A frame on the wire is:
//
//	+----------------+----------------------------------------+
//	| size (int32 BE)| request or response (size bytes)       |
//	+----------------+----------------------------------------+
//
// Request header v1 / v2 (v2 when the request version is flexible):
//
//	api_key int16 | api_version int16 | correlation_id int32 |
//	client_id nullable string (int16 length, never compact) |
//	[v2] tagged fields (uvarint count, then tag, size, bytes…)
//
// Response header v0 / v1 (v1 when flexible, except ApiVersions, whose
// response header is always v0 so a client can parse it before knowing
// versions):
//
//	correlation_id int32 | [v1] tagged fields
package protocol
