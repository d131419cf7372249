// Package wire implements the octet-level pieces of POP3 (RFC 1939,
// RFC 2449) shared by the server and the client:
//
//   - LineReader: a bounded line reader; an over-long line is discarded up
//     to its end and reported as ErrLineTooLong, and the connection keeps
//     working.
//   - ParseCommand: the command tokenizer (keyword upper-cased, arguments
//     split on single spaces, RFC 1939 §3).
//   - DotWriter: the one writer for multi-line replies; it converts bare LF
//     and lone CR to CRLF, byte-stuffs lines starting with ".", adds a final
//     CRLF and writes the ".\r\n" terminator only on a clean Close
//     (RFC 1939 §3).
//   - DotReader: the inverse of DotWriter, for the client.
//   - Size: the size of a message as transmitted, the figure LIST and STAT
//     report (DotWriter's count).
//   - TopWriter: cuts a message after its header, the empty line and n body
//     lines (RFC 1939 §7, TOP).
//
// The package imports only the standard library.
package wire
