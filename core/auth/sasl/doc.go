// Package sasl holds the SASL mechanisms (RFC 4422) izypop3 speaks, both
// halves of each: the server side used by the POP3 server's AUTH command
// (RFC 5034) and the client side used by pop3client.Client.Auth.
//
// The types are those of github.com/emersion/go-sasl: a [Server] is a
// sasl.Server (Next(response) (challenge, done, err)) and a [Client] a
// sasl.Client (Start, Next). core/pop3/pop3server and core/pop3/pop3client
// define interfaces of the same shape, so values from this package (and
// go-sasl's own) can be handed to them directly.
//
// Mechanisms, and where each half comes from:
//
//	PLAIN          RFC 4616   server and client: go-sasl
//	LOGIN          draft-murchison-sasl-login
//	                          client: go-sasl; server: this package
//	CRAM-MD5       RFC 2195   server and client: this package
//	SCRAM-SHA-256  RFC 7677, RFC 5802
//	                          server and client: github.com/xdg-go/scram,
//	                          adapted here to the Next shape
//	OAUTHBEARER    RFC 7628   server and client: go-sasl (the server wrapped
//	                          here: go-sasl's indexes an empty response)
//	XOAUTH2        Google's and Microsoft's bearer-token mechanism
//	                          server and client: this package (the server
//	                          refuses a token with -ERR at once, no JSON
//	                          challenge: curl drops the connection on one)
//
// SCRAM-SHA-256-PLUS (channel binding) is not offered.
//
// The server halves never decide who may log in: each takes a callback that
// checks the credentials the mechanism extracted (a password, a token) or
// hands out the secret it verifies against (CRAM-MD5's clear password,
// SCRAM's stored verifier). Errors of the mechanism itself (a malformed
// response, a wrong proof) wrap [ErrAuthFailed]; a callback's error is
// returned as it is. No error text contains a password, a token or a
// response.
package sasl
