// Package pop3server implements a POP3 server (RFC 1939) with the
// extension mechanism of RFC 2449 (CAPA, response codes, PIPELINING,
// LOGIN-DELAY), the response codes of RFC 3206, STLS and implicit TLS
// (RFC 2595, RFC 8314; TLS 1.2 at least) and SASL AUTH (RFC 5034) through
// the SASLBackend interface, whose mechanisms have the shape of go-sasl's.
//
// The server owns the protocol state: message numbers, DELE marks, RSET,
// and the UPDATE state that runs only after QUIT. It sees the outside world
// through the small Backend and Mailbox interfaces (backend.go), which deal
// in stable UIDs. A session that ends any other way than QUIT in the
// TRANSACTION state calls Mailbox.Abandon, never Mailbox.Update.
//
// Each connection is served by one goroutine running one loop: set the
// deadline for the state, read one bounded line, parse it, dispatch, write
// the reply through one buffered writer. Replies are flushed when no
// further command is already buffered, so pipelined commands (RFC 2449
// §6.6) are answered in order with one write per batch. Message bodies are
// streamed from Mailbox.Open through a dot-stuffing writer.
//
// Only *pop3.Error values reach the client as they are; any other error is
// logged and answered "-ERR [SYS/TEMP]" with a generic text.
//
// Limits against abuse (limits.go, each an Options field with its
// default): connections in total and per remote address (beyond them
// "-ERR [SYS/TEMP]"); a TLS handshake deadline; a short idle limit before
// login and a bound on the whole AUTHORIZATION state, whatever the client
// sends; one credential check at a time per remote address, after a delay
// that doubles with each failed login from that address; commands
// pipelined behind a failed login discarded; a few failed logins per
// connection; a memory budget for the buffers of messages being sent.
// Passwords and bearer tokens are refused in the clear (USER/PASS, PLAIN,
// LOGIN, OAUTHBEARER, XOAUTH2) off loopback unless
// Options.AllowInsecureAuth is set. Logs of failed logins carry no user
// name: it may be a password typed into the wrong field.
//
// The package imports only the standard library.
package pop3server
