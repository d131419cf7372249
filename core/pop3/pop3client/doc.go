// Package pop3client is a POP3 client: one method per command, in the shape
// of net/smtp and emersion/go-smtp's client.
//
//	c, err := pop3client.DialTLS("pop.example.com:995", nil)
//	if err != nil { ... }
//	defer c.Close()
//	if err := c.Login(user, pass); err != nil { ... }
//	msgs, err := c.List()
//	r, err := c.Retr(1) // streamed, dot-unstuffed
//	io.Copy(dst, r)
//	r.Close()
//	err = c.Quit()
//
// A negative reply ("-ERR [CODE] text") is returned as a *pop3.Error, so
// errors.Is(err, &pop3.Error{Code: pop3.CodeInUse}) works. Everything else
// (I/O failure, timeout, a reply that is not POP3) is fatal: the client
// closes the connection and every later call returns the same error.
//
// The client is lenient in what it accepts from servers: bare LF line ends
// (message data comes out with CRLF),
// lower-case status indicators, extra words after LIST/UIDL fields. It is
// strict about what matters for data safety: a multi-line reply that ends
// without its terminating "." line is an error (not io.EOF), and every line
// has a bounded length (MaxReplyLine for status and listing lines,
// Options.MaxDataLine for message data).
//
// A Client is not safe for concurrent use, except that Close may be called
// from another goroutine to abort a call in progress.
//
// Authentication: Login (USER/PASS), APOP, and Auth (SASL AUTH, RFC 5034)
// with any SASLClient: the mechanisms of core/auth/sasl (PLAIN, LOGIN,
// CRAM-MD5, SCRAM-SHA-256, OAUTHBEARER, XOAUTH2) or go-sasl's.
//
//	err := c.Auth(sasl.NewOAuthBearerClient(user, token, host, port))
//
// Standards: RFC 1939 (POP3), RFC 2449 (CAPA, response codes), RFC 2595
// (STLS), RFC 3206 (SYS and AUTH response codes), RFC 5034 (SASL AUTH).
package pop3client
