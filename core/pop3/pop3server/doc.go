// Package pop3server implements a POP3 server (RFC 1939) with the
// extension mechanism of RFC 2449 (CAPA, response codes, PIPELINING) and
// the response codes of RFC 3206.
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
// The package imports only the standard library.
package pop3server
