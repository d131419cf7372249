// Package pop3 holds the wire types shared by the POP3 server
// (core/pop3/pop3server) and client (core/pop3/pop3client): the typed
// negative reply *Error with its extended response codes, and the names of
// the protocol's capabilities.
//
// Standards:
//   - RFC 1939, Post Office Protocol - Version 3 (the command set, the
//     AUTHORIZATION / TRANSACTION / UPDATE states, byte-stuffing).
//   - RFC 2449, POP3 Extension Mechanism (CAPA, response codes,
//     PIPELINING, the 255-octet command line).
//   - RFC 3206, The SYS and AUTH POP Response Codes.
//   - RFC 2595, Using TLS with IMAP, POP3 and ACAP (STLS).
//   - RFC 5034, The POP3 SASL Authentication Mechanism (AUTH).
//
// The line reader, command tokenizer and dot-stuffing writer/reader live in
// core/pop3/wire. This package and its children import only the standard
// library.
package pop3
